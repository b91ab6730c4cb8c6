"""Tiny Caffe nets for the per-layer tests, built as protobuf messages, with random caffemodels.

A ``Case`` is one layer (or a short chain) under test with its own inputs. All the
cases of one layer type are combined into ONE net (names prefixed by the case id)
so that real Caffe runs once per type; each case is then checked on its own blobs.
Weights are written straight into a caffemodel (NetParameter with blobs); Caffe
and the converter both read that file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format

from senet_proto.caffe import caffe_pb2

SEP = "__"


def layer(type_: str, name: str, bottoms: list[str], tops: list[str], **params: Any) -> caffe_pb2.LayerParameter:
    msg = caffe_pb2.LayerParameter()
    json_format.ParseDict({"name": name, "type": type_, "bottom": bottoms, "top": tops, **params}, msg)
    return msg


@dataclass
class Case:
    id: str
    inputs: dict[str, tuple[int, ...]]
    layers: list[caffe_pb2.LayerParameter]
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    input_scale: float = 1.0
    positive_inputs: bool = False


def combine(cases: list[Case], name: str) -> tuple[caffe_pb2.NetParameter, caffe_pb2.NetParameter]:
    """One deploy net holding every case (prefixed names) and its caffemodel message."""
    net = caffe_pb2.NetParameter(name=name)
    model = caffe_pb2.NetParameter(name=name)
    for case in cases:
        p = case.id + SEP
        inp = net.layer.add(name=p + "input", type="Input")
        for blob, shape in case.inputs.items():
            inp.top.append(p + blob)
            inp.input_param.shape.add().dim.extend(shape)
        for ly in case.layers:
            new = net.layer.add()
            new.CopyFrom(ly)
            new.name = p + ly.name
            new.ClearField("bottom")
            new.bottom.extend(p + b for b in ly.bottom)
            new.ClearField("top")
            new.top.extend(p + t for t in ly.top)
            if ly.name in case.weights:
                m = model.layer.add(name=new.name, type=new.type)
                for arr in case.weights[ly.name]:
                    b = m.blobs.add()
                    b.shape.dim.extend(arr.shape)
                    b.data.extend(np.asarray(arr, dtype=np.float32).ravel().tolist())
    return net, model


def write_model(model: caffe_pb2.NetParameter, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def make_inputs(cases: list[Case], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for case in cases:
        for blob, shape in case.inputs.items():
            x = rng.standard_normal(shape).astype(np.float32) * np.float32(case.input_scale)
            out[case.id + SEP + blob] = np.abs(x) + np.float32(0.1) if case.positive_inputs else x
    return out


def rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)
