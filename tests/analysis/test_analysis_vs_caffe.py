"""Our shape inference against the real Caffe 1.0: single layers over many parameters, and whole nets.

All nets are loaded by Caffe in one run (module fixture); each case then compares every blob's shape.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest
from analysis_caffe_helpers import Params, Shapes, caffe_load_failure, caffe_net_shapes
from official_nets import official_path

from senet_proto.analysis import infer_shapes
from senet_proto.analysis.costs import layer_cost
from senet_proto.analysis.shapes import infer_layers, with_input_shape
from senet_proto.caffe import caffe_pb2, read_prototxt
from senet_proto.caffe.layers import made_blobs
from senet_proto.errors import PrototxtError


def _net(inputs: dict[str, tuple[int, ...]]) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="case")
    for name, shape in inputs.items():
        ly = net.layer.add(name=name, type="Input")
        ly.top.append(name)
        ly.input_param.shape.add().dim.extend(shape)
    return net


def _layer(net: caffe_pb2.NetParameter, type_: str, bottoms: list[str], top: str = "out") -> caffe_pb2.LayerParameter:
    ly = net.layer.add(name=f"{type_.lower()}_{len(net.layer)}", type=type_)
    ly.bottom.extend(bottoms)
    ly.top.append(top)
    return ly


def pooling_case(h: int, w: int, k: int, s: int, p: int, pool: str) -> caffe_pb2.NetParameter:
    net = _net({"data": (2, 3, h, w)})
    pp = _layer(net, "Pooling", ["data"]).pooling_param
    pp.pool = caffe_pb2.PoolingParameter.PoolMethod.Value(pool)
    pp.kernel_size, pp.stride, pp.pad = k, s, p
    return net


def pooling_hw_case(h: int, w: int) -> caffe_pb2.NetParameter:
    net = _net({"data": (1, 2, h, w)})
    pp = _layer(net, "Pooling", ["data"]).pooling_param
    pp.kernel_h, pp.kernel_w, pp.stride_h, pp.stride_w, pp.pad_h, pp.pad_w = 3, 2, 2, 1, 1, 0
    return net


def pooling_per_axis_case(pool: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                          pad: tuple[int, int]) -> caffe_pb2.NetParameter:
    net = _net({"data": shape})
    pp = _layer(net, "Pooling", ["data"]).pooling_param
    pp.pool = caffe_pb2.PoolingParameter.PoolMethod.Value(pool)
    (pp.kernel_h, pp.kernel_w), (pp.stride_h, pp.stride_w), (pp.pad_h, pp.pad_w) = kernel, stride, pad
    return net


def global_pool_case(h: int, w: int) -> caffe_pb2.NetParameter:
    net = _net({"data": (2, 5, h, w)})
    pp = _layer(net, "Pooling", ["data"]).pooling_param
    pp.pool = caffe_pb2.PoolingParameter.AVE
    pp.global_pooling = True
    return net


def conv_case(h: int, w: int, k: int, s: int, p: int, d: int, g: int) -> caffe_pb2.NetParameter:
    net = _net({"data": (1, 4 * g, h, w)})
    cp = _layer(net, "Convolution", ["data"]).convolution_param
    cp.num_output = 2 * g
    cp.kernel_size.append(k)
    cp.stride.append(s)
    cp.pad.append(p)
    cp.dilation.append(d)
    cp.group = g
    return net


def conv_hw_case() -> caffe_pb2.NetParameter:
    net = _net({"data": (1, 3, 17, 12)})
    cp = _layer(net, "Convolution", ["data"]).convolution_param
    cp.num_output = 5
    cp.kernel_h, cp.kernel_w, cp.stride_h, cp.stride_w, cp.pad_h, cp.pad_w = 3, 5, 2, 3, 1, 2
    return net


def misc_cases() -> dict[str, caffe_pb2.NetParameter]:
    cases: dict[str, caffe_pb2.NetParameter] = {}
    for axis in (1, 2, 3):
        net = _net({"data": (2, 3, 4, 5)})
        ip = _layer(net, "InnerProduct", ["data"]).inner_product_param
        ip.num_output, ip.axis = 7, axis
        cases[f"ip_axis{axis}"] = net
    for axis in (0, 1, 2, -1):
        net = _net({"a": (2, 3, 4, 5), "b": (2, 3, 4, 5)})
        _layer(net, "Concat", ["a", "b"]).concat_param.axis = axis
        cases[f"concat_axis{axis}"] = net
    for i, (dims, axis, num_axes) in enumerate([((0, 0, -1), 0, -1), ((0, -1), 0, -1), ((0, 0, -1, 1), 0, -1),
                                                ((6, -1), 1, 2), ((-1,), -3, 2), ((1, 1), 4, 0)]):
        net = _net({"data": (2, 3, 4, 5)})
        rp = _layer(net, "Reshape", ["data"]).reshape_param
        rp.shape.dim.extend(dims)
        rp.axis, rp.num_axes = axis, num_axes
        cases[f"reshape{i}"] = net
    for axis, end in ((1, -1), (1, 2), (2, 3), (0, 1)):
        net = _net({"data": (2, 3, 4, 5)})
        fp = _layer(net, "Flatten", ["data"]).flatten_param
        fp.axis, fp.end_axis = axis, end
        cases[f"flatten{axis}_{end}"] = net
    # the SE-BN-Inception excitation: Reshape N×C×1×1 -> N×C, then Scale(x, s) with axis 0
    net = _net({"x": (2, 6, 5, 5), "s": (2, 6, 1, 1)})
    _layer(net, "Reshape", ["s"], "s2").reshape_param.shape.dim.extend([0, 0])
    _layer(net, "Scale", ["x", "s2"]).scale_param.axis = 0
    cases["scale_two_bottoms"] = net
    # the `--se-style scale --squeeze fc` excitation: InnerProduct gives N×C directly, no Reshape needed
    net = _net({"x": (2, 6, 5, 5)})
    _layer(net, "Pooling", ["x"], "g").pooling_param.global_pooling = True
    _layer(net, "InnerProduct", ["g"], "d").inner_product_param.num_output = 3
    _layer(net, "InnerProduct", ["d"], "u").inner_product_param.num_output = 6
    _layer(net, "Sigmoid", ["u"], "u")
    _layer(net, "Scale", ["x", "u"]).scale_param.axis = 0
    _layer(net, "Eltwise", ["out", "x"], "sum")
    cases["se_scale_fc"] = net
    # train/test layers: DummyData (shape and legacy num/channels/height/width), loss, accuracy
    net = caffe_pb2.NetParameter(name="train")
    dd = _layer(net, "DummyData", [], "data")
    dd.top.append("label")
    dd.dummy_data_param.shape.add().dim.extend([4, 3, 6, 6])
    dd.dummy_data_param.shape.add().dim.extend([4])
    dd2 = _layer(net, "DummyData", [], "aux").dummy_data_param
    dd2.num.append(4)
    dd2.channels.append(2)
    dd2.height.append(3)
    dd2.width.append(5)
    _layer(net, "InnerProduct", ["data"], "fc").inner_product_param.num_output = 10
    _layer(net, "SoftmaxWithLoss", ["fc", "label"], "loss")
    acc = _layer(net, "Accuracy", ["fc", "label"], "acc")
    acc.accuracy_param.top_k = 5
    acc.top.append("per_class")
    cases["train_layers"] = net
    net = _net({"x": (2, 6, 5, 5)})
    sp = _layer(net, "Scale", ["x"]).scale_param
    sp.axis, sp.num_axes, sp.bias_term = 1, 2, True
    cases["scale_one_bottom"] = net
    net = _net({"x": (2, 6, 5, 5), "y": (2, 6, 5, 5)})
    _layer(net, "BatchNorm", ["y"], "y")  # in-place layers come before any other reader (Caffe's rule)
    _layer(net, "Dropout", ["y"], "y")
    _layer(net, "Eltwise", ["x", "y"])
    _layer(net, "Softmax", ["out"], "prob")
    _layer(net, "TanH", ["x"], "t")
    cases["eltwise_softmax"] = net
    return cases | blob_cases()


def blob_cases() -> dict[str, caffe_pb2.NetParameter]:
    """Layers whose parameter blobs Caffe shapes from their settings and inputs (the catalogue's ``made``)."""
    net = _net({"x": (2, 6, 5, 5), "s": (2, 6), "v": (4, 6)})
    for name, shared in (("p1", False), ("p2", True)):
        _layer(net, "PReLU", ["x"], name).prelu_param.channel_shared = shared
    bp = _layer(net, "Bias", ["x"], "b1").bias_param
    bp.axis, bp.num_axes = 2, 1
    sp = _layer(net, "Scale", ["x", "s"], "sc").scale_param
    sp.axis, sp.bias_term = 0, True
    ip = _layer(net, "InnerProduct", ["x"], "ipt").inner_product_param
    ip.num_output, ip.transpose, ip.axis = 4, True, 2
    cp = _layer(net, "Deconvolution", ["x"], "dc").convolution_param
    cp.num_output, cp.group, cp.bias_term = 4, 2, False
    cp.kernel_size.append(3)
    cp = _layer(net, "Convolution", ["x"], "cv").convolution_param
    cp.num_output, cp.group = 9, 3
    cp.kernel_h, cp.kernel_w = 1, 3
    _layer(net, "BatchNorm", ["v"], "bn")
    return {"blobs_made": net}


POOL = [(h, w, k, s, p, pool) for (h, w), (k, s, p), pool in itertools.product(
    [(112, 112), (7, 7), (8, 8), (5, 5), (13, 10), (6, 9)],
    [(3, 2, 0), (3, 2, 1), (2, 2, 1), (3, 1, 1), (4, 3, 2), (5, 3, 0)],
    ["MAX", "AVE"]) if h + 2 * p >= k and w + 2 * p >= k]
CONV = [(11, 9, 3, 2, 1, 1, 1), (11, 9, 3, 1, 2, 2, 1), (8, 8, 1, 2, 0, 1, 4), (15, 15, 5, 3, 2, 1, 2),
        (7, 10, 7, 2, 3, 1, 1), (9, 9, 3, 2, 0, 3, 2)]


def axpy_to_eltwise(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """Stock Caffe has no Axpy; Axpy(a, x, y) has the shape of x, as does Eltwise SUM(x, y)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for ly in out.layer:
        if ly.type == "Axpy":
            ly.type = "Eltwise"
            bottoms = list(ly.bottom)[1:]
            del ly.bottom[:]
            ly.bottom.extend(bottoms)
    return out


def _official(name: str) -> caffe_pb2.NetParameter:
    return read_prototxt(official_path(name))


def whole_nets() -> dict[str, caffe_pb2.NetParameter]:
    incep = _official("SE-BN-Inception")
    r50 = axpy_to_eltwise(_official("SE-ResNet-50"))
    return {
        "se_bn_inception": incep,
        "se_bn_inception_odd": with_input_shape(incep, (1, 3, 225, 257)),
        "se_resnet50": r50,
        "se_resnet50_odd": with_input_shape(r50, (2, 3, 199, 240)),
    }


def generated_nets() -> dict[str, caffe_pb2.NetParameter]:
    """Every architecture in stock-Caffe form (``--se-style scale``), with both squeeze kinds."""
    try:
        from senet_proto.generator import ARCHITECTURES, GenerateOptions, generate
    except ImportError:
        return {}
    nets = {}
    for arch in sorted(ARCHITECTURES):
        for squeeze in ("conv", "fc"):
            nets[f"gen_{arch}_scale_{squeeze}"] = generate(arch, GenerateOptions(se_style="scale", squeeze=squeeze))
    return nets


def all_cases() -> dict[str, caffe_pb2.NetParameter]:
    cases = {f"pool_{'_'.join(map(str, c))}": pooling_case(*c) for c in POOL}
    # Caffe keeps a last window that starts past the input when pad is 0 (PyTorch's ceil_mode drops it)
    quirks = [(2, 2, 1, 2, 0, "MAX"), (8, 8, 2, 4, 0, "AVE")]
    cases |= {f"pool_{'_'.join(map(str, c))}": pooling_case(*c) for c in quirks}
    cases |= {f"poolhw_{h}_{w}": pooling_hw_case(h, w) for h, w in [(9, 9), (10, 7), (4, 3)]}
    # a pad on one axis only: Caffe applies the last-window rule on both axes (issue 13's two nets, and more)
    cases |= {f"poolpad1_{i}": pooling_per_axis_case(*c) for i, c in enumerate([
        ("MAX", (2, 4, 6, 5), (3, 1), (2, 3), (1, 0)), ("AVE", (2, 3, 6, 5), (2, 3), (3, 2), (0, 1)),
        ("MAX", (1, 2, 9, 11), (2, 4), (2, 3), (0, 1)), ("AVE", (1, 2, 10, 7), (3, 2), (3, 4), (1, 0))])}
    cases |= {f"gpool_{h}_{w}": global_pool_case(h, w) for h, w in [(7, 7), (3, 5)]}
    cases |= {f"conv_{'_'.join(map(str, c))}": conv_case(*c) for c in CONV}
    cases["conv_hw"] = conv_hw_case()
    cases |= misc_cases()
    cases |= whole_nets()
    cases |= generated_nets()
    return cases


CASES = all_cases()


@pytest.fixture(scope="module")
def caffe_shapes(caffe_root: Path) -> dict[str, tuple[Shapes, Params]]:
    return caffe_net_shapes(caffe_root, CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_match_caffe(case: str, caffe_shapes: dict[str, tuple[Shapes, Params]]) -> None:
    ours = infer_shapes(CASES[case])
    # Caffe adds Split layers (blobs NAME_LAYER_I_split_J) where a blob has several readers
    theirs = {k: v for k, v in caffe_shapes[case][0].items() if not re.search(r"_\d+_split_\d+$", k)}
    assert ours == theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_made_blobs_match_caffe(case: str, caffe_shapes: dict[str, tuple[Shapes, Params]]) -> None:
    """The catalogue's ``made`` rule gives every layer's parameter blobs as Caffe allocates them (the generator's
    weights, the costs' parameter counts and the benchmarks' random nets all read it)."""
    ours, counted = {}, {}
    for ls in infer_layers(CASES[case]):
        made = made_blobs(ls.layer, list(ls.bottoms))
        if made:
            ours[ls.name] = [tuple(s) for s in made]
            cost = layer_cost(ls)
            counted[ls.name] = cost.params + cost.stats
    theirs = caffe_shapes[case][1]
    assert ours == theirs
    assert counted == {name: sum(math.prod(s) for s in shapes) for name, shapes in theirs.items()}


def test_impossible_input_size_fails_like_caffe(caffe_root: Path) -> None:
    """At 231×197 SE-BN-Inception's inception_3c branches disagree (15 vs 14 rows): both refuse the net."""
    net = with_input_shape(_official("SE-BN-Inception"), (1, 3, 231, 197))
    with pytest.raises(PrototxtError, match=r"inception_3c/concat.*\(1, 160, 15, 12\) and \(1, 320, 14, 12\)"):
        infer_shapes(net)
    assert "All inputs must have the same shape, except at concat_axis" in caffe_load_failure(caffe_root, net)


def test_generated_nets_were_checked() -> None:
    assert any(k.startswith("gen_") for k in CASES), "senet_proto.generator is missing: generated nets unchecked"
