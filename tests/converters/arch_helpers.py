"""Helpers shared by the per-architecture converter tests (PyTorch and ONNX against real Caffe)."""

from __future__ import annotations

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2
from senet_proto.generator import ARCHITECTURES

SCORE_TOL = 1e-4  # max|Δ| / max|ref| on the pre-softmax scores (the bound)
# Folding BatchNorm into the convolutions changes float32 rounding: the deepest nets' scores then differ from
# Caffe by up to ~1.1e-4 of their range (Caffe's own float32 scores are ~6e-5 from a float64 evaluation).
FUSED_TOL = 2e-4
BLOB_TOL = 1e-3  # the same ratio for every blob (float32 rounding grows with depth: see the module doc)

ARCHS = [pytest.param(a, marks=pytest.mark.slow) if a == "senet-154" else a for a in ARCHITECTURES]
# (arch, se_style, squeeze): the SE variants each target is checked on against Caffe
VARIANTS = [("se-resnet-50", "scale", "conv"), ("se-resnet-50", "axpy", "fc"), ("se-resnext-50", "scale", "fc"),
            ("se-bn-inception", "scale", "fc")]


def scores_blob(net: caffe_pb2.NetParameter) -> str:
    return next(str(ly.bottom[0]) for ly in net.layer if ly.type == "Softmax")


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.abs(ref).max())
    return float(np.abs(ours - ref).max()) / (scale if scale > 0 else 1.0)


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 50).astype(np.float32)


def check_all_blobs(caffe: dict[str, np.ndarray], ours: dict[str, np.ndarray], net, record) -> None:
    worst, worst_name = 0.0, ""
    for name, ref in caffe.items():
        assert name in ours, f"blob {name} missing from the module's blobs"
        assert ours[name].shape == ref.shape, f"{name}: {ours[name].shape} != Caffe's {ref.shape}"
        err = rel_err(ours[name], ref)
        assert err <= BLOB_TOL, f"blob {name}: max|Δ|/max|ref| = {err:.3g} > {BLOB_TOL}"
        if err > worst:
            worst, worst_name = err, name
    scores = scores_blob(net)
    score_err = rel_err(ours[scores], caffe[scores])
    abs_err = float(np.abs(ours[scores] - caffe[scores]).max())
    record("worst_blob", f"{worst_name} {worst:.3g}")
    record("scores_rel", f"{score_err:.3g}")
    record("scores_abs", f"{abs_err:.3g}")
    print(f"{net.name}: {len(caffe)} blobs, worst {worst_name} {worst:.3g}; "
          f"scores rel {score_err:.3g} abs {abs_err:.3g}")
    assert score_err <= SCORE_TOL, f"scores: max|Δ|/max|ref| = {score_err:.3g} > {SCORE_TOL}"
