"""Any layer parameters: shape inference answers or raises the project's own error, never crashes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from senet_proto.analysis import infer_shapes, summarize
from senet_proto.caffe import caffe_pb2
from senet_proto.errors import SenetProtoError

small = st.integers(min_value=0, max_value=6)


def _net(dims: list[int]) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    ly = net.layer.add(name="data", type="Input")
    ly.top.append("data")
    ly.input_param.shape.add().dim.extend(dims)
    return net


def _check(net: caffe_pb2.NetParameter) -> None:
    try:
        shapes = infer_shapes(net)
        summarize(net)
    except SenetProtoError:
        return
    assert all(all(d > 0 for d in s) for s in shapes.values())


@settings(max_examples=300, deadline=None)
@given(dims=st.lists(st.integers(1, 12), min_size=1, max_size=5), k=st.lists(small, max_size=3),
       s=st.lists(small, max_size=3), p=st.lists(small, max_size=3), d=st.lists(small, max_size=2),
       g=st.integers(0, 4), n=st.integers(0, 8), axis=st.integers(-5, 5))
def test_convolution_any_params(dims, k, s, p, d, g, n, axis) -> None:
    net = _net(dims)
    ly = net.layer.add(name="c", type="Convolution", bottom=["data"], top=["c"])
    cp = ly.convolution_param
    cp.kernel_size.extend(k)
    cp.stride.extend(s)
    cp.pad.extend(p)
    cp.dilation.extend(d)
    cp.group, cp.num_output, cp.axis = g, n, axis
    _check(net)


@settings(max_examples=300, deadline=None)
@given(dims=st.lists(st.integers(1, 12), min_size=1, max_size=5), k=small, s=small, p=small,
       glob=st.booleans(), pool=st.sampled_from([0, 1]), hw=st.none() | st.tuples(small, small))
def test_pooling_any_params(dims, k, s, p, glob, pool, hw) -> None:
    net = _net(dims)
    pp = net.layer.add(name="p", type="Pooling", bottom=["data"], top=["p"]).pooling_param
    pp.pool = pool
    if hw is None:
        pp.kernel_size = k
    else:
        pp.kernel_h, pp.kernel_w = hw
    pp.stride, pp.pad, pp.global_pooling = s, p, glob
    _check(net)


@settings(max_examples=300, deadline=None)
@given(dims=st.lists(st.integers(1, 8), min_size=1, max_size=5),
       kind=st.sampled_from(["Reshape", "Flatten", "InnerProduct", "Concat", "Scale", "Softmax", "Axpy", "Eltwise"]),
       a=st.integers(-6, 6), b=st.integers(-6, 6), shape=st.lists(st.integers(-2, 8), max_size=5))
def test_other_layers_any_params(dims, kind, a, b, shape) -> None:
    net = _net(dims)
    bottoms = {"Axpy": ["data", "data", "data"], "Eltwise": ["data", "data"], "Concat": ["data", "data"],
               "Scale": ["data", "data"] if a % 2 else ["data"]}.get(kind, ["data"])
    ly = net.layer.add(name="x", type=kind, bottom=bottoms, top=["x"])
    if kind == "Reshape":
        ly.reshape_param.shape.dim.extend(shape)
        ly.reshape_param.axis, ly.reshape_param.num_axes = a, b
    elif kind == "Flatten":
        ly.flatten_param.axis, ly.flatten_param.end_axis = a, b
    elif kind == "InnerProduct":
        ly.inner_product_param.num_output, ly.inner_product_param.axis = abs(b), a
    elif kind == "Concat":
        ly.concat_param.axis = a
    elif kind == "Scale":
        ly.scale_param.axis, ly.scale_param.num_axes = a, b
    elif kind == "Softmax":
        ly.softmax_param.axis = a
    _check(net)
