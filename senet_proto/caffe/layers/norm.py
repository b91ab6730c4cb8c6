"""BatchNorm (its three blobs, the factor rule, the use_global_stats default), Scale, Bias and PReLU."""

from __future__ import annotations

import math

import numpy as np

from ...errors import PrototxtError
from .base import Cost, Layer, LayerSpec, Shape, add, canonical_axis, where


def uses_global_stats(layer: Layer) -> bool:
    """Caffe's default: stored statistics in the TEST phase (the only phase converted here)."""
    p = layer.batch_norm_param
    return bool(p.use_global_stats) if p.HasField("use_global_stats") else True


def bn_statistics(mean: np.ndarray, var: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's use of the three BatchNorm blobs: mean = blob0 / f, var = blob1 / f, with 1/0 taken as 0."""
    f = np.float32(factor.reshape(-1)[0])
    k = np.float32(0) if f == 0 else np.float32(1) / f
    return (mean.reshape(-1) * k).astype(np.float32), (var.reshape(-1) * k).astype(np.float32)


def _batch_norm(layer: Layer, b: list[Shape]) -> list[Shape]:
    if len(b[0]) < 2:
        raise PrototxtError(f"{where(layer)}: BatchNorm needs a channel axis, got {b[0]}")
    return [b[0]]


def _bn_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    c = blobs[0].size if blobs else None
    return [(c,), (c,), (1,)]


def _bn_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    """Mean and variance per channel (axis 1; a 1-axis input: one channel) and the moving-average factor."""
    c = 1 if len(b[0]) == 1 else b[0][1]
    return [(c,), (c,), (1,)]


def scale_shape(layer: Layer, x: Shape) -> Shape:
    """Shape of a one-bottom Scale's (or Bias's) learnt blob over input ``x``."""
    p = layer.bias_param if layer.type == "Bias" else layer.scale_param
    axis = canonical_axis(p.axis, len(x), layer)
    if p.num_axes < -1:
        raise PrototxtError(f"{where(layer)}: num_axes must be -1 or non-negative")
    end = len(x) if p.num_axes == -1 else axis + p.num_axes
    if end > len(x):
        raise PrototxtError(f"{where(layer)}: num_axes {p.num_axes} from axis {axis} exceeds the input {x}")
    return tuple(x[axis:end])


def broadcast_axis(layer: Layer, x: Shape, s: Shape) -> int:
    """The axis of ``x`` where a Scale/Bias's second bottom ``s`` starts (a scalar second bottom: 0)."""
    p = layer.bias_param if layer.type == "Bias" else layer.scale_param
    axis = canonical_axis(p.axis, len(x), layer) if s else 0
    if tuple(x[axis: axis + len(s)]) != tuple(s):
        raise PrototxtError(f"{where(layer)}: second bottom {s} does not match input {x} from axis {axis}")
    return axis


def _scale(layer: Layer, b: list[Shape]) -> list[Shape]:
    if len(b) == 2:
        broadcast_axis(layer, b[0], b[1])
    else:
        scale_shape(layer, b[0])
    return [b[0]]


def _scale_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    if len(layer.bottom) > 1:
        return [(None,)] * (1 if layer.scale_param.bias_term else 0)
    n = 2 if layer.scale_param.bias_term else 1
    return [tuple(blobs[0].shape) if blobs else (None,)] * n


def _scale_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    """One bottom: the scale over ``axis``/``num_axes`` (and a bias alike); two bottoms: only the bias, shaped as
    the second bottom."""
    bias = layer.scale_param.bias_term
    if len(b) == 2:
        return [b[1]] if bias else []
    return [scale_shape(layer, b[0])] * (2 if bias else 1)


def _scale_cost(layer: Layer, b: list[Shape], t: list[Shape]) -> Cost:
    """Two bottoms (the SE excitation x·s): one MAC per output element; one bottom folds into a convolution."""
    return Cost(macs=math.prod(t[0])) if len(b) == 2 else Cost()


def _bias_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    return [] if len(layer.bottom) > 1 else [tuple(blobs[0].shape) if blobs else (None,)]


def _bias_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    return [] if len(b) == 2 else [scale_shape(layer, b[0])]


def _prelu(layer: Layer, b: list[Shape]) -> list[Shape]:
    if len(b[0]) < 2:
        raise PrototxtError(f"{where(layer)}: PReLU needs a channel axis, got {b[0]}")
    return [b[0]]


def _prelu_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    """One slope per channel (axis 1), or one for all with channel_shared (a 0-axis blob in Caffe)."""
    return [()] if layer.prelu_param.channel_shared else [(None,)]


def _prelu_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    return [()] if layer.prelu_param.channel_shared else [(b[0][1],)]


add(
    # statistics, not parameters; no multiply-adds (at inference they fold into the convolution before)
    LayerSpec("BatchNorm", _batch_norm, blobs=_bn_blobs, made=_bn_made, statistics=True, in_place=True),
    LayerSpec("Scale", _scale, (1, 2), blobs=_scale_blobs, made=_scale_made, cost=_scale_cost, in_place=True),
    LayerSpec("Bias", _scale, (1, 2), blobs=_bias_blobs, made=_bias_made, in_place=True),
    LayerSpec("PReLU", _prelu, blobs=_prelu_blobs, made=_prelu_made, in_place=True),
)
