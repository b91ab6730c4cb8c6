"""`senet-proto list` and `senet-proto generate`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..caffe import format_prototxt
from ..caffe.io import HEADER
from ..errors import UsageError
from ..fsutil import atomic_open_many
from ..generator import ARCH_IDS, ARCHITECTURES, GenerateOptions, generate, generate_solver, parse_shape
from ..generator.options import DATA_SOURCES, LR_POLICIES, PHASES, SE_STYLES, SOLVER_MODES, SQUEEZES
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

--phase train writes a train_val net (msra fillers, batch --batch-size, square crops of the input's H)
and, with --solver, a solver that `caffe train --solver SOLVER` runs from the solver's folder: the paths
in both files are written relative to that folder (image lists' lines too are read from there), the
snapshot folder is created beside it, and the learning rate is 0.1 per 256 images of effective batch
(--batch-size x --iter-size), stepped x0.1 every 30 of 100 epochs of --train-size images.
--finetune W.caffemodel renames the classifier (CLASSIFIER_ft, learning rate x10) so that Caffe starts
it afresh, and the solver starts from W with a tenth of the learning rate over 30 epochs; the deploy
net of the fine-tuned weights is the same command with --phase deploy.

\b
Examples:
  senet-proto generate se-resnet-50 -o SE-ResNet-50.prototxt
  senet-proto generate se-resnext-101 --se-style scale --squeeze fc
  senet-proto generate se-resnet-50 --input-shape 8,3,256,256 --num-classes 10
  senet-proto generate senet-154 --phase train -o train_val.prototxt --solver solver.prototxt
  senet-proto generate se-resnet-50 --phase train --data images --train-source train.txt \\
      --val-source val.txt --num-classes 10 --solver-mode cpu -o train_val.prototxt --solver solver.prototxt
  senet-proto generate --template my-se-resnet-26.toml -o net.prototxt
"""

