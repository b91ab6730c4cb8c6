"""``senet-proto info``: shapes, learnable parameters and multiply-adds per stage."""

from __future__ import annotations

import json

import click

from .common import guarded, verbosity_options

HELP = """Shapes, learnable parameters and multiply-adds of a net, per stage, with the SE blocks' share.

ARCH is an architecture id (see `senet-proto list`), FILE a .prototxt (a legacy V1 net, `layers` with
enum types, is upgraded as Caffe and the converters do) or a `convert --to pytorch` file (its embedded
net). Shapes are inferred without Caffe, with Caffe's rules (pooling rounds up; global pooling covers the
whole plane), for the TEST phase. Data layers of train_val nets read batch_size × 3 × crop_size ×
crop_size (the database is not opened); their tops are listed as the net's inputs.

\b
What is counted (multiply-adds, MACs, for one forward pass; the SENet paper calls them GFLOPs):
  Convolution    one per weight per output position (bias adds not counted)
  InnerProduct   one per weight per row of the input
  Pooling        one per input element of each window (a global pooling reads its input once)
  Scale (2 inputs, the SE excitation) and Axpy (a*x + y): one per output element
  not counted    BatchNorm and one-input Scale (they fold into the convolution before them),
                 ReLU, Sigmoid, TanH, Dropout, Softmax, Eltwise, Concat, Reshape, Flatten
Learnable parameters: Convolution and InnerProduct weights and biases, Scale's blobs. BatchNorm's
statistics (mean, variance, factor) are reported apart as not learnable.
SE share: the layers of each SE block (global pooling, the two 1x1 convolutions or InnerProducts
with their activations, and the Scale or Axpy that applies the gate).

\b
Examples:
  senet-proto info se-resnet-50
  senet-proto info SE-BN-Inception.prototxt --input-shape 8,3,256,256
  senet-proto info se-resnext-50 --json | jq .gmacs
"""


def _parse_shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        dims = tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of integers like 1,3,224,224") from None
    if not dims or any(d <= 0 for d in dims):
        raise click.BadParameter(f"{value!r}: every dimension must be a positive integer")
    return dims


@click.command("info", help=HELP)
@click.argument("net_spec", metavar="ARCH|FILE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (totals, stages and every layer) instead of a table.")
@click.option("--input-shape", callback=_parse_shape, metavar="N,C,H,W",
              help="Replace the input's shape (the net must have exactly one input).")
@click.option("--layers", "per_layer", is_flag=True, help="Also list every layer (name, type, output, params, MACs).")
@verbosity_options
@guarded
def info_cmd(net_spec: str, as_json: bool, input_shape: tuple[int, ...] | None, per_layer: bool) -> None:
    from ..analysis import format_table, summarize
    from ..analysis.summary import format_layers
    from ..nets import resolve_current_net

    summary = summarize(resolve_current_net(net_spec), input_shape)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1))
        return
    if per_layer:
        click.echo(format_layers(summary))
    click.echo(format_table(summary), nl=False)
