"""BatchNorm (stored or batch statistics), Scale and Bias (Caffe's broadcast from an axis)."""

from __future__ import annotations

import numpy as np

from ....caffe.layers import canonical_axis
from ....caffe.layers.norm import uses_global_stats
from ...graph import Node, batchnorm_stats
from ..builder import OnnxBuilder
from .common import register


@register("BatchNorm")
def batch_norm(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.batch_norm_param
    eps = float(p.eps)
    gamma = node.attrs.get("gamma")
    beta = node.attrs.get("beta")
    if not uses_global_stats(node.layer):
        x = b.input(node.bottoms[0])
        shape = b.shape(node.bottoms[0])
        axes = [0, *range(2, len(shape))]
        c = shape[1]
        per_channel = [1, c] + [1] * (len(shape) - 2)
        m_, centred, sq, v_, var_eps, std = (b.temp(node, w) for w in
                                             ("mean", "centred", "sq", "var", "var_eps", "std"))
        b.add("ReduceMean", [x], [m_], node, axes=axes, keepdims=1)
        b.add("Sub", [x, m_], [centred], node)
        b.add("Mul", [centred, centred], [sq], node)
        b.add("ReduceMean", [sq], [v_], node, axes=axes, keepdims=1)
        b.add("Add", [v_, b.const(node, "eps", np.array(eps, np.float32))], [var_eps], node)
        b.add("Sqrt", [var_eps], [std], node)
        norm = b.temp(node, "norm") if gamma is not None else b.output(node, node.tops[0])
        b.add("Div", [centred, std], [norm], node)
        if gamma is not None:
            scaled = b.temp(node, "scaled")
            b.add("Mul", [norm, b.const(node, "gamma", gamma.reshape(per_channel))], [scaled], node)
            beta_arr = np.zeros(c, np.float32) if beta is None else beta
            b.add("Add", [scaled, b.const(node, "beta", beta_arr.reshape(per_channel))],
                  [b.output(node, node.tops[0])], node)
        return
    mean, var = batchnorm_stats(node)
    c = mean.shape[0]
    gamma = np.ones(c, np.float32) if gamma is None else gamma
    beta = np.zeros(c, np.float32) if beta is None else beta
    inputs = [b.input(node.bottoms[0]), b.const(node, "gamma", gamma), b.const(node, "beta", beta),
              b.const(node, "mean", mean), b.const(node, "var", var)]
    b.add("BatchNormalization", inputs, [b.output(node, node.tops[0])], node, epsilon=eps)


def _broadcast_shape(x_shape: tuple[int, ...], s_shape: tuple[int, ...], axis: int) -> list[int]:
    return [1] * axis + list(s_shape) + [1] * (len(x_shape) - axis - len(s_shape))


def _broadcast_dims(b: OnnxBuilder, x: str, s: str, axis: int) -> list[int]:
    """Reshape target that lines blob ``s`` up with blob ``x`` from ``axis`` (Caffe's Scale/Bias broadcast)."""
    s_batch = b.batch_axis(s)
    at = None if s_batch is None else axis + s_batch
    return b.reshape_dims(_broadcast_shape(b.shape(x), b.shape(s), axis), at, s_batch)


def _broadcast_second_bottom(node: Node, b: OnnxBuilder, axis: int, name: str) -> str:
    """Reshape the second bottom of a Scale/Bias into temp ``name`` (target const ``name_shape``) so that it
    broadcasts over the first bottom from ``axis``; the temp's ONNX name."""
    out = b.temp(node, name)
    dims = _broadcast_dims(b, node.bottoms[0], node.bottoms[1], axis)
    b.add("Reshape", [b.input(node.bottoms[1]), b.const(node, f"{name}_shape", dims, np.int64)], [out], node)
    return out


@register("Scale")
def scale(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.scale_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis, len(x_shape), node.layer)
    x = b.input(node.bottoms[0])
    if len(node.bottoms) == 2:
        factor = _broadcast_second_bottom(node, b, axis, "factor")
        blobs = node.blobs
    else:
        gamma = node.blobs[0]
        factor = b.const(node, "gamma", gamma.reshape(_broadcast_shape(x_shape, gamma.shape, axis)))
        blobs = node.blobs[1:]
    has_bias = len(blobs) > 0
    scaled = b.temp(node, "scaled") if has_bias else b.output(node, node.tops[0])
    b.add("Mul", [x, factor], [scaled], node)
    if has_bias:
        bias = b.const(node, "beta", blobs[0].reshape(_broadcast_shape(x_shape, blobs[0].shape, axis)))
        b.add("Add", [scaled, bias], [b.output(node, node.tops[0])], node)


@register("Bias")
def bias(node: Node, b: OnnxBuilder) -> None:
    p = node.layer.bias_param
    x_shape = b.shape(node.bottoms[0])
    axis = canonical_axis(p.axis, len(x_shape), node.layer)
    if len(node.bottoms) == 2:
        term = _broadcast_second_bottom(node, b, axis, "bias")
    else:
        term = b.const(node, "bias", node.blobs[0].reshape(_broadcast_shape(x_shape, node.blobs[0].shape, axis)))
    b.add("Add", [b.input(node.bottoms[0]), term], [b.output(node, node.tops[0])], node)
