"""``senet-proto draw``: a Graphviz diagram of a net (SVG, PNG or PDF)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .common import guarded, is_stdout, verbosity_options, write_text_output
from .info import _parse_shape

PNG_BOXES = 150

HELP = """Draw a net with Graphviz: one box per layer, in-place layers (BatchNorm, Scale, ReLU...) merged into
the box of the layer before them as Netscope does, blob shapes on the edges, each SE block in a shaded
cluster inside its stage. The format follows the output's suffix: .svg, .png or .pdf (`-o -`: SVG on
standard output). A legacy V1 net
(`layers` with enum types) is upgraded as Caffe and the converters do.

Needs Graphviz's `dot` (Debian/Ubuntu: apt-get install graphviz).

\b
Examples:
  senet-proto draw se-resnet-50 -o se-resnet-50.svg
  senet-proto draw se-resnet-50 --stage conv5_x -o - | head
  senet-proto draw se-resnet-152 --stage conv3_x -o conv3.png --rankdir LR
  senet-proto draw SE-BN-Inception.prototxt --stage inception_3a --stage inception_3b -o 3ab.pdf
  senet-proto info se-resnet-50    # lists the stage names
"""


@click.command("draw", help=HELP)
@click.argument("net_spec", metavar="ARCH|FILE")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="OUT.svg, OUT.png or OUT.pdf; '-': SVG on standard output.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Top to bottom or left to right.")
@click.option("--stage", "stages", multiple=True, metavar="NAME",
              help="Only this stage (repeatable): conv1, conv2_x ..., inception_3a ..., classifier.")
@click.option("--input-shape", callback=_parse_shape, metavar="N,C,H,W", help="Replace the input's shape.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@verbosity_options
@guarded
def draw_cmd(net_spec: str, output: str, rankdir: str, stages: tuple[str, ...],
             input_shape: tuple[int, ...] | None, force: bool) -> None:
    from ..fsutil import atomic_write_bytes, check_output_path
    from ..nets import resolve_current_net
    from ..view.draw import FORMATS, build_graph, render

    fmt = "svg" if is_stdout(output) else Path(output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise click.BadParameter(f"{output!r}: the suffix must be .svg, .png or .pdf", param_hint="-o/--output")
    if not is_stdout(output):
        check_output_path(output, force=force)
    graph = build_graph(resolve_current_net(net_spec), rankdir=rankdir, stages=stages, input_shape=input_shape)
    boxes = int(getattr(graph, "senet_proto_boxes", 0))
    if fmt == "png" and boxes > PNG_BOXES:
        logging.getLogger("senet_proto.view").warning(
            "%d boxes: Graphviz shrinks a PNG this tall until the text is unreadable; use .svg or .pdf, "
            "or --stage", boxes)
    data = render(graph, fmt)
    if is_stdout(output):
        write_text_output(output, data.decode("utf-8"))
    else:
        atomic_write_bytes(output, data, force=force)