TRAIN_ONLY = ("data", "train_source", "val_source", "batch_size")
SOLVER_ONLY = ("iter_size", "epochs", "train_size", "val_size", "solver_mode", "lr_policy", "seed")
SE_ONLY = ("squeeze", "reduction")


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` that the user set on the command line."""
    src = click.core.ParameterSource
    return [f"--{n.replace('_', '-')}" for n in names
            if ctx.get_parameter_source(n) not in (None, src.DEFAULT, src.DEFAULT_MAP)]


def _check_meaningful(ctx: click.Context, phase: str, se_style: str, solver: str | None) -> None:
    """Options that would do nothing are usage errors (rather than silently ignored)."""
    for names, applies, why in ((TRAIN_ONLY, phase == "train", "need --phase train"),
                                (SOLVER_ONLY, solver is not None, "set the solver: they need --solver"),
                                (SE_ONLY, se_style != "none", "shape SE blocks: --se-style none has none")):
        given = _given(ctx, names)
        if given and not applies:
            raise UsageError(f"{', '.join(given)} {why}")


def _relative_to(path: str, folder: Path) -> str:
    """``path`` (relative to the current directory, or absolute) as seen from ``folder``."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(folder))


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
@click.option("--reduction", type=int, default=16, show_default=True,
              help="SE reduction ratio r (at most the narrowest SE block's channels).")
@click.option("--input-shape", default="1,3,224,224", show_default=True,
              help="Input shape N,C,H,W (train phase: the crop H = W; the batch is --batch-size).")
@click.option("--num-classes", type=int, default=1000, show_default=True, help="Classifier outputs (2 or more).")
@click.option("--phase", type=click.Choice(PHASES), default="deploy", show_default=True,
              help="deploy: Input + Softmax; train: train_val net with data, loss and accuracy layers.")
@click.option("--data", type=click.Choice(DATA_SOURCES), default="lmdb", show_default=True,
              help="Train phase: LMDB Data layers; ImageData layers reading LISTs of 'path label' lines; "
                   "or DummyData (synthetic, label 0).")
@click.option("--train-source", default="train_lmdb", show_default=True, help="Train phase: training LMDB or LIST.")
@click.option("--val-source", default="val_lmdb", show_default=True, help="Train phase: validation LMDB or LIST.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Train phase: images per pass.")
@click.option("--finetune", type=click.Path(dir_okay=False),
              help="Fine-tune from this caffemodel (OFFICIAL.caffemodel): new classifier name, solver weights.")
@click.option("--solver", "solver", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write a matching solver.prototxt here (train phase; '-': standard output).")
@click.option("--iter-size", type=int, default=4, show_default=True,
              help="Solver: passes per update (effective batch = batch size x iter size).")
@click.option("--epochs", type=int, help="Solver: epochs to train  [default: 100; 30 with --finetune]")
@click.option("--train-size", type=int, default=1281167, show_default=True, help="Solver: training images.")
@click.option("--val-size", type=int, default=50000, show_default=True, help="Solver: validation images.")
@click.option("--solver-mode", type=click.Choice(SOLVER_MODES), default="gpu", show_default=True,
              help="Solver: cpu for a CPU-only Caffe (Debian's).")
@click.option("--lr-policy", type=click.Choice(LR_POLICIES), default="step", show_default=True,
              help="Solver: step (x0.1 every 30% of the run), multistep (the same, as stepvalues), poly, fixed.")
@click.option("--seed", type=int, help="Solver: random_seed (reproducible fillers and shuffling).")
@verbosity_options
@guarded
@click.pass_context
def generate_cmd(ctx: click.Context, arch: str | None, output: str | None, force: bool, template: str | None,
                 se_style: str, squeeze: str, reduction: int, input_shape: str, num_classes: int, phase: str,
                 data: str, train_source: str, val_source: str, batch_size: int, finetune: str | None,
                 solver: str | None, iter_size: int, epochs: int | None, train_size: int, val_size: int,
                 solver_mode: str, lr_policy: str, seed: int | None) -> None:
    if (arch is None) == (template is None):
        raise UsageError("give exactly one of ARCH or --template FILE (see senet-proto list)")
    if arch is not None and arch not in ARCHITECTURES:
        raise UsageError(f"unknown architecture '{arch}' (known: {', '.join(ARCH_IDS)})")
    if solver and phase != "train":
        raise UsageError("--solver needs --phase train")
    if solver and (not output or is_stdout(output)):
        raise UsageError("--solver needs -o/--output FILE (the solver refers to the net file)")
    _check_meaningful(ctx, phase, se_style, solver)
    if output and solver and not is_stdout(solver) and os.path.realpath(output) == os.path.realpath(solver):
        raise UsageError(f"-o and --solver are the same file ({output}); give two files")
    if finetune and solver and not os.path.isfile(finetune):
        raise UsageError(f"--finetune {finetune}: no such file")
    # Caffe reads the net, the sources and the snapshots from the folder it runs in: the solver's (or, for a
    # solver on standard output, this one)
    base = (Path(".") if is_stdout(solver) else Path(solver).parent) if solver else None
    if base is not None and data != "dummy":
        train_source, val_source = _relative_to(train_source, base), _relative_to(val_source, base)
    opts = GenerateOptions(se_style=se_style, squeeze=squeeze, reduction=reduction,
                           input_shape=parse_shape(input_shape), num_classes=num_classes, phase=phase,
                           data=data, train_source=train_source, val_source=val_source, batch_size=batch_size,
                           finetune=finetune is not None, iter_size=iter_size, epochs=epochs,
                           train_size=train_size, val_size=val_size, solver_mode=solver_mode,
                           lr_policy=lr_policy, seed=seed)
    check_text_output(output, "prototxt text", force=force)
    check_text_output(solver, "a solver prototxt", force=force, option="--solver")
    net = generate(Path(template) if template else str(arch), opts)
    text = format_prototxt(net, header=HEADER)
    if not solver:
        write_text_output(output, text, force=force)
        return
    assert base is not None and output is not None
    sp = generate_solver(_relative_to(output, base), opts,
                         weights=_relative_to(finetune, base) if finetune else None)
    if is_stdout(solver):
        write_text_output(output, text, force=force)
        write_text_output(solver, format_prototxt(sp), force=force)
    else:
        with atomic_open_many([output, solver], "w", force=force) as (net_file, solver_file):
            net_file.write(text)
            solver_file.write(format_prototxt(sp))
    (base / sp.snapshot_prefix).parent.mkdir(parents=True, exist_ok=True)
