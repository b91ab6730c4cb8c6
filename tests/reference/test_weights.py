"""make_weights(): realistic random weights made by real Caffe (calibrated BatchNorm, f != 1, one f == 0)."""

from __future__ import annotations

import numpy as np
import pytest
from caffe_nets import _layer, conv, input_layer, small_se_net

from senet_proto.caffe import read_caffemodel_proto
from senet_proto.errors import CaffeReferenceError, OutputError
from senet_proto.reference import forward, make_weights

# The sizes of the released caffemodels (REFERENCE.md); the generated default nets must match within 0.05%.
OFFICIAL_BYTES = {
    "se-resnet-50": 112_602_669,
    "se-resnet-101": 197_806_200,
    "se-resnet-152": 268_009_578,
    "se-resnext-50": 110_550_637,
    "se-resnext-101": 196_447_403,
    "se-bn-inception": 47_855_246,
}


def _bn_factors(path):
    model = read_caffemodel_proto(path)
    return {layer.name: list(layer.blobs[2].data) for layer in model.layer if layer.type == "BatchNorm"}


def _two_bn_net():
    """data -> conv1 -> bn1 (own top) -> ReLU -> conv2 -> bn2 (own top): BatchNorm outputs stay visible."""
    from senet_proto.caffe import caffe_pb2

    net = caffe_pb2.NetParameter()
    input_layer(net, "data", [2, 3, 32, 32])
    conv(net, "conv1", "data", "conv1", 6, 3, pad=1, bias=True)
    _layer(net, "bn1", "BatchNorm", ["conv1"], ["bn1"])
    _layer(net, "relu1", "ReLU", ["bn1"], ["bn1"])
    conv(net, "conv2", "bn1", "conv2", 5, 3, pad=1, bias=False)
    _layer(net, "bn2", "BatchNorm", ["conv2"], ["bn2"])
    return net


def test_batchnorm_is_calibrated_in_network_order(caffe_root, tmp_path):
    """On a fresh random input each BatchNorm output is about zero-mean, unit-variance per channel."""
    net = _two_bn_net()
    weights = make_weights(net, tmp_path / "w.caffemodel", seed=2)
    model = {layer.name: layer for layer in read_caffemodel_proto(weights).layer}
    for name in ("bn1", "bn2"):
        f = model[name].blobs[2].data[0]
        assert f != 0.0 and abs(f - 1.0) > 0.05  # nothing to fold f == 0 into here
    out = forward(net, weights, seed=77)
    assert float(out["conv1"].std()) > 10.0  # un-normalised before bn1 (input std 50, He-scaled convolution)
    bn2 = out["bn2"].astype(np.float64)
    np.testing.assert_allclose(bn2.mean(axis=(0, 2, 3)), 0.0, atol=0.15)
    np.testing.assert_allclose(bn2.std(axis=(0, 2, 3)), 1.0, rtol=0.15)
    # bn1 holds the post-ReLU value (in-place ReLU): the positive half of a standard normal.
    bn1 = out["bn1"].astype(np.float64)
    np.testing.assert_allclose(bn1.mean(axis=(0, 2, 3)), 1 / np.sqrt(2 * np.pi), atol=0.1)


def test_calibration_on_a_given_input(caffe_root, tmp_path):
    """calibration_input replaces the random input: on exactly that input every BatchNorm output is normalised
    per channel (up to eps), though it is far from the random input's statistics (positive, offset, small)."""
    net = _two_bn_net()
    x = (np.random.default_rng(5).uniform(0, 3, (3, 3, 32, 32)) + np.arange(3).reshape(1, 3, 1, 1) * 40)
    x = x.astype(np.float32)
    weights = make_weights(net, tmp_path / "w.caffemodel", seed=2, calibration_input=x)
    out = forward(net, weights, {"data": x})
    bn2 = out["bn2"].astype(np.float64)
    np.testing.assert_allclose(bn2.mean(axis=(0, 2, 3)), 0.0, atol=1e-3)
    np.testing.assert_allclose(bn2.std(axis=(0, 2, 3)), 1.0, rtol=1e-2)
    random = make_weights(net, tmp_path / "r.caffemodel", seed=2)  # calibrated on noise: not normalised on x
    assert np.abs(forward(net, random, {"data": x})["bn2"].astype(np.float64).mean(axis=(0, 2, 3))).max() > 0.1


def test_weights_are_deterministic_for_a_seed(caffe_root, tmp_path):
    net = small_se_net()
    a = make_weights(net, tmp_path / "a.caffemodel", seed=11)
    b = make_weights(net, tmp_path / "b.caffemodel", seed=11)
    c = make_weights(net, tmp_path / "c.caffemodel", seed=12)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_saved_file_keeps_the_nets_own_layer_definitions(caffe_root, tmp_path):
    net = small_se_net(batch=1)
    model = read_caffemodel_proto(make_weights(net, tmp_path / "w.caffemodel"))
    layers = {layer.name: layer for layer in model.layer}
    assert layers["fuse"].type == "Axpy"
    assert not layers["fuse"].HasField("python_param")
    assert list(layers["data"].input_param.shape[0].dim) == [1, 3, 8, 8]  # not the calibration batch
    assert [len(layers[n].blobs) for n in ("conv1", "conv1/bn", "conv1/bn/scale", "se/down", "fc")] == [1, 3, 2, 2, 2]
    assert list(layers["fc"].blobs[0].shape.dim) == [5, 8]


