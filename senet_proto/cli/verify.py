"""`senet-proto verify`: the converted model against real Caffe, blob by blob."""

from __future__ import annotations

import click

from ..errors import VerificationError
from ..verify import VERIFY_TARGETS, verify
from .common import guarded, net_weights_pair, verbosity_options

HELP = """Convert PROTOTXT + CAFFEMODEL and compare every blob with real Caffe 1.0 on the same input.

PROTOTXT is a net file or an architecture id (see `senet-proto list`: its default deploy net).

Prints, per target, each blob's shape, max |ours - caffe| and that relative to max |caffe|. Exits 0 when
the scores (net outputs and pre-softmax blobs) are within --tolerance and every other blob within
--blob-tolerance, 3 otherwise. The input is --input FILE.npy (any batch size) or random normal with
std 50 (like a mean-subtracted image). Caffe runs in the Debian 11 root (created on first use) or a
caffe importable by this Python.

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
              help="Relative limit for the scores [default: 1e-4; 2e-4 with --fuse-bn or --optimize].")
@click.option("--blob-tolerance", type=float, default=1e-3, show_default=True,
              help="Relative limit for intermediate blobs.")
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
               tolerance: float | None, blob_tolerance: float, fuse_bn: bool, optimize: bool, allow_extra: bool,
               seed: int, all_blobs: bool) -> None:
    from ..nets import resolve_net

    targets = VERIFY_TARGETS if target == "all" else (target,)
    with net_weights_pair():
        report = verify(resolve_net(prototxt), caffemodel, targets=targets, device=device, input_file=input_file,
                        tolerance=tolerance, blob_tolerance=blob_tolerance, fuse_bn=fuse_bn,
                        allow_extra=allow_extra, seed=seed, optimize=optimize)
    width = max(len(r.blob) for r in report.rows)
    if all_blobs:
        click.echo(f"{'target':<8} {'blob':<{width}} {'shape':<20} {'max abs err':>12} {'rel err':>10}  ok")
        for r in report.rows:
            shape = "x".join(map(str, r.shape))
            click.echo(f"{r.target:<8} {r.blob:<{width}} {shape:<20} {r.max_abs:>12.3e} {r.rel:>10.2e}  "
                       f"{'yes' if r.ok else 'NO'}")
    for t in targets:
        w = report.worst(t)
        bad = sum(not r.ok for r in report.rows if r.target == t)
        n = sum(r.target == t for r in report.rows)
        click.echo(f"{t}: {n} blobs compared with Caffe ({report.backend}); worst {w.blob} rel {w.rel:.2e} "
                   f"(limit {w.limit:g}); {'all within tolerance' if not bad else f'{bad} past tolerance'}")
    if not report.ok:
        raise VerificationError("the conversion differs from Caffe past tolerance (see the table above)")
