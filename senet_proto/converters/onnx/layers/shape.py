"""Reshape and Flatten (a Reshape to the inferred top shape), Slice, Split, Softmax, Input and Silence."""

from __future__ import annotations

import numpy as np

from ....caffe.layers import canonical_axis
from ....caffe.layers.shape import slice_sizes
from ...graph import Node
from ..builder import OnnxBuilder
from .common import _one, register


@register("Softmax")
def softmax(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.softmax_param
    axis = canonical_axis(p.axis, len(b.shape(node.bottoms[0])), node.layer)
    _one(node, b, "Softmax", axis=axis)


@register("Reshape", "Flatten")
def reshape(node: Node, b: OnnxBuilder) -> None:
    target = b.reshape_dims(b.shape(node.tops[0]), b.batch_axis(node.tops[0]), b.batch_axis(node.bottoms[0]))
    b.add("Reshape", [b.input(node.bottoms[0]), b.const(node, "shape", target, np.int64)],
          [b.output(node, node.tops[0])], node)


@register("Split")
def split(node: Node, b: OnnxBuilder) -> None:
    for top in node.tops:
        b.add("Identity", [b.input(node.bottoms[0])], [b.output(node, top)], node)


@register("Input")
def input_layer(node: Node, b: OnnxBuilder) -> None:
    """Input layers become the graph's inputs (``build_parts``); no node to append."""


@register("Silence")
def silence(node: Node, b: OnnxBuilder) -> None:
    """Silence only consumes its bottoms: no node to append."""


@register("Slice")
def slice_layer(node: Node, b: OnnxBuilder) -> None:
    axis, sizes = slice_sizes(node.layer, b.shape(node.bottoms[0]))
    inputs = [b.input(node.bottoms[0])]
    if node.layer.slice_param.slice_point:  # without slice points equal parts, also of a dynamic batch axis
        inputs.append(b.const(node, "sizes", list(sizes), np.int64))
    b.add("Split", inputs, [b.output(node, t) for t in node.tops], node, axis=axis)
