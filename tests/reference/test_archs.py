"""Every generated architecture x --se-style x --squeeze loads in real Caffe and gives an N x K output."""

from __future__ import annotations

import numpy as np
import pytest

from senet_proto.generator import ARCHITECTURES, SE_STYLES, SQUEEZES, GenerateOptions, generate
from senet_proto.reference import forward, train


def _cases():
    # All 42 take about 2 minutes on 2 cores (SENet-154 about 6 s each: Caffe's zero fillers, no weights file).
    for arch in ARCHITECTURES:
        for se_style in SE_STYLES:
            for squeeze in SQUEEZES:
                yield pytest.param(arch, se_style, squeeze, id=f"{arch}-{se_style}-{squeeze}")


@pytest.mark.parametrize(("arch", "se_style", "squeeze"), list(_cases()))
def test_every_variant_runs_in_caffe(caffe_root, arch, se_style, squeeze):
    batch, classes = 2, 1000
    net = generate(arch, GenerateOptions(se_style=se_style, squeeze=squeeze, input_shape=(batch, 3, 224, 224)))
    output = net.layer[-1].top[0]
    out = forward(net, blobs=[output])[output]  # Caffe's own fillers: this checks the structure, not numbers
    assert out.shape == (batch, classes)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("se_style", ["axpy", "scale"])
@pytest.mark.parametrize("arch", ["se-resnet-50", "se-resnext-50"])
def test_train_phase_net_trains_in_caffe(caffe_root, arch, se_style):
    """DummyData, SoftmaxWithLoss, SGD: finite losses that change (Axpy's backward runs in the axpy style)."""
    opts = GenerateOptions(phase="train", data="dummy", se_style=se_style, input_shape=(2, 3, 64, 64),
                           num_classes=10)
    net = generate(arch, opts)
    assert any(layer.type == "DummyData" for layer in net.layer)
    if se_style == "axpy":
        assert any(layer.type == "Axpy" for layer in net.layer)
    losses = train(net, iters=4, seed=1)
    assert len(losses) == 4
    assert all(np.isfinite(losses))
    assert len(set(losses)) > 1
    assert all(0.0 < loss < 1e3 for loss in losses)
