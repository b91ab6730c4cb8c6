"""Element-wise layers: one ONNX operator each (ReLU with a slope: LeakyRelu; PReLU: PRelu; Power: Mul, Add, Pow)."""

from __future__ import annotations

import numpy as np

from ...graph import Node
from ..builder import OnnxBuilder
from .common import _one, register

# Element-wise layers that map to one ONNX operator (Dropout is the identity at inference).
UNARY = {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "Dropout": "Identity"}


def _unary(op: str):
    def convert(node: Node, b: OnnxBuilder) -> None:
        _one(node, b, op)

    convert.__qualname__ = convert.__name__ = f"unary_{op.lower()}"
    return convert


for _caffe_type, _op in UNARY.items():
    register(_caffe_type)(_unary(_op))


@register("ReLU")
def relu(node: Node, b: OnnxBuilder) -> None:
    slope = float(node.layer.relu_param.negative_slope)
    if slope:
        _one(node, b, "LeakyRelu", alpha=slope)
    else:
        _one(node, b, "Relu")


@register("Power")
def power(node: Node, b: OnnxBuilder) -> None:
    """Caffe's Power: (shift + scale * x) ^ power."""
    p = node.layer.power_param
    steps = [("Mul", "scale", float(p.scale), 1.0), ("Add", "shift", float(p.shift), 0.0),
             ("Pow", "power", float(p.power), 1.0)]
    todo = [s for s in steps if s[2] != s[3]]
    value = b.input(node.bottoms[0])
    if not todo:
        _one(node, b, "Identity")
        return
    for i, (op, what, v, _) in enumerate(todo):
        out = b.output(node, node.tops[0]) if i == len(todo) - 1 else b.temp(node, what)
        b.add(op, [value, b.const(node, what, np.array(v, np.float32))], [out], node)
        value = out


@register("PReLU")
def prelu(node: Node, b: OnnxBuilder) -> None:
    """PRelu with the slopes along axis 1 (shape C×1×…, or one slope for all with channel_shared)."""
    rank = len(b.shape(node.bottoms[0]))
    slope = node.blobs[0].reshape(-1)
    shape = [slope.size] + [1] * (rank - 2) if slope.size > 1 else [1]
    b.add("PRelu", [b.input(node.bottoms[0]), b.const(node, "slope", slope.reshape(shape))],
          [b.output(node, node.tops[0])], node)
