"""Every architecture of the generator, converted to PyTorch (CPU), against real Caffe.

Weights are Caffe-made and calibrated (``reference.cached_weights``). Every
blob of every net is compared (in-place blobs hold their last value, as in
Caffe) and judged as ``verify`` does: Caffe and the module each within float32
rounding of the module's float64 run (no per-net tolerance).
The same weights serve the 225×225 and 193×193 nets (batch 3), where Caffe's
ceil pooling differs from floor pooling. SENet-154 is marked slow.
"""

from __future__ import annotations

import pytest
import torch
from arch_helpers import (
    ARCHS,
    VARIANTS,
    check_all_blobs,
    check_scores,
    random_input,
    scores_blob,
    shadow_blobs,
)

from senet_proto.converters import load_caffe
from senet_proto.converters.layers.conv import Conv2d
from senet_proto.converters.pytorch import build_module
from senet_proto.generator import ARCHITECTURES, generate
from senet_proto.generator.options import GenerateOptions


def run_both(reference, net, weights, x, **build):
    """Caffe's blobs, the module's blobs, the module's float64 shadow blobs, and the module."""
    caffe = reference.forward(net, weights, x)
    caffenet = load_caffe(net, weights)
    module = build_module(caffenet, **build)
    with torch.no_grad():
        ours = {k: v.numpy() for k, v in module.forward_blobs(torch.from_numpy(x)).items()}
    return caffe, ours, shadow_blobs(caffenet, x), module


@pytest.mark.parametrize("arch", ARCHS)
def test_every_blob_matches_caffe(reference, arch_weights, record_property, arch: str) -> None:
    net, weights = arch_weights(arch)
    x = random_input((1, 3, 224, 224))
    caffe, ours, shadow, module = run_both(reference, net, weights, x)
    check_all_blobs(caffe, ours, shadow, net, record_property)
    # optimize_for_inference (prepacked oneDNN convolutions): the blocked kernels sum in another order, the
    # same function within float32 rounding, every blob
    module.optimize_for_inference()
    with torch.inference_mode():
        optimized = {k: v.numpy() for k, v in module.forward_blobs(torch.from_numpy(x)).items()}
    check_all_blobs(caffe, optimized, shadow, net, record_property, what="optimized ")


@pytest.mark.parametrize("size", [225, 193])
@pytest.mark.parametrize("arch", ARCHS)
def test_ceil_pooling_sizes_batch3(reference, arch_weights, record_property, arch: str, size: int) -> None:
    _, weights = arch_weights(arch)
    net = generate(arch, GenerateOptions(input_shape=(3, 3, size, size)))
    caffe, ours, shadow, _ = run_both(reference, net, weights, random_input((3, 3, size, size), seed=size))
    check_all_blobs(caffe, ours, shadow, net, record_property)


@pytest.mark.parametrize(("arch", "se_style", "squeeze"), VARIANTS)
def test_se_variants(reference, record_property, arch: str, se_style: str, squeeze: str) -> None:
    net = generate(arch, GenerateOptions(se_style=se_style, squeeze=squeeze))
    weights = reference.cached_weights(net, seed=1)
    caffe, ours, shadow, _ = run_both(reference, net, weights, random_input((2, 3, 224, 224), seed=3))
    check_all_blobs(caffe, ours, shadow, net, record_property)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "senet-154"])
def test_fused_batchnorm_matches_caffe_and_unfused(reference, arch_weights, arch: str) -> None:
    net, weights = arch_weights(arch)
    x = random_input((2, 3, 224, 224), seed=7)
    caffe = reference.forward(net, weights, x, blobs=[scores_blob(net)])
    caffenet = load_caffe(net, weights)
    fused = build_module(caffenet, fuse_bn=True)
    plain = build_module(caffenet)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert n_bn == 0, f"{n_bn} BatchNorm modules left after folding"
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules()) == sum(
        ly.type == "BatchNorm" for ly in net.layer)
    with torch.no_grad():
        a = fused.forward_blobs(torch.from_numpy(x))[scores_blob(net)].numpy()
        b = plain.forward_blobs(torch.from_numpy(x))[scores_blob(net)].numpy()
    ref, exact = caffe[scores_blob(net)], shadow_blobs(caffenet, x)[scores_blob(net)]
    check_scores(ref, b, exact, "plain")
    check_scores(ref, a, exact, "fused")
    # the same modules with prepacked oneDNN convolutions (optimize_for_inference), the same judgement
    with torch.inference_mode():
        a_opt = fused.optimize_for_inference().forward_blobs(torch.from_numpy(x))[scores_blob(net)].numpy()
        b_opt = plain.optimize_for_inference().forward_blobs(torch.from_numpy(x))[scores_blob(net)].numpy()
    if torch.backends.mkldnn.is_available():
        assert all(m._packed is not None for m in fused.modules() if isinstance(m, Conv2d)), "packed path unused"
    check_scores(ref, b_opt, exact, "plain, optimized")
    check_scores(ref, a_opt, exact, "fused, optimized")