def test_batchnorm_factors_are_never_one_and_one_is_zero(caffe_root, tmp_path):
    factors = _bn_factors(make_weights(small_se_net(), tmp_path / "w.caffemodel", seed=0))
    assert set(factors) == {"conv1/bn", "conv2/bn"}
    values = [f[0] for f in factors.values()]
    assert all(len(f) == 1 for f in factors.values())
    assert values.count(0.0) == 1
    assert all(abs(v - 1.0) > 0.05 for v in values)


def test_zero_factor_is_numerically_benign(caffe_root, tmp_path):
    """f == 0 folded into the following Scale: the net computes the same function as without it."""
    net = small_se_net()
    with_zero = make_weights(net, tmp_path / "z.caffemodel", seed=4, zero_factor_layers=["conv2/bn"])
    without = make_weights(net, tmp_path / "n.caffemodel", seed=4, zero_factor_layers=[])
    assert _bn_factors(with_zero)["conv2/bn"] == [0.0]
    assert 0.0 not in [f[0] for f in _bn_factors(without).values()]
    x = np.random.default_rng(9).normal(0, 50, (2, 3, 8, 8)).astype(np.float32)
    a = forward(net, with_zero, inputs=x)
    b = forward(net, without, inputs=x)
    for name in ("fuse", "fc", "prob"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-4 * float(np.abs(b[name]).max()))


def test_zero_factor_layer_must_be_followed_by_a_scale(caffe_root, tmp_path):
    with pytest.raises(CaffeReferenceError, match="cannot get factor 0"):
        make_weights(small_se_net(), tmp_path / "w.caffemodel", zero_factor_layers=["conv1"])
    assert not (tmp_path / "w.caffemodel").exists()


def test_existing_output_needs_force(caffe_root, tmp_path):
    out = tmp_path / "w.caffemodel"
    out.write_bytes(b"keep")
    with pytest.raises(OutputError, match="exists"):
        make_weights(small_se_net(), out, force=False)
    assert out.read_bytes() == b"keep"


def test_se_resnet50_activations_stay_normalised(se_resnet50_weights):
    """On a new random input (not the calibration one) every blob stays O(1)-O(10), as in a trained net."""
    net, weights = se_resnet50_weights
    out = forward(net, weights, seed=123)
    for name, blob in out.items():
        assert np.isfinite(blob).all(), name
        if name != "data":
            assert float(np.abs(blob).max()) < 1e2, (name, float(np.abs(blob).max()))
    assert float(np.abs(out["classifier"]).max()) < 1e3
    assert float(out["classifier"].std()) > 0.1  # not collapsed either
    factors = [f[0] for f in _bn_factors(weights).values()]
    assert len(factors) == 53
    assert factors.count(0.0) == 1
    assert all(abs(f - 1.0) > 0.05 for f in factors)


@pytest.mark.slow
def test_senet154_weights_behave(caffe_root):
    """The heaviest net: calibrated in O(n) forward steps, ~440 MiB, activations normalised, one f == 0."""
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    net = generate("senet-154")
    weights = cached_weights(net, seed=0)
    assert abs(weights.stat().st_size - 440 * 2**20) < 0.01 * 440 * 2**20
    factors = [f[0] for f in _bn_factors(weights).values()]
    assert factors.count(0.0) == 1
    out = forward(net, weights, seed=5, blobs=["conv5_3", "classifier", "prob"])
    for name, blob in out.items():
        assert np.isfinite(blob).all(), name
        assert float(np.abs(blob).max()) < 1e2, (name, float(np.abs(blob).max()))


@pytest.mark.parametrize("arch", sorted(OFFICIAL_BYTES))
def test_caffemodel_size_matches_the_official_release(caffe_root, arch):
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    size = cached_weights(generate(arch), seed=0).stat().st_size
    official = OFFICIAL_BYTES[arch]
    assert abs(size - official) <= 0.0005 * official, f"{arch}: {size:,} bytes, official {official:,}"


def test_cache_drops_temporary_files_of_killed_runs(caffe_root, tmp_path, monkeypatch):
    """A run killed outright mid-write (SIGKILL) leaves a .part file: never used, removed once a day old; the
    .part of a run writing now is kept."""
    import os
    import time

    from senet_proto.reference import cached_weights

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SENET_PROTO_CAFFE_ROOT", str(caffe_root))
    folder = tmp_path / "senet-proto" / "weights"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".tiny-se-s0-0123.caffemodel.abc.part", folder / ".tiny-se-s0-4567.caffemodel.def.part"
    for part in (stale, fresh):
        part.write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    path = cached_weights(small_se_net(), seed=0)
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith("lock")) == sorted([path.name, fresh.name])


def test_cache_keeps_to_its_size_limit(caffe_root, tmp_path, monkeypatch):
    """Over the size limit, the least recently used files go first; files used within the hour stay (another
    worker of the same run may be reading them), and so does the file just made."""
    import os
    import time

    from senet_proto.reference import cached_weights

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SENET_PROTO_CAFFE_ROOT", str(caffe_root))
    monkeypatch.setenv("SENET_PROTO_WEIGHTS_CACHE_GB", str(0.5 * 2**20 / 2**30))  # 0.5 MiB
    folder = tmp_path / "senet-proto" / "weights"
    folder.mkdir(parents=True)
    ages = {"old-s0-a.caffemodel": 3 * 3600, "older-s0-b.caffemodel": 5 * 3600, "recent-s0-c.caffemodel": 60}
    for name, age in ages.items():
        (folder / name).write_bytes(b"\0" * 2**20)
        os.utime(folder / name, (time.time() - age,) * 2)
    path = cached_weights(small_se_net(), seed=0)
    # 3 MiB + the new file: the oldest go; the recent one stays although the cache is still over its limit
    assert sorted(p.name for p in folder.glob("*.caffemodel")) == sorted([path.name, "recent-s0-c.caffemodel"])
