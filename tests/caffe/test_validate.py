"""Structural checks: undefined bottoms, duplicate tops, absurd input shapes, phase filtering."""

from __future__ import annotations

import numpy as np
import pytest

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.caffe.validate import check_graph, layers_for_phase
from senet_proto.errors import PrototxtError

INPUT = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'


def test_valid_net_with_in_place_layers_passes() -> None:
    net = parse_prototxt(INPUT + 'layer { name: "r" type: "ReLU" bottom: "data" top: "data" }\n'
                         'layer { name: "s" type: "Sigmoid" bottom: "data" top: "out" }')
    check_graph(net)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('layer { name: "r" type: "ReLU" bottom: "nope" top: "x" }', "Unknown bottom blob 'nope'"),
        ('layer { name: "a" type: "ReLU" bottom: "b" top: "b" }\n'
         'layer { name: "b" type: "ReLU" bottom: "data" top: "b" }',
         "Unknown bottom blob 'b'"),
        ('layer { name: "a" type: "ReLU" bottom: "data" top: "x" }\n'
         'layer { name: "b" type: "Sigmoid" bottom: "data" top: "x" }', "produced by multiple sources"),
        ('layer { name: "i2" type: "Input" top: "y" input_param { shape { dim: 1 dim: -3 } } }', "non-positive"),
        ('layer { name: "i2" type: "Input" top: "y" input_param { shape { dim: 100000 dim: 100000 } } }',
         "more than Caffe's limit"),
    ],
)
def test_bad_graphs(body: str, words: str) -> None:
    with pytest.raises(PrototxtError, match=words):
        check_graph(parse_prototxt(INPUT + body))


def test_phase_filter() -> None:
    net = parse_prototxt(INPUT + 'layer { name: "acc" type: "Accuracy" bottom: "data" bottom: "data" top: "a" '
                         'include { phase: TEST } }\n'
                         'layer { name: "loss" type: "ReLU" bottom: "data" top: "l" exclude { phase: TEST } }')
    assert [ly.name for ly in layers_for_phase(net, caffe_pb2.TEST)] == ["data", "acc"]
    assert [ly.name for ly in layers_for_phase(net, caffe_pb2.TRAIN)] == ["data", "loss"]


# In-place layers and Caffe's Split insertion: each case runs through the real Caffe too, and our verdict
# (accept, or Caffe's own message) must be Caffe's.
Layer = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def _net(
    layers: list[Layer], *, legacy_input: bool = False, train_only: tuple[str, ...] = ()
) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="inplace")
    if legacy_input:
        net.input.append("x")
        net.input_shape.add().dim.extend([1, 2, 3, 3])
    else:
        data = net.layer.add(name="data", type="Input", top=["x"])
        data.input_param.shape.add().dim.extend([1, 2, 3, 3])
    for name, kind, bottoms, tops in layers:
        layer = net.layer.add(name=name, type=kind, bottom=bottoms, top=tops)
        if name in train_only:
            layer.include.add(phase=caffe_pb2.TRAIN)
    return net


MULTIPLE = "Top blob '{}' produced by multiple sources"
IN_PLACE_CASES: dict[str, tuple[dict, str | None]] = {
    "read, in place, read": (dict(layers=[("c", "ReLU", ("x",), ("y",)), ("r", "ReLU", ("x",), ("x",)),
                                          ("s", "Sigmoid", ("x",), ("z",))]), MULTIPLE.format("x")),
    "read, then in place": (dict(layers=[("c", "ReLU", ("x",), ("y",)), ("r", "ReLU", ("x",), ("x",))]),
                            MULTIPLE.format("x")),
    "in place, then two reads": (dict(layers=[("r", "ReLU", ("x",), ("x",)), ("c", "ReLU", ("x",), ("y",)),
                                              ("s", "Sigmoid", ("x",), ("z",))]), None),
    "in place, read, in place again": (dict(layers=[("r", "ReLU", ("x",), ("x",)), ("c", "ReLU", ("x",), ("y",)),
                                                    ("r2", "Sigmoid", ("x",), ("x",))]), MULTIPLE.format("x")),
    "chains of in-place layers": (dict(layers=[("r", "ReLU", ("x",), ("x",)), ("c", "ReLU", ("x",), ("y",)),
                                               ("r2", "ReLU", ("y",), ("y",)), ("s", "Sigmoid", ("x",), ("z",))]),
                                  None),
    "same layer reads twice in place": (dict(layers=[("e", "Eltwise", ("x", "x"), ("x",))]), MULTIPLE.format("x")),
    "top equals bottom 1, not bottom 0": (dict(layers=[("c", "ReLU", ("x",), ("y",)),
                                                       ("e", "Eltwise", ("x", "y"), ("y",))]), MULTIPLE.format("y")),
    "top equals bottom 0 of two": (dict(layers=[("c", "ReLU", ("x",), ("y",)),
                                                ("e", "Eltwise", ("y", "x"), ("y",))]), None),
    "the earlier reader is TRAIN only": (dict(layers=[("c", "ReLU", ("x",), ("y",)), ("r", "ReLU", ("x",), ("x",)),
                                                      ("s", "Sigmoid", ("x",), ("z",))], train_only=("c",)), None),
    "in place on a legacy net input": (dict(layers=[("c", "ReLU", ("x",), ("y",)), ("r", "ReLU", ("x",), ("x",))],
                                            legacy_input=True), MULTIPLE.format("x")),
    "one layer, the same top twice": (dict(layers=[("c", "Slice", ("x",), ("y", "y"))]), MULTIPLE.format("y")),
    "unknown bottom is reported before an earlier double top": (
        dict(layers=[("r", "ReLU", ("x",), ("x",)), ("d", "ReLU", ("x",), ("y",)), ("e", "ReLU", ("x",), ("y",)),
                     ("f", "ReLU", ("nope",), ("z",))]), "Unknown bottom blob 'nope'"),
}


def _verdict(call, error: type[Exception]) -> str | None:
    try:
        call()
    except error as e:
        return str(e)
    return None


@pytest.mark.parametrize("case", list(IN_PLACE_CASES))
def test_in_place_rules_are_caffes(case: str, caffe_root) -> None:
    from senet_proto.errors import CaffeReferenceError
    from senet_proto.reference import forward

    kwargs, expected = IN_PLACE_CASES[case]
    net = _net(**kwargs)
    caffe_says = _verdict(lambda: forward(net, inputs=np.zeros((1, 2, 3, 3), np.float32)), CaffeReferenceError)
    ours = _verdict(lambda: check_graph(net), PrototxtError)
    if expected is None:
        assert caffe_says is None, f"Caffe rejects it: {caffe_says}"
        assert ours is None, ours
        return
    assert caffe_says is not None and expected in caffe_says, f"Caffe: {caffe_says}"
    assert ours is not None and ours.startswith(expected), ours


def test_in_place_message_names_the_other_reader() -> None:
    net = _net(layers=[("conv", "ReLU", ("x",), ("y",)), ("relu", "ReLU", ("x",), ("x",)),
                       ("s", "Sigmoid", ("x",), ("z",))])
    with pytest.raises(PrototxtError, match=r"layer 'relu' \(ReLU\) works in place .* layer 'conv' also reads"):
        check_graph(net)
    with pytest.raises(PrototxtError, match="it reads twice"):
        check_graph(_net(layers=[("e", "Eltwise", ("x", "x"), ("x",))]))
