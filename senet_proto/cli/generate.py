"""`senet-proto list` and `senet-proto generate`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..caffe import format_prototxt
from ..caffe.io import HEADER
from ..errors import UsageError
from ..generator import (
    ARCH_IDS,
    ARCHITECTURES,
    DATA_SOURCES,
    PHASES,
    SE_STYLES,
    SQUEEZES,
    GenerateOptions,
    generate,
    generate_solver,
    parse_shape,
)
from .common import check_text_output, guarded, is_stdout, verbosity_options, write_text_output


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity_options
@guarded
def list_cmd(as_json: bool) -> None:
    """List the seven official SENet architectures.

    \b
    Examples:
      senet-proto list
      senet-proto list --json
    """
    rows = [(a, ARCHITECTURES[a].description) for a in ARCH_IDS]
    if as_json:
        click.echo(json.dumps([{"id": a, "description": d} for a, d in rows], indent=2))
        return
    width = max(len(a) for a, _ in rows)
    for a, d in rows:
        click.echo(f"{a:<{width}}  {d}")


GENERATE_HELP = f"""Print or write the Caffe prototxt of architecture ARCH.

ARCH is one of: {", ".join(ARCH_IDS)}; or give --template FILE (a TOML template like those in
senet_proto/templates) instead of ARCH. With default options the net is the official deploy prototxt,
identical in meaning to the released file.

Input sizes other than 224x224 replace the final 7x7 average pool by a global average pool
(identical at 224). --se-style scale uses only stock Caffe layers (no Axpy); with --squeeze fc too, the
net has neither Axpy nor Reshape, so Netscope can infer every shape. SE-BN-Inception has no shortcut:
its gate is always a Scale, so axpy and scale give the same net there.

\b
Examples:
  senet-proto generate se-resnet-50 -o SE-ResNet-50.prototxt
  senet-proto generate se-resnext-101 --se-style scale --squeeze fc
  senet-proto generate se-resnet-50 --input-shape 8,3,256,256 --num-classes 10
  senet-proto generate senet-154 --phase train -o train_val.prototxt --solver solver.prototxt
  senet-proto generate --template my-se-resnet-26.toml -o net.prototxt
"""


@click.command("generate", help=GENERATE_HELP)
@click.argument("arch", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Output .prototxt file (default or '-': standard output).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--template", "template", type=click.Path(), help="Generate from this TOML template instead of ARCH.")
@click.option("--se-style", type=click.Choice(SE_STYLES), default="axpy", show_default=True,
              help="axpy: fused Axpy layer (official); scale: stock Caffe layers; none: no SE blocks.")
@click.option("--squeeze", type=click.Choice(SQUEEZES), default="conv", show_default=True,
              help="conv: 1x1 Convolutions (official); fc: InnerProduct layers.")
@click.option("--reduction", type=int, default=16, show_default=True, help="SE reduction ratio r.")
@click.option("--input-shape", default="1,3,224,224", show_default=True, help="Input shape N,C,H,W.")
@click.option("--num-classes", type=int, default=1000, show_default=True, help="Classifier outputs.")
@click.option("--phase", type=click.Choice(PHASES), default="deploy", show_default=True,
              help="deploy: Input + Softmax; train: train_val net with data, loss and accuracy layers.")
@click.option("--data", type=click.Choice(DATA_SOURCES), default="lmdb", show_default=True,
              help="Train phase data layer: LMDB Data layers, or DummyData (synthetic).")
@click.option("--train-source", default="train_lmdb", show_default=True, help="Train phase: training LMDB.")
@click.option("--val-source", default="val_lmdb", show_default=True, help="Train phase: validation LMDB.")
@click.option("--solver", "solver", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write a matching solver.prototxt here (train phase; '-': standard output).")
@verbosity_options
@guarded
def generate_cmd(arch: str | None, output: str | None, force: bool, template: str | None, se_style: str,
                 squeeze: str, reduction: int, input_shape: str, num_classes: int, phase: str, data: str,
                 train_source: str, val_source: str, solver: str | None) -> None:
    if (arch is None) == (template is None):
        raise UsageError("give exactly one of ARCH or --template FILE (see senet-proto list)")
    if arch is not None and arch not in ARCHITECTURES:
        raise UsageError(f"unknown architecture '{arch}' (known: {', '.join(ARCH_IDS)})")
    if solver and phase != "train":
        raise UsageError("--solver needs --phase train")
    if solver and (not output or is_stdout(output)):
        raise UsageError("--solver needs -o/--output FILE (the solver refers to the net file)")
    opts = GenerateOptions(se_style=se_style, squeeze=squeeze, reduction=reduction,
                           input_shape=parse_shape(input_shape), num_classes=num_classes, phase=phase,
                           data=data, train_source=train_source, val_source=val_source)
    check_text_output(output, "prototxt text", force=force)
    check_text_output(solver, "a solver prototxt", force=force, option="--solver")
    net = generate(Path(template) if template else str(arch), opts)
    write_text_output(output, format_prototxt(net, header=HEADER), force=force)
    if solver:
        write_text_output(solver, format_prototxt(generate_solver(str(output), opts)), force=force)
