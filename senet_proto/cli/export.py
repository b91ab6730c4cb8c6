"""``senet-proto export MODEL -o NET.prototxt --caffemodel NET.caffemodel``."""

from __future__ import annotations

import logging
import os
import time

import click

from ..converters.conventions import CLASS_ORDERS, INPUT_FORMATS
from ..errors import UsageError
from ..generator import SE_STYLES, SQUEEZES, parse_shape
from .common import check_binary_output, check_text_output, guarded, is_stdout, status, verbosity_options

log = logging.getLogger("senet_proto")

HELP = """Export a timm / PyTorch SENet to a Caffe prototxt and caffemodel.

\b
MODEL is one of:
  a timm legacy SENet name (legacy_seresnet50/101/152, legacy_seresnext50_32x4d,
  legacy_seresnext101_32x4d, legacy_senet154) with --weights FILE: safetensors, or a
  PyTorch state dict (read with torch.load(weights_only=True); nothing else is unpickled);
  a timm SE ResNet name (seresnet50, seresnext50_32x4d, seresnext26d_32x4d, ...) with
  --weights FILE: its template is read from timm's model; a timm model Caffe cannot
  express exactly is refused, naming the part;
  a timm folder (config.json + model.safetensors);
  a .safetensors written by `senet-proto convert --to timm` or `--to pytorch`.

The prototxt is the generator's (the release's layer names; --se-style scale uses stock
Caffe layers only, for runtimes without Axpy); BatchNorm is written as BatchNorm (factor 1)
+ Scale; the classifier has as many classes as the weights.

By default the Caffe net computes what the PyTorch model computes on the same tensor; for
weights that record their conventions (senet-proto files) the defaults give back the
release's (BGR 0-255 minus the mean, official class order). --input and --class-order
choose them, as in `convert`; the prototxt's header comment says which.

\b
Examples:
  senet-proto export legacy_seresnext50_32x4d --weights w.safetensors --se-style scale \\
      -o net.prototxt --caffemodel net.caffemodel
  senet-proto export legacy_seresnet50.safetensors -o net.prototxt --caffemodel net.caffemodel
"""


@click.command("export", help=HELP)
@click.argument("model")
@click.option("--weights", type=click.Path(dir_okay=False), help="Weights of the timm model MODEL.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output prototxt.")
@click.option("--caffemodel", required=True, type=click.Path(dir_okay=False), help="Output caffemodel.")
@click.option("--se-style", type=click.Choice([s for s in SE_STYLES if s != "none"]), default="axpy",
              show_default=True, help="axpy: fused Axpy layer (official); scale: stock Caffe layers only.")
@click.option("--squeeze", type=click.Choice(SQUEEZES), default="conv", show_default=True,
              help="conv: 1x1 Convolutions (official); fc: InnerProduct layers.")
@click.option("--input-shape", default="1,3,224,224", show_default=True, help="Input shape N,C,H,W.")
@click.option("--input", "input_format", type=click.Choice(INPUT_FORMATS),
              help="What the Caffe net takes (default: see above).")
@click.option("--class-order", type=click.Choice(CLASS_ORDERS), help="Its class order (default: see above).")
@click.option("--force", is_flag=True, help="Overwrite the output files.")
@verbosity_options
@guarded
def export_cmd(model: str, weights: str | None, output: str, caffemodel: str, se_style: str, squeeze: str,
               input_shape: str, input_format: str | None, class_order: str | None, force: bool) -> None:
    from ..export import ExportOptions, export_caffe, open_source

    if os.path.realpath(output) == os.path.realpath(caffemodel):
        raise UsageError("-o and --caffemodel name the same file")
    options = ExportOptions(se_style=se_style, squeeze=squeeze, input_shape=parse_shape(input_shape),
                            input=input_format, class_order=class_order)
    if is_stdout(output):
        raise UsageError("-o -: export writes the prototxt and the caffemodel together; give a file name")
    check_text_output(output, "prototxt text", force=force)
    check_binary_output(caffemodel, "a caffemodel", (".caffemodel",), force=force, option="--caffemodel")
    t0 = time.monotonic()
    source = open_source(model, weights)
    prototxt, weights_out = export_caffe(source, output, caffemodel, options, force=force)
    log.info("exported in %.1f s", time.monotonic() - t0)
    status(f"wrote {prototxt} and {weights_out} ({source.model}, --se-style {se_style}, --squeeze {squeeze})")
