"""Learnable parameters and multiply-adds (MACs) per layer.

What is counted (the paper's convention: multiply-adds of one forward pass):

- Convolution: one MAC per weight per output position: N·Cout·(Cin/group)·kh·kw·Hout·Wout (bias adds not
  counted). InnerProduct: M·K·num_output.
- Pooling (MAX and AVE, global included): one op per input element of each window, padding positions
  included: N·C·Hout·Wout·kh·kw (a global pooling reads its whole input once).
- Scale with two bottoms (the SE excitation ``x·s``) and Axpy (``a·x + y``): one MAC per output element.
- Not counted: BatchNorm and one-bottom Scale (at inference they fold into the convolution before them),
  ReLU, Sigmoid, TanH, Dropout, Softmax, Eltwise, Concat, Reshape, Flatten, Split, Input.

Learnable parameters: Convolution and InnerProduct weights and biases, Scale's scale and bias blobs. BatchNorm's
three blobs (mean, variance, moving-average factor) are statistics, counted separately as ``stats``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .shapes import LayerShapes, conv_geometry, pooling_geometry, scale_shape


@dataclass(frozen=True)
class LayerCost:
    params: int = 0
    stats: int = 0
    macs: int = 0


def layer_cost(ls: LayerShapes) -> LayerCost:
    layer, t = ls.layer, ls.type
    if t == "Convolution":
        x, y = ls.bottoms[0], ls.tops[0]
        p = layer.convolution_param
        axis = p.axis + len(x) if p.axis < 0 else p.axis
        kernel, _, _, _ = conv_geometry(layer, x)
        per_out = (x[axis] // p.group) * math.prod(kernel)
        weights = p.num_output * per_out
        return LayerCost(params=weights + (p.num_output if p.bias_term else 0), macs=math.prod(y) * per_out)
    if t == "InnerProduct":
        x = ls.bottoms[0]
        p = layer.inner_product_param
        axis = p.axis + len(x) if p.axis < 0 else p.axis
        k = math.prod(x[axis:])
        m = math.prod(x[:axis])
        return LayerCost(params=p.num_output * k + (p.num_output if p.bias_term else 0), macs=m * k * p.num_output)
    if t == "Pooling":
        kernel, _, _ = pooling_geometry(layer, ls.bottoms[0])
        return LayerCost(macs=math.prod(ls.tops[0]) * math.prod(kernel))
    if t == "BatchNorm":
        channels = ls.bottoms[0][1]
        return LayerCost(stats=2 * channels + 1)
    if t == "Scale":
        p = layer.scale_param
        if len(ls.bottoms) == 2:
            bias = math.prod(ls.bottoms[1]) if p.bias_term else 0
            return LayerCost(params=bias, macs=math.prod(ls.tops[0]))
        n = math.prod(scale_shape(layer, ls.bottoms[0]))
        return LayerCost(params=n * (2 if p.bias_term else 1))
    if t == "Axpy":
        return LayerCost(macs=math.prod(ls.tops[0]))
    return LayerCost()
