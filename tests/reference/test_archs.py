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
    """DummyData (every label 0), SoftmaxWithLoss, SGD: finite losses that fall as the net learns the label
    (Axpy's backward runs in the axpy style)."""
    opts = GenerateOptions(phase="train", data="dummy", se_style=se_style, input_shape=(1, 3, 64, 64),
                           batch_size=2, num_classes=10)
    net = generate(arch, opts)
    assert any(layer.type == "DummyData" for layer in net.layer)
    if se_style == "axpy":
        assert any(layer.type == "Axpy" for layer in net.layer)
    losses = train(net, iters=4, seed=1)
    assert len(losses) == 4
    assert all(np.isfinite(losses))
    assert all(0.0 <= loss < 1e3 for loss in losses)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_train_val_net_loads_in_both_phases_with_its_own_fillers(caffe_root, arch):
    """Caffe fills the parameters from the net's fillers alone (no weights file): in each phase the classifier
    scores differ between classes (Caffe's default constant-0 fillers would make them all 0), the loss is finite."""
    net = generate(arch, GenerateOptions(phase="train", data="dummy", input_shape=(1, 3, 64, 64), batch_size=2,
                                         num_classes=10))
    for phase in ("test", "train"):
        out = forward(net, blobs=["classifier", "loss"], phase=phase)
        assert out["classifier"].shape == (2, 10), phase
        assert np.isfinite(out["classifier"]).all() and out["classifier"].std() > 1e-3, phase
        assert np.isfinite(out["loss"]).all() and out["loss"] > 0, phase
