"""Eltwise (SUM with coefficients, PROD, MAX), Axpy and Concat."""

from __future__ import annotations

import numpy as np

from ....caffe import caffe_pb2
from ....caffe.layers.shape import concat_axis, eltwise_coeffs
from ...graph import Node
from ..builder import OnnxBuilder
from .common import register


@register("Eltwise")
def eltwise(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.eltwise_param
    inputs = [b.input(x) for x in node.bottoms]
    op = p.operation
    if op == caffe_pb2.EltwiseParameter.SUM:
        coeffs = eltwise_coeffs(node.layer, len(inputs))
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
    shape = b.shape(node.bottoms[0])
    axis = concat_axis(node.layer, len(shape))
    b.add("Concat", [b.input(x) for x in node.bottoms], [b.output(node, node.tops[0])], node, axis=axis)
