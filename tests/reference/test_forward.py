"""forward(): every blob back from real Caffe, inputs reshaped, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from caffe_nets import _layer, small_se_net, small_se_shapes

from senet_proto.caffe import format_prototxt
from senet_proto.errors import CaffemodelError, CaffeReferenceError
from senet_proto.reference import backend_info, forward


def test_backend_info_names_caffe(caffe_root):
    info = backend_info()
    assert "Caffe" in info
    assert str(caffe_root) in info or "importable" in info


@pytest.fixture(scope="module")
def small_weights(caffe_root, tmp_path_factory):
    from senet_proto.reference import make_weights

    return make_weights(small_se_net(), tmp_path_factory.mktemp("w") / "small.caffemodel", seed=5)


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_returns_every_blob_with_its_shape(caffe_root, small_weights, batch):
    net = small_se_net(batch=2)
    x = np.random.default_rng(0).normal(0, 50, (batch, 3, 8, 8)).astype(np.float32)
    out = forward(net, small_weights, inputs=x)  # the input blob takes the array's shape
    expected = small_se_shapes(batch=batch)
    assert list(out) == list(expected)  # Caffe's blob order, every blob
    for name, shape in expected.items():
        assert out[name].shape == shape, name
        assert out[name].dtype == np.float32
    np.testing.assert_array_equal(out["data"], x)
    np.testing.assert_allclose(out["prob"].sum(axis=1), 1.0, rtol=1e-5)


def test_in_place_blobs_hold_the_last_value(caffe_root, small_weights):
    out = forward(small_se_net(), small_weights)
    # conv1 is followed by in-place BatchNorm, Scale and ReLU: the blob holds the ReLU output.
    assert out["conv1"].min() >= 0.0
    assert out["conv1"].max() > 0.0
    # se/up is followed by an in-place Sigmoid.
    assert out["se/up"].min() > 0.0 and out["se/up"].max() < 1.0


def test_forward_is_deterministic_for_a_seed(caffe_root, tmp_path):
    net = small_se_net()
    weights = tmp_path / "w.caffemodel"
    from senet_proto.reference import make_weights

    make_weights(net, weights, seed=3)
    a = forward(net, weights, seed=1)
    b = forward(net, weights, seed=1)
    c = forward(net, weights, seed=2)
    np.testing.assert_array_equal(a["prob"], b["prob"])
    assert not np.array_equal(a["data"], c["data"])
    assert 20 < float(a["data"].std()) < 80  # random inputs: normal, std 50


def test_forward_takes_a_prototxt_path_and_leaves_the_file_alone(caffe_root, tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(format_prototxt(small_se_net()))
    before = path.read_bytes()
    out = forward(path, blobs=["fuse", "prob"])
    assert list(out) == ["fuse", "prob"]
    assert path.read_bytes() == before  # the Axpy layer was rewritten in memory only


def test_a_net_caffe_rejects_gives_one_clear_line(caffe_root):
    net = small_se_net()
    _layer(net, "bad", "Eltwise", ["conv1", "gpool"], ["bad"])  # 2x8x8x8 + 2x8x1x1
    with pytest.raises(CaffeReferenceError) as info:
        forward(net)
    msg = str(info.value)
    assert "Check failed" in msg and "eltwise_layer.cpp" in msg
    assert "\n" not in msg


def test_an_unknown_bottom_is_reported_by_caffe(caffe_root):
    net = small_se_net()
    _layer(net, "bad", "ReLU", ["nowhere"], ["bad"])
    with pytest.raises(CaffeReferenceError, match="Unknown bottom blob 'nowhere'"):
        forward(net)


def test_user_python_layers_are_never_run(caffe_root, tmp_path):
    net = small_se_net()
    layer = _layer(net, "py", "Python", ["fc"], ["py"])
    layer.python_param.module = "os"
    layer.python_param.layer = "system"
    with pytest.raises(CaffeReferenceError, match="Python layer"):
        forward(net)


def test_bad_inputs_are_rejected_before_caffe_runs(caffe_root, tmp_path):
    net = small_se_net()
    with pytest.raises(CaffeReferenceError, match="not an input"):
        forward(net, inputs={"label": np.zeros((2, 3, 8, 8), np.float32)})
    with pytest.raises(CaffemodelError, match="no such caffemodel"):
        forward(net, tmp_path / "missing.caffemodel")


def test_a_wrong_caffemodel_is_caffes_error(caffe_root, tmp_path):
    from senet_proto.reference import make_weights

    weights = make_weights(small_se_net(channels=8), tmp_path / "w8.caffemodel")
    with pytest.raises(CaffeReferenceError, match=r"shape mismatch|Incompatible"):
        forward(small_se_net(channels=4), weights)
