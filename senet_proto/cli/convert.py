"""``senet-proto convert PROTOTXT CAFFEMODEL --to pytorch -o OUT``."""

from __future__ import annotations

import logging
import time

import click

from ..converters.conventions import CLASS_ORDERS, INPUT_FORMATS, ConvertOptions
from ..converters.targets import TARGETS
from ..converters.timm import TIMM_MODELS
from ..errors import UsageError
from .common import guarded, is_stdout, net_weights_pair, status, verbosity_options

log = logging.getLogger("senet_proto")

HELP = """Convert a Caffe net and its weights (without Caffe).

\b
PROTOTXT   the deploy prototxt (or an architecture id, e.g. se-resnet-50, or a
           --to pytorch file: its embedded net)
CAFFEMODEL its weights (legacy V1 files are upgraded as Caffe does)

\b
Targets (--to; without it the output's suffix decides: .safetensors pytorch,
.onnx onnx; a suffix that says another kind of file is a usage error):
  pytorch  one .safetensors file (no pickle): weights plus the net, loadable with
           senet_proto.load_pytorch(OUT)
  onnx     one .onnx file (opset 17, dynamic batch 'N'), Caffe blob names;
           with --external-data its weights go to OUT.data beside it
  timm     a .safetensors state dict for timm's legacy SENets
           (timm.create_model(NAME).load_state_dict(sd, strict=True)); NAME is
           inferred from the net's structure or given with --timm-model
  timm-dir a folder (config.json + model.safetensors) that timm loads with
           timm.create_model("local-dir:OUT", pretrained=True): RGB input,
           standard class order with labels, timm's own transforms give
           Caffe's preprocessing (resize 256, center crop 224, minus the mean)

The official weights take BGR 0-255 input minus the mean (104, 117, 123) and
output classes in their own order; --input rgb255 and --class-order imagenet
change the weights accordingly, and the choice is recorded with them.

\b
Examples:
  senet-proto convert SE-ResNet-50.prototxt SE-ResNet-50.caffemodel -o se_resnet50.onnx
  senet-proto convert se-resnet-50 SE-ResNet-50.caffemodel -o se_resnet50.safetensors -q
  senet-proto convert SE-ResNet-50.prototxt SE-ResNet-50.caffemodel --to timm -o seresnet50.safetensors
"""


@click.command("convert", help=HELP)
@click.argument("prototxt")
@click.argument("caffemodel", type=click.Path(dir_okay=False))
@click.option("--to", "target", type=click.Choice(sorted(TARGETS)), default=None,
              help="Output format [default: from -o's name: .safetensors pytorch, .onnx onnx, a folder timm-dir].")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output file (its suffix must fit --to; a folder for --to timm-dir).")
@click.option("--fuse-bn", is_flag=True, help="Fold BatchNorm (and its Scale) into the preceding convolution.")
@click.option("--allow-extra", is_flag=True,
              help="No warning for caffemodel layers without weights that the prototxt lacks (caffemodel layers the "
                   "prototxt lacks are ignored, as Caffe does, with one warning naming them).")
@click.option("--class-order", type=click.Choice(CLASS_ORDERS), default="official", show_default=True,
              help="official: as released; imagenet: classifier rows permuted to the standard synset order.")
@click.option("--input", "input_format", type=click.Choice(INPUT_FORMATS), default="bgr255", show_default=True,
              help="bgr255: as released; rgb255: first convolution's input channels flipped for RGB input.")
@click.option("--timm-model", type=click.Choice(TIMM_MODELS),
              help="--to timm/timm-dir: the timm model (default: inferred from the net's structure).")
@click.option("--external-data", is_flag=True,
              help="--to onnx: write the weights to OUT.data beside OUT (ONNX external data; needed above 2 GiB).")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@verbosity_options
@guarded
def convert_cmd(prototxt: str, caffemodel: str, target: str | None, output: str, fuse_bn: bool, allow_extra: bool,
                class_order: str, input_format: str, timm_model: str | None, external_data: bool, force: bool) -> None:
    from ..converters.targets import check_target_output, convert, target_for_output
    from ..nets import resolve_net

    if is_stdout(output):
        raise UsageError("-o -: convert writes binary files; give a file name")
    target = target_for_output(output, target)
    if timm_model and target not in ("timm", "timm-dir"):
        raise UsageError(f"--timm-model applies to --to timm and timm-dir only (this is --to {target})")
    if external_data and target != "onnx":
        raise UsageError(f"--external-data applies to --to onnx only (this is --to {target})")
    options = ConvertOptions(fuse_bn=fuse_bn, allow_extra=allow_extra, class_order=class_order, input=input_format,
                             timm_model=timm_model, external_data=external_data)
    options.validate()
    check_target_output(target, output, force=force)
    t0 = time.monotonic()
    with net_weights_pair():
        net = resolve_net(prototxt)
        out = convert(net, caffemodel, output, target, options, force=force)
    log.info("converted in %.1f s", time.monotonic() - t0)
    status(f"wrote {out} ({target}; input {options.input}, class order {options.class_order}"
           f"{', BatchNorm folded' if fuse_bn else ''})")
