"""``senet-proto weights``: realistic random weights for a net, made and saved by real Caffe."""

from __future__ import annotations

from pathlib import Path

import click

from .common import check_binary_output, guarded, status, verbosity_options


@click.command("weights")
@click.argument("net", metavar="PROTOTXT|ARCH")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .caffemodel to write (another file suffix, e.g. .prototxt, is refused).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same weights).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@verbosity_options
@guarded
def weights_cmd(net: str, output: Path, seed: int, force: bool) -> None:
    """Make realistic random weights for PROTOTXT (or an architecture id) with real Caffe.

    \b
    He-scaled convolution/fc weights, Scale gammas around 1, and every BatchNorm
    calibrated in network order on a random input, so activations stay normalised
    like in a trained net. Caffe 1.0 saves the file (net.save).

    \b
    Example:
      senet-proto weights se-resnet-50 -o se-resnet-50-random.caffemodel --seed 1
    """
    from ..nets import resolve_net
    from ..reference import make_weights

    check_binary_output(output, "a caffemodel", (".caffemodel",), force=force)
    netparam = resolve_net(net)
    path = make_weights(netparam, output, seed=seed, force=force)
    status(f"wrote {path} ({path.stat().st_size:,} bytes)")
