"""`senet-proto verify`: the converted model against real Caffe, blob by blob."""

from __future__ import annotations

import click

from ..errors import VerificationError
from ..shadow import CAFFE_RATIO, FLOOR, OURS_RATIO
from ..verify import VERIFY_TARGETS, check_tolerance, verify
from .common import guarded, net_weights_pair, verbosity_options

HELP = f"""Convert PROTOTXT + CAFFEMODEL and compare every blob with real Caffe 1.0 on the same input.

PROTOTXT is a net file or an architecture id (see `senet-proto list`: its default deploy net).

The converted PyTorch module also runs in float64 (the exact function; CPU). A blob passes when Caffe and the
target are each within float32 rounding of that run: Caffe's distance from it at most {CAFFE_RATIO:g} times the
target's, the target's at most {OURS_RATIO:g} times Caffe's (or than the largest distance either had at an
earlier blob in Caffe's order), or under {FLOOR:g} of the blob's largest value. First a one-line verdict per
target, then per blob: shape, max |ours - caffe|, that relative to max |caffe|, Caffe's own rounding (float64
run vs Caffe) and ours (float32 vs float64). Exits 0 when every blob passes, 3 naming the first blob (in Caffe's
order) that does not: the layer where the conversion goes wrong. --tolerance / --blob-tolerance judge by fixed
bounds instead.
The input is --input FILE.npy (any batch size) or random normal with std 50 (like a mean-subtracted image).
Caffe runs in the Debian 11 root (created on first use) or a caffe importable by this Python.

\b
Examples:
  senet-proto verify SE-ResNet-50.prototxt SE-ResNet-50.caffemodel
  senet-proto verify se-resnet-50 SE-ResNet-50.caffemodel
  senet-proto verify SENet-154.prototxt SENet-154.caffemodel --allow-extra --to onnx
  senet-proto verify net.prototxt net.caffemodel --to pytorch --device cuda --input batch.npy
  senet-proto verify SE-ResNet-50.prototxt SE-ResNet-50.caffemodel --to pytorch --fuse-bn --optimize
"""


@click.command("verify", help=HELP)
@click.argument("prototxt", metavar="PROTOTXT|ARCH")
@click.argument("caffemodel", type=click.Path(dir_okay=False))
@click.option("--to", "target", type=click.Choice([*VERIFY_TARGETS, "all"]), default="all", show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the PyTorch model runs (TF32 is turned off).")
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Input batch as a .npy file.")
@click.option("--tolerance", type=float, default=None,
              help="Judge by a fixed relative limit on the scores instead of float32 rounding "
                   "[1e-4; 2e-4 with --fuse-bn or --optimize].")
@click.option("--blob-tolerance", type=float, default=None,
              help="Judge by a fixed relative limit on intermediate blobs instead of float32 rounding [1e-3].")
@click.option("--fuse-bn", is_flag=True, help="Verify the BatchNorm-folded model.")
@click.option("--optimize", is_flag=True,
              help="Verify the PyTorch module after optimize_for_inference() (prepacked CPU convolutions).")
@click.option("--allow-extra", is_flag=True,
              help="No warning for caffemodel layers without weights that the prototxt lacks (caffemodel layers the "
                   "prototxt lacks are ignored, as Caffe does, with one warning naming them).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random input.")
@click.option("--all-blobs/--worst-only", default=True, show_default=True, help="Print every blob or a summary.")
@verbosity_options
@guarded
def verify_cmd(prototxt: str, caffemodel: str, target: str, device: str, input_file: str | None,
               tolerance: float | None, blob_tolerance: float | None, fuse_bn: bool, optimize: bool,
               allow_extra: bool, seed: int, all_blobs: bool) -> None:
    from ..nets import resolve_net

    check_tolerance("tolerance", tolerance)  # usage errors before any file is read
    check_tolerance("blob-tolerance", blob_tolerance)
    targets = VERIFY_TARGETS if target == "all" else (target,)
    with net_weights_pair():
        report = verify(resolve_net(prototxt), caffemodel, targets=targets, device=device, input_file=input_file,
                        tolerance=tolerance, blob_tolerance=blob_tolerance, fuse_bn=fuse_bn,
                        allow_extra=allow_extra, seed=seed, optimize=optimize)
    for t in targets:
        click.echo(report.verdict(t))
    click.echo(f"(Caffe: {report.backend})")
    if all_blobs:
        width = max(len(r.blob) for r in report.rows)
        click.echo(f"{'target':<8} {'blob':<{width}} {'shape':<20} {'max abs err':>12} {'rel err':>10} "
                   f"{'caffe rnd':>10} {'ours rnd':>10}  ok")
        for r in report.rows:
            shape = "x".join(map(str, r.shape))
            rnd = (f"{r.rounding.caffe_err:>10.2e} {r.rounding.ours_err:>10.2e}" if r.rounding is not None
                   else f"{'-':>10} {'-':>10}")
            click.echo(f"{r.target:<8} {r.blob:<{width}} {shape:<20} {r.max_abs:>12.3e} {r.rel:>10.2e} {rnd}  "
                       f"{'yes' if r.ok else 'NO'}")
    failed = [(t, f) for t in targets if (f := report.first_failure(t)) is not None]
    if failed:
        where = "; ".join(f"{t} at blob '{f.blob}'" for t, f in failed)
        raise VerificationError(f"the conversion differs from Caffe: {where}"
                                + (" (see the table above)" if all_blobs else ""))
