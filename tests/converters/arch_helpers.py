"""Helpers shared by the per-architecture converter tests (PyTorch and ONNX against real Caffe)."""

from __future__ import annotations

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2
from senet_proto.converters.graph import input_shapes
from senet_proto.generator import ARCHITECTURES
from senet_proto.shadow import Rounding, float64_blobs, rounding

ARCHS = [pytest.param(a, marks=pytest.mark.slow) if a == "senet-154" else a for a in ARCHITECTURES]
# (arch, se_style, squeeze): the SE variants each target is checked on against Caffe
VARIANTS = [("se-resnet-50", "scale", "conv"), ("se-resnet-50", "axpy", "fc"), ("se-resnext-50", "scale", "fc"),
            ("se-bn-inception", "scale", "fc")]


def scores_blob(net: caffe_pb2.NetParameter) -> str:
    return next(str(ly.bottom[0]) for ly in net.layer if ly.type == "Softmax")


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 50).astype(np.float32)


def shadow_blobs(caffenet, x: np.ndarray) -> dict[str, np.ndarray]:
    """The converted module's blobs in float64: the exact function the float32 conversions are judged against."""
    return float64_blobs(caffenet, {caffenet_input(caffenet): x})


def caffenet_input(caffenet) -> str:
    (name,) = input_shapes(caffenet.layers())
    return name


def check_scores(caffe: np.ndarray, ours: np.ndarray, shadow: np.ndarray, what: str,
                 before: float = 0.0) -> Rounding:
    """``ours`` (float32) and Caffe each within float32 rounding of the float64 run (``senet_proto.shadow``;
    ``before``: the previous blob's ``drift``, in Caffe's order)."""
    assert ours.shape == caffe.shape, f"{what}: {ours.shape} != Caffe's {caffe.shape}"
    r = rounding(caffe, ours, shadow, before)
    assert r.ok, f"{what}: {r.why()}"
    return r


def check_all_blobs(caffe: dict[str, np.ndarray], ours: dict[str, np.ndarray], shadow: dict[str, np.ndarray],
                    net, record, what: str = "") -> None:
    """Every blob judged as ``verify`` does: Caffe and ours each within float32 rounding of the float64 run;
    a failure names the first blob (Caffe's order) that is not."""
    judged: dict[str, Rounding] = {}
    before = 0.0
    for name, ref in caffe.items():
        assert name in ours, f"blob {name} missing from the module's blobs"
        judged[name] = check_scores(ref, ours[name], shadow[name], f"{what}blob {name}", before)
        before = judged[name].drift
    worst_name = max(judged, key=lambda n: judged[n].ours_vs_caffe)
    worst = judged[worst_name].ours_vs_caffe
    r = judged[scores_blob(net)]
    record(f"{what}worst_blob", f"{worst_name} {worst:.3g}")
    record(f"{what}scores_rel", f"{r.ours_vs_caffe:.3g}")
    record(f"{what}scores_caffe_rounding", f"{r.caffe_err:.3g}")
    record(f"{what}scores_ours_rounding", f"{r.ours_err:.3g}")
    print(f"{what}{net.name}: {len(caffe)} blobs, worst {worst_name} {worst:.3g}; scores rel {r.ours_vs_caffe:.3g}, "
          f"Caffe's rounding {r.caffe_err:.3g}, ours {r.ours_err:.3g}")
