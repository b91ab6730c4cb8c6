"""Structural checks: undefined bottoms, duplicate tops, absurd input shapes, phase filtering."""

from __future__ import annotations

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
