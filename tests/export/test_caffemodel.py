"""The streaming caffemodel writer: what protobuf parses back is the NetParameter of the same layers and blobs."""

from __future__ import annotations

import io

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2
from senet_proto.export.caffemodel import write_caffemodel


@pytest.mark.parametrize("shapes", [[(4, 3, 3, 3)], [(5,), (5,), (1,)], [(10, 7), (10,)], [(0,)], [()]])
def test_protobuf_parses_what_the_writer_streams(shapes) -> None:
    rng = np.random.default_rng(0)
    blobs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    layers = [("conv1/7x7_s2", "Convolution", blobs), ("conv1/7x7_s2/bn", "BatchNorm", blobs[:1])]
    f = io.BytesIO()
    assert write_caffemodel(f, "SE-Net", iter(layers)) == 2
    expected = caffe_pb2.NetParameter(name="SE-Net")
    for name, type_, bs in layers:
        layer = expected.layer.add(name=name, type=type_)
        for b in bs:
            blob = layer.blobs.add()
            blob.shape.dim.extend(b.shape)
            blob.data.extend(b.reshape(-1).tolist())
    parsed = caffe_pb2.NetParameter()
    parsed.ParseFromString(f.getvalue())
    assert parsed == expected
    assert len(f.getvalue()) == expected.ByteSize()  # the same fields, nothing more


def test_float64_and_non_contiguous_blobs_are_written_as_float32_in_c_order() -> None:
    w = np.arange(12, dtype=np.float64).reshape(3, 4).T  # (4, 3), Fortran-ordered
    f = io.BytesIO()
    write_caffemodel(f, "n", [("fc", "InnerProduct", [w])])
    parsed = caffe_pb2.NetParameter()
    parsed.ParseFromString(f.getvalue())
    blob = parsed.layer[0].blobs[0]
    assert list(blob.shape.dim) == [4, 3]
    np.testing.assert_array_equal(np.asarray(blob.data, np.float32).reshape(4, 3), w.astype(np.float32))
