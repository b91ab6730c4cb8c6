"""load_caffe: legacy upgrades (checked against real Caffe), weight matching and its errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from conv_cases import layer
from legacy_nets import V1, v1_net

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.caffe.upgrade import upgrade_net
from senet_proto.converters import load_caffe
from senet_proto.converters.pytorch import build_module
from senet_proto.errors import CaffemodelError, PrototxtError


def legacy_blob(arr: np.ndarray, msg: caffe_pb2.BlobProto) -> None:
    """Store ``arr`` with num/channels/height/width (left-padded with 1s), as pre-2015 Caffe did."""
    dims = (1,) * (4 - arr.ndim) + arr.shape
    msg.num, msg.channels, msg.height, msg.width = dims
    msg.data.extend(arr.ravel().tolist())


def v1_model(rng: np.random.Generator) -> tuple[caffe_pb2.NetParameter, dict[str, list[np.ndarray]]]:
    weights = {"conv": [rng.standard_normal((4, 3, 3, 3)).astype(np.float32), rng.standard_normal(4).astype(
        np.float32)], "fc": [rng.standard_normal((5, 4 * 4 * 4)).astype(np.float32),
                             rng.standard_normal(5).astype(np.float32)]}
    model = caffe_pb2.NetParameter(name="v1")
    for name, type_ in (("data_layer", V1.DATA), ("conv", V1.CONVOLUTION), ("relu", V1.RELU),
                        ("pool", V1.POOLING), ("fc", V1.INNER_PRODUCT), ("loss", V1.SOFTMAX_LOSS)):
        ly = model.layers.add(name=name, type=type_)
        for arr in weights.get(name, []):
            legacy_blob(arr, ly.blobs.add())
    return model, weights


def test_upgrade_v1_layers_and_legacy_input() -> None:
    up = upgrade_net(v1_net())
    assert [ly.type for ly in up.layer] == ["Input", "Convolution", "ReLU", "Pooling", "InnerProduct", "Softmax"]
    assert up.layer[0].name == "input" and list(up.layer[0].top) == ["data"]
    assert list(up.layer[0].input_param.shape[0].dim) == [2, 3, 9, 8]
    assert [(p.lr_mult, p.decay_mult) for p in up.layer[1].param] == [(1, 1), (2, 0)]
    assert up.layer[1].convolution_param.num_output == 4
    assert not len(up.layers) and not len(up.input) and not len(up.input_dim)


def test_upgrade_input_shape_and_errors() -> None:
    net = parse_prototxt('input: "a" input_shape { dim: 1 dim: 2 } input: "b" input_shape { dim: 3 }')
    up = upgrade_net(net)
    assert [list(s.dim) for s in up.layer[0].input_param.shape] == [[1, 2], [3]]
    with pytest.raises(PrototxtError, match="input_dim"):
        upgrade_net(parse_prototxt('input: "a" input_dim: 1 input_dim: 2'))
    mixed = v1_net()
    mixed.layer.add(name="x", type="ReLU")
    with pytest.raises(PrototxtError, match="mixes V1"):
        upgrade_net(mixed)


def test_v1_net_and_legacy_caffemodel_match_caffe(reference, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    net = v1_net()
    model, weights = v1_model(rng)
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(model.SerializeToString())
    caffenet = load_caffe(net, path)
    assert [w.shape for w in caffenet.weights["fc"]] == [(5, 64), (5,)]
    np.testing.assert_array_equal(caffenet.weights["conv"][0], weights["conv"][0])
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    caffe = reference.forward(net, path, {"data": x}, blobs=["conv", "pool", "fc", "prob"])
    with torch.no_grad():
        ours = build_module(caffenet).forward_blobs(torch.from_numpy(x))
    for name in ("conv", "pool", "fc", "prob"):
        np.testing.assert_allclose(ours[name].numpy(), caffe[name], rtol=1e-5, atol=1e-5, err_msg=name)


def small_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="small")
    net.layer.append(layer("Input", "data", [], ["data"], input_param={"shape": [{"dim": [1, 3, 6, 6]}]}))
    net.layer.append(layer("Convolution", "conv", ["data"], ["conv"],
                           convolution_param={"num_output": 4, "kernel_size": [3]}))
    net.layer.append(layer("BatchNorm", "bn", ["conv"], ["conv"]))
    net.layer.append(layer("ReLU", "relu", ["conv"], ["conv"]))
    return net


def small_model(**overrides) -> caffe_pb2.NetParameter:
    blobs = {"conv": [np.ones((4, 3, 3, 3)), np.zeros(4)], "bn": [np.zeros(4), np.ones(4), np.ones(1)]}
    blobs.update(overrides)
    model = caffe_pb2.NetParameter(name="small")
    for name, arrs in blobs.items():
        if arrs is None:
            continue
        ly = model.layer.add(name=name)
        for a in arrs:
            b = ly.blobs.add()
            b.shape.dim.extend(np.shape(a))
            b.data.extend(np.ravel(a).tolist())
    return model


def test_weights_matched_by_name() -> None:
    cn = load_caffe(small_net(), small_model())
    assert sorted(cn.weights) == ["bn", "conv"]
    assert all(a.dtype == np.float32 for blobs in cn.weights.values() for a in blobs)


@pytest.mark.parametrize(("overrides", "pattern"), [
    ({"conv": None}, r"layer 'conv' \(Convolution\) needs weights"),
    ({"conv": [np.ones((4, 3, 3, 3))]}, r"layer 'conv' \(Convolution\): the caffemodel has 1 blob\(s\), "
                                        r"the prototxt needs 2"),
    ({"conv": [np.ones((5, 3, 3, 3)), np.zeros(5)]}, r"layer 'conv'.*blob 0 has shape \(5, 3, 3, 3\).*\(4, \?, 3, 3\)"),
    ({"conv": [np.ones((4, 3, 5, 5)), np.zeros(4)]}, r"blob 0 has shape \(4, 3, 5, 5\)"),
    ({"bn": [np.zeros(4), np.ones(3), np.ones(1)]}, r"layer 'bn' \(BatchNorm\): blob 1 has shape \(3,\)"),
    ({"relu": [np.ones(2)]}, r"layer 'relu' \(ReLU\): takes no weights"),
])
def test_mismatch_errors_name_the_layer(overrides, pattern: str) -> None:
    with pytest.raises(CaffemodelError, match=pattern):
        load_caffe(small_net(), small_model(**overrides))


def warnings_said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("allow_extra", [False, True])
def test_extra_caffemodel_layers_ignored_as_caffe_does_with_one_warning(
        caplog: pytest.LogCaptureFixture, allow_extra: bool) -> None:
    """Caffe's CopyTrainedLayersFrom ignores source layers the net lacks, with or without blobs: so do we, in one
    warning naming the first three and the count; allow_extra leaves out those without weights."""
    extras = {f"old_fc{i}": [np.ones((2, 3)), np.zeros(2)] for i in range(4)}
    model = small_model(renamed_relu=[], **extras)
    with caplog.at_level(logging.WARNING, logger="senet_proto"):
        cn = load_caffe(small_net(), model, allow_extra=allow_extra)
    assert sorted(cn.weights) == ["bn", "conv"]
    np.testing.assert_array_equal(cn.weights["conv"][0], np.ones((4, 3, 3, 3), np.float32))
    said = warnings_said(caplog)
    assert len(said) == 1, said
    named = "'old_fc0' (?, 2 blobs), 'old_fc1' (?, 2 blobs), 'old_fc2' (?, 2 blobs) and"
    assert named in said[0] and "Caffe ignores them too" in said[0] and "mismatched" in said[0], said
    if allow_extra:
        assert "ignoring 4 caffemodel layer(s)" in said[0] and "renamed_relu" not in said[0], said
    else:
        assert "ignoring 5 caffemodel layer(s)" in said[0] and "and 2 more" in said[0], said


@pytest.mark.parametrize(("allow_extra", "warned"), [(False, True), (True, False)])
def test_allow_extra_silences_parameter_free_extras(
        caplog: pytest.LogCaptureFixture, allow_extra: bool, warned: bool) -> None:
    with caplog.at_level(logging.WARNING, logger="senet_proto"):
        load_caffe(small_net(), small_model(extra=[]), allow_extra=allow_extra)
    said = warnings_said(caplog)
    assert len(said) == int(warned), said
    if warned:
        assert "'extra' (?)" in said[0] and "--allow-extra" in said[0], said


def test_training_snapshot_layers_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """Data, loss and Split layers of a training snapshot, and weights of the prototxt's other-phase layers,
    are ignored without a warning."""
    net = small_net()
    net.layer.append(layer("InnerProduct", "train_fc", ["conv"], ["train_fc"],
                           inner_product_param={"num_output": 2}, include=[{"phase": "TRAIN"}]))
    model = small_model(train_fc=[np.ones((2, 64)), np.zeros(2)])
    model.layer.add(name="data_src", type="Data")
    model.layer.add(name="loss", type="SoftmaxWithLoss")
    model.layer.add(name="conv_conv_0_split", type="Split")
    with caplog.at_level(logging.WARNING, logger="senet_proto"):
        assert sorted(load_caffe(net, model).weights) == ["bn", "conv"]
    assert not warnings_said(caplog)


def test_missing_weights_still_refused_naming_the_ignored_layers() -> None:
    """Caffe would fill a layer without weights randomly (a different result): a mismatched pair stays an error,
    and the caffemodel's unplaced weights are named as the likely counterpart."""
    with pytest.raises(CaffemodelError, match=r"layer 'conv' \(Convolution\) needs weights but the caffemodel has "
                                              r"none for it \(mismatched prototxt/caffemodel pair\? it has weights "
                                              r"for 'conv1' \(\?, 2 blobs\), which the prototxt lacks\)"):
        load_caffe(small_net(), small_model(conv=None, conv1=[np.ones((4, 3, 3, 3)), np.zeros(4)]))


