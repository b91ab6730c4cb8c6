"""How far float32 Caffe and our float32 conversions are from the exact function: the numbers behind verify's
float32-rounding judgement (``senet_proto.shadow``).

    python bench/verify_rounding.py [--arch senet-154 ...] [--inputs normal,uniform,image] [--modes plain,fuse,opt]

For each architecture (Caffe-made weights from the weights cache), input kind and mode (plain; --fuse-bn;
--optimize, PyTorch only) it runs ``verify`` (real Caffe, PyTorch, ONNX Runtime, the float64 shadow) and prints,
per target, the scores' relative distances (ours32 vs Caffe, Caffe vs float64 = Caffe's rounding, ours32 vs
float64 = ours), the largest per-blob ratios Caffe/ours and ours/Caffe as judged (each over the larger of the
other side's and either side's largest before the blob: what CAFFE_RATIO and OURS_RATIO must exceed) with their
blobs, and the verdict.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's senet_proto, installed or not

from senet_proto.generator import ARCHITECTURES, generate
from senet_proto.reference import cached_weights
from senet_proto.reference.inputs import INPUT_KINDS, sample_input
from senet_proto.shadow import FLOOR
from senet_proto.verify import BlobDiff, Report, verify

MODES = {"plain": {}, "fuse": {"fuse_bn": True}, "opt": {"optimize": True}}


def ratio(a: float, b: float) -> float:
    """a / b with both floored at FLOOR (below it, a blob passes whatever the ratio)."""
    return max(a, FLOOR) / max(b, FLOOR)


def line(report: Report, target: str) -> str:
    rows = [r for r in report.target_rows(target) if r.rounding is not None]
    score = next(r for r in rows if r.blob in report.scores)
    assert score.rounding is not None

    def worst(key) -> BlobDiff:
        return max(rows, key=key)

    def caffe_over_ours(r: BlobDiff) -> float:
        return ratio(r.rounding.caffe_err, max(r.rounding.ours_err, r.rounding.before)) if r.rounding else 0.0

    def ours_over_caffe(r: BlobDiff) -> float:
        return ratio(r.rounding.ours_err, max(r.rounding.caffe_err, r.rounding.before)) if r.rounding else 0.0

    co, oc = worst(caffe_over_ours), worst(ours_over_caffe)
    first = report.first_failure(target)
    return (f"{score.rel:9.2e} {score.rounding.caffe_err:9.2e} {score.rounding.ours_err:9.2e} | "
            f"{caffe_over_ours(co):6.2f} {co.blob:<24} {ours_over_caffe(oc):6.2f} {oc.blob:<24} | "
            f"{'ok' if first is None else 'FAIL at ' + first.blob}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    ap.add_argument("--inputs", default="normal,uniform,image")
    ap.add_argument("--modes", default="plain,fuse,opt")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    kinds = [k for k in args.inputs.split(",") if k in INPUT_KINDS]
    modes = [m for m in args.modes.split(",") if m in MODES]
    print(f"{'arch':<15} {'input':<8} {'mode':<5} {'target':<7} {'ours-caf':>9} {'caffe rd':>9} {'ours rd':>9} | "
          f"{'caf/our':>6} {'at':<24} {'our/caf':>6} {'at':<24} | verdict")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            net = generate(arch)
            weights = cached_weights(net, seed=0)
            for kind in kinds:
                x = Path(tmp) / f"{kind}.npy"
                np.save(x, sample_input(kind, tuple(net.layer[0].input_param.shape[0].dim), seed=args.seed))
                for mode in modes:
                    targets = ("pytorch",) if mode == "opt" else ("pytorch", "onnx")
                    t = time.perf_counter()
                    report = verify(net, weights, targets=targets, input_file=x, **MODES[mode])
                    took = time.perf_counter() - t
                    for target in targets:
                        print(f"{arch:<15} {kind:<8} {mode:<5} {target:<7} {line(report, target)} ({took:.0f} s)",
                              flush=True)


if __name__ == "__main__":
    main()
