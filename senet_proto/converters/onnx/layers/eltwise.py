"""Eltwise (SUM with coefficients, PROD, MAX), Axpy and Concat."""

from __future__ import annotations

import numpy as np

from ....caffe import caffe_pb2
from ....errors import PrototxtError
from ...graph import Node
from ...params import canonical_axis
from ..builder import OnnxBuilder
from .common import register


@register("Eltwise")
def eltwise(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.eltwise_param
    inputs = [b.input(x) for x in node.bottoms]
    op = p.operation
    if op == caffe_pb2.EltwiseParameter.SUM:
        coeffs = list(p.coeff) or [1.0] * len(inputs)
        if len(coeffs) != len(inputs):
            raise PrototxtError(f"layer '{node.name}' (Eltwise): {len(coeffs)} coefficients for {len(inputs)} inputs")
        terms = []
        for i, (x, c) in enumerate(zip(inputs, coeffs, strict=True)):
            if c == 1.0:
                terms.append(x)
                continue
            t = b.temp(node, f"term{i}")
            b.add("Mul", [x, b.const(node, f"coeff{i}", np.array(c, np.float32))], [t], node)
            terms.append(t)
        b.add("Sum", terms, [b.output(node, node.tops[0])], node)
    elif op == caffe_pb2.EltwiseParameter.PROD:
        acc = inputs[0]
        for i, x in enumerate(inputs[1:]):
            out = b.output(node, node.tops[0]) if i == len(inputs) - 2 else b.temp(node, f"prod{i}")
            b.add("Mul", [acc, x], [out], node)
            acc = out
    else:
        b.add("Max", inputs, [b.output(node, node.tops[0])], node)


@register("Axpy")
def axpy(node: Node, b: OnnxBuilder) -> None:
    """top = a * X + Y with a of shape N×C (or N×C×1×1): Reshape + Mul + Add."""
    a, x, y = node.bottoms
    n, c = b.shape(x)[:2]
    gate = b.temp(node, "gate")
    dims = b.reshape_dims([n, c, 1, 1], b.batch_axis(x), b.batch_axis(a))
    b.add("Reshape", [b.input(a), b.const(node, "gate_shape", dims, np.int64)], [gate], node)
    scaled = b.temp(node, "scaled")
    b.add("Mul", [gate, b.input(x)], [scaled], node)
    b.add("Add", [scaled, b.input(y)], [b.output(node, node.tops[0])], node)


@register("Concat")
def concat(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.concat_param
    shape = b.shape(node.bottoms[0])
    raw = p.concat_dim if p.HasField("concat_dim") else (p.axis if p.HasField("axis") else 1)  # legacy concat_dim
    axis = canonical_axis(raw, len(shape), f"layer '{node.name}'")
    b.add("Concat", [b.input(x) for x in node.bottoms], [b.output(node, node.tops[0])], node, axis=axis)
