"""Convolution and InnerProduct."""

from __future__ import annotations

import numpy as np

from ....caffe.layers import canonical_axis
from ....caffe.layers.conv import conv_geometry
from ....errors import PrototxtError
from ...graph import Node
from ...lazy import blob_tensor
from ..builder import OnnxBuilder
from .common import register


@register("Convolution")
def convolution(node: Node, b: OnnxBuilder) -> None:
    g = conv_geometry(node.layer, len(b.shape(node.bottoms[0])) - 2)
    inputs = [b.input(node.bottoms[0]), b.const(node, "weight", blob_tensor(node.blobs, 0))]  # maybe lazy (folded)
    if len(node.blobs) > 1:
        inputs.append(b.const(node, "bias", node.blobs[1].reshape(-1)))
    b.add("Conv", inputs, [b.output(node, node.tops[0])], node, kernel_shape=list(g.kernel),
          strides=list(g.stride), pads=[*g.pad, *g.pad], dilations=list(g.dilation), group=g.group)


@register("InnerProduct")
def inner_product(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.inner_product_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis, len(x_shape), node.layer)
    lead, k = int(np.prod(x_shape[:axis])), int(np.prod(x_shape[axis:]))
    x_batch = b.batch_axis(node.bottoms[0])
    if x_batch is not None and x_batch >= axis:
        raise PrototxtError(f"layer '{node.name}' (InnerProduct): the batch axis {x_batch} is flattened into "
                            f"the {k} inputs of the product")
    lead_batch = 0 if x_batch is not None else None  # the batch is (part of) the flattened leading dimension
    lead_is_batch = 0 if axis == 1 and x_batch == 0 else None  # ... or that dimension itself
    flat_dims = b.reshape_dims([lead, k], lead_batch, lead_is_batch)
    flat = b.temp(node, "flat")
    b.add("Reshape", [b.input(node.bottoms[0]), b.const(node, "flat_shape", flat_dims, np.int64)], [flat], node)
    inputs = [flat, b.const(node, "weight", node.blobs[0])]
    if len(node.blobs) > 1:
        inputs.append(b.const(node, "bias", node.blobs[1].reshape(-1)))
    out_shape = b.shape(node.tops[0])
    gemm = b.output(node, node.tops[0]) if len(out_shape) == 2 else b.temp(node, "gemm")
    b.add("Gemm", inputs, [gemm], node, transB=0 if p.transpose else 1)
    if len(out_shape) != 2:
        out_dims = b.reshape_dims(out_shape, b.batch_axis(node.tops[0]), lead_is_batch)
        b.add("Reshape", [gemm, b.const(node, "out_shape", out_dims, np.int64)],
              [b.output(node, node.tops[0])], node)