def test_extra_weighted_layer_loads_as_in_real_caffe(reference, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Real Caffe loads a caffemodel with a weighted layer the prototxt lacks (ignoring it); ours gives its output."""
    rng = np.random.default_rng(3)
    model = small_model(conv=[rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)],
                        bn=[rng.standard_normal(4), rng.uniform(0.5, 2, 4), np.full(1, 2.0)],
                        old_fc=[rng.standard_normal((10, 64)), rng.standard_normal(10)])
    model.layer[-1].type = "InnerProduct"
    path = tmp_path / "extra.caffemodel"
    path.write_bytes(model.SerializeToString())
    with caplog.at_level(logging.WARNING, logger="senet_proto"):
        caffenet = load_caffe(small_net(), path)
    assert any("'old_fc' (InnerProduct, 2 blobs)" in m for m in warnings_said(caplog)), caplog.text
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    caffe = reference.forward(small_net(), path, {"data": x}, blobs=["conv"])
    with torch.no_grad():
        ours = build_module(caffenet).forward_blobs(torch.from_numpy(x))
    np.testing.assert_allclose(ours["conv"].numpy(), caffe["conv"], rtol=1e-5, atol=1e-5)


def test_a_snapshots_data_layer_loads_where_the_deploy_net_has_its_input() -> None:
    """A train_val snapshot names its data layer 'data' (Data, DummyData...) like the deploy net's Input: no
    blobs to load, so the types do not matter (Caffe matches by name and blobs)."""
    model = small_model()
    model.layer.add(name="data", type="DummyData")
    assert sorted(load_caffe(small_net(), model).weights) == ["bn", "conv"]


def test_types_are_not_compared_blobs_decide(caplog: pytest.LogCaptureFixture) -> None:
    """As Caffe's CopyTrainedLayersFrom: matched by name; a differing type whose blobs fit loads (said at INFO),
    one whose blobs do not fit is refused naming both types and both shapes."""
    model = small_model()
    model.layer[0].type = "Deconvolution"
    model.layer[1].type = "Python"
    with caplog.at_level(logging.INFO, logger="senet_proto"):
        cn = load_caffe(small_net(), model)
    np.testing.assert_array_equal(cn.weights["conv"][0], np.ones((4, 3, 3, 3), np.float32))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("Convolution in the prototxt are Deconvolution in the caffemodel ('conv')" in m for m in said), said
    assert any("BatchNorm in the prototxt are Python in the caffemodel ('bn')" in m for m in said), said
    model = small_model(conv=[np.ones((3, 4, 3, 3)), np.zeros(4)])
    model.layer[0].type = "Deconvolution"
    with pytest.raises(CaffemodelError, match=r"layer 'conv' \(Convolution; Deconvolution in the caffemodel\): "
                                              r"blob 0 has shape \(3, 4, 3, 3\).*\(4, \?, 3, 3\)"):
        load_caffe(small_net(), model)


def test_double_data_and_count_mismatch() -> None:
    model = small_model()
    blob = model.layer[1].blobs[0]
    blob.ClearField("data")
    blob.double_data.extend([0.5, 1.5, 2.5, 3.5])
    cn = load_caffe(small_net(), model)
    np.testing.assert_array_equal(cn.weights["bn"][0], np.array([0.5, 1.5, 2.5, 3.5], np.float32))
    del blob.double_data[-1]
    with pytest.raises(CaffemodelError, match=r"layer 'bn' blob 0: has 3 values but its shape \(4,\) needs 4"):
        load_caffe(small_net(), model)


@pytest.mark.parametrize("cut", [1, 100, 300])
def test_truncated_caffemodel(tmp_path: Path, cut: int) -> None:
    data = small_model().SerializeToString()
    path = tmp_path / "t.caffemodel"
    path.write_bytes(data[: len(data) - cut])
    with pytest.raises(CaffemodelError) as e:
        load_caffe(small_net(), path)
    assert "\n" not in str(e.value) and "t.caffemodel" in str(e.value)


def test_garbage_and_empty_caffemodel(tmp_path: Path) -> None:
    path = tmp_path / "g.caffemodel"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(CaffemodelError, match=r"g\.caffemodel"):
        load_caffe(small_net(), path)
    path.write_bytes(b"")
    with pytest.raises(CaffemodelError, match="empty"):
        load_caffe(small_net(), path)


def test_weights_that_do_not_fit_the_bottoms_fail_at_build(tmp_path: Path) -> None:
    net = v1_net()
    model, _ = v1_model(np.random.default_rng(0))
    fc = next(ly for ly in model.layers if ly.name == "fc")
    fc.blobs[0].ClearField("data")
    fc.blobs[0].width = 80
    fc.blobs[0].data.extend([0.0] * 400)
    caffenet = load_caffe(net, model)  # the input size of an InnerProduct is only known from the shapes
    with pytest.raises(CaffemodelError, match=r"layer 'fc' \(InnerProduct\) on pool \(2, 4, 4, 4\)"):
        build_module(caffenet)
