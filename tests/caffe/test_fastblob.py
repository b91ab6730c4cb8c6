"""The fast (memory-mapped) caffemodel reader returns exactly what the plain protobuf path returns."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from senet_proto.caffe import caffe_pb2, read_caffemodel_proto
from senet_proto.caffe.fastblob import read_fast
from senet_proto.converters.loader import decode_blob
from senet_proto.errors import CaffemodelError


def _model(rng: np.random.Generator) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    net.name = "m"
    for i, shape in enumerate([(4, 3, 3, 3), (4,), (10, 36), (0,), (2, 2, 1, 1)]):
        ly = net.layer.add()
        ly.name, ly.type = f"l{i}", "Convolution"
        blob = ly.blobs.add()
        blob.shape.dim.extend(shape)
        blob.data.extend(rng.standard_normal(int(np.prod(shape))).astype(np.float32).tolist())
        if i == 1:
            empty = ly.blobs.add()  # a blob with a shape and no data at all
            empty.shape.dim.extend([0])
        if i == 4:
            double = ly.blobs.add()  # double data: decoded by the schema path
            double.shape.dim.append(2)
            double.double_data.extend([1.5, -2.25])
    ly = net.layer.add()
    ly.name, ly.type = "relu", "ReLU"  # no blobs
    return net


def _v1_model(rng: np.random.Generator) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    for i in range(3):
        v1 = net.layers.add()
        v1.name, v1.type = f"v{i}", caffe_pb2.V1LayerParameter.CONVOLUTION
        blob = v1.blobs.add()
        blob.num, blob.channels, blob.height, blob.width = 2, 3, 1, 2  # legacy 4-d blob
        blob.data.extend(rng.standard_normal(12).astype(np.float32).tolist())
    return net


def _same(path: Path) -> int:
    """Assert fast == plain for every blob and all metadata; return the number of blobs compared."""
    fast = read_fast(path)
    plain = read_caffemodel_proto(path)
    n = 0
    for number, layers, fast_layers in ((100, plain.layer, fast.net.layer), (2, plain.layers, fast.net.layers)):
        assert len(layers) == len(fast_layers)
        for i, (ly, fl) in enumerate(zip(layers, fast_layers, strict=True)):
            assert fl.name == ly.name and fl.type == ly.type
            pre = fast.arrays.get((number, i), [None] * len(ly.blobs))
            for j, (b, fb) in enumerate(zip(ly.blobs, fl.blobs, strict=True)):
                expected = fb.__class__()
                expected.CopyFrom(b)
                expected.ClearField("data")
                assert fb == expected, "blob metadata differs"
                ours = decode_blob(fb, "fast", pre[j] if pre[j] is not None else None)
                ref = decode_blob(b, "plain")
                assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape
                assert ours.tobytes() == ref.tobytes(), f"layer {ly.name} blob {j} differs"
                n += 1
    return n


@pytest.mark.parametrize("make", [_model, _v1_model])
def test_fast_equals_plain_bit_for_bit(tmp_path: Path, make) -> None:
    path = tmp_path / "m.caffemodel"
    path.write_bytes(make(np.random.default_rng(3)).SerializeToString())
    assert _same(path) >= 3


def test_special_floats_survive(tmp_path: Path) -> None:
    net = caffe_pb2.NetParameter()
    blob = net.layer.add(name="x", type="Scale").blobs.add()
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32)
    blob.shape.dim.append(values.size)
    blob.data.extend(values.tolist())
    path = tmp_path / "s.caffemodel"
    path.write_bytes(net.SerializeToString())
    fast = read_fast(path)
    np.testing.assert_array_equal(fast.arrays[(100, 0)][0].view(np.uint32), values.view(np.uint32))


def test_non_packed_floats_fall_back_to_the_plain_path(tmp_path: Path) -> None:
    """Unpacked repeated floats (legal protobuf) are read through the schema, with the same result."""
    blob_bytes = b"".join(b"\x2d" + struct.pack("<f", v) for v in (1.0, 2.0, 3.0))  # field 5, wire type 5
    blob_bytes = b"\x3a\x02\x08\x03" + blob_bytes  # shape { dim: 3 }
    layer = b"\x0a\x01a" + b"\x3a" + bytes([len(blob_bytes)]) + blob_bytes  # name "a", blobs
    path = tmp_path / "u.caffemodel"
    path.write_bytes(b"\xa2\x06" + bytes([len(layer)]) + layer)  # field 100
    fast = read_fast(path)
    assert not fast.arrays
    np.testing.assert_array_equal(decode_blob(fast.net.layer[0].blobs[0], "u"), [1.0, 2.0, 3.0])


def test_caffe_made_caffemodel(caffe_root) -> None:
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    assert _same(cached_weights(generate("se-bn-inception"), seed=0)) > 300


@pytest.mark.parametrize("cut", [1, 7, 100, 1000])
def test_truncated_files(tmp_path: Path, cut: int) -> None:
    data = _model(np.random.default_rng(0)).SerializeToString()
    path = tmp_path / "t.caffemodel"
    path.write_bytes(data[:-cut])
    with pytest.raises(CaffemodelError, match="not a valid caffemodel"):
        read_fast(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_bitflips_and_garbage(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    raw = bytearray(_model(np.random.default_rng(1)).SerializeToString())
    if data.draw(st.booleans()):
        raw = bytearray(data.draw(st.binary(min_size=1, max_size=400)))
    else:
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path_factory.mktemp("fz") / "f.caffemodel"
    path.write_bytes(bytes(raw))
    try:
        fast = read_fast(path)
    except CaffemodelError:
        return
    assert isinstance(fast.net, caffe_pb2.NetParameter)
