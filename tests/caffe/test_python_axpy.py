"""Axpy written as a Caffe Python layer is read as Axpy; every other Python layer stays a Python layer."""

from __future__ import annotations

import logging

import pytest

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.caffe.python_axpy import is_python_axpy, read_python_axpy
from senet_proto.caffe.upgrade import upgrade_net

NET = """
layer { name: "data" type: "Input" top: "a" top: "x" top: "y"
        input_param { shape { dim: 2 dim: 4 } shape { dim: 2 dim: 4 dim: 3 dim: 3 }
                      shape { dim: 2 dim: 4 dim: 3 dim: 3 } } }
layer { name: "p1" type: "Python" bottom: "a" bottom: "x" bottom: "y" top: "o1" PARAM }
layer { name: "p2" type: "Python" bottom: "a" bottom: "o1" bottom: "y" top: "o2" PARAM }
"""


def net_with(param: str, bottoms: int = 3, tops: int = 1) -> caffe_pb2.NetParameter:
    net = parse_prototxt(NET.replace("PARAM", param))
    for layer in net.layer[1:]:
        del layer.bottom[bottoms:]
        layer.top.extend(f"{layer.top[0]}_{i}" for i in range(1, tops))
    return net


@pytest.mark.parametrize("module", ["axpy_layer", "my.pkg.layers", ""])
def test_python_layers_named_axpy_become_axpy_said_once(module: str, caplog: pytest.LogCaptureFixture) -> None:
    net = net_with(f'python_param {{ module: "{module}" layer: "Axpy" }}')
    with caplog.at_level(logging.INFO, logger="senet_proto"):
        up = upgrade_net(net)
        again = upgrade_net(up)
    assert [ly.type for ly in up.layer] == ["Input", "Axpy", "Axpy"]
    assert not any(ly.HasField("python_param") for ly in up.layer)
    assert [ly.type for ly in net.layer] == ["Input", "Python", "Python"], "upgrade_net changed its argument"
    assert again == up
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("2 Python layers named Axpy read as Axpy: a·x + y"), said
    assert caplog.records[0].levelno == logging.WARNING


@pytest.mark.parametrize(("param", "bottoms", "tops"), [
    ('python_param { module: "axpy_layer" layer: "Boom" }', 3, 1),
    ('python_param { module: "axpy_layer" layer: "axpy" }', 3, 1),
    ('python_param { module: "Axpy" layer: "AxpyLayer" }', 3, 1),
    ("", 3, 1),
    ('python_param { module: "axpy_layer" layer: "Axpy" }', 2, 1),
    ('python_param { module: "axpy_layer" layer: "Axpy" }', 3, 2),
])
def test_other_python_layers_stay_python(param: str, bottoms: int, tops: int,
                                         caplog: pytest.LogCaptureFixture) -> None:
    net = net_with(param, bottoms, tops)
    assert not any(is_python_axpy(ly) for ly in net.layer)
    with caplog.at_level(logging.INFO, logger="senet_proto"):
        assert read_python_axpy(net) == []
    assert [ly.type for ly in net.layer] == ["Input", "Python", "Python"]
    assert not caplog.records
