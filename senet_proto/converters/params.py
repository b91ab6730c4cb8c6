"""Caffe parameter arithmetic shared by every target (PyTorch, ONNX): no torch import here.

Axis canonicalisation, per-axis kernel/stride/pad reading, Caffe's pooled sizes and AVE divisors, and its
Reshape rule. Keeping these free of torch lets the ONNX exporter run without loading PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PrototxtError


def canonical_axis(axis: int, ndim: int, where: str) -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -ndim <= axis < ndim:
        raise PrototxtError(f"{where}: axis {axis} out of range for a {ndim}-D blob")
    return axis % ndim


def per_axis(param, single: str, h: str, w: str, default: int, n: int, where: str) -> tuple[int, ...]:
    """Caffe's reading of kernel/stride/pad/dilation: ``x_h``/``x_w`` or a repeated field (one value or per axis)."""
    if h and (param.HasField(h) or param.HasField(w)):
        if n != 2:
            raise PrototxtError(f"{where}: {h}/{w} only apply to 2-D spatial blobs")
        return (int(getattr(param, h)), int(getattr(param, w)))
    vals = [int(v) for v in getattr(param, single)]
    if not vals:
        return (default,) * n
    if len(vals) == 1:
        return (vals[0],) * n
    if len(vals) != n:
        raise PrototxtError(f"{where}: {single} has {len(vals)} values for {n} spatial axes")
    return tuple(vals)


def caffe_pool_size(size: int, k: int, s: int, p: int, any_pad: bool) -> int:
    """Caffe's pooled size along one axis (float ceil, then the last-window rule when any pad is set)."""
    out = math.ceil(float(np.float32(size + 2 * p - k) / np.float32(s))) + 1
    if any_pad and (out - 1) * s >= size + p:
        out -= 1
    return out


def torch_pool_size(size: int, k: int, s: int, p: int) -> int:
    """PyTorch's ceil_mode pooled size (pooling_output_shape)."""
    out = (size + 2 * p - k + (s - 1)) // s + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


def caffe_ave_divisor(size: int, out: int, k: int, s: int, p: int) -> np.ndarray:
    """Caffe's AVE window sizes along one axis: the window clipped to [-p, size + p), before clipping to the input."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    return (end - start).astype(np.float32)


def per_axis_pool(p, single: str, h: str, w: str, default: int, where: str) -> tuple[int, int]:
    """PoolingParameter's scalar kernel_size/pad/stride or their _h/_w pairs, read as Caffe's LayerSetUp does."""
    if p.HasField(single) and (p.HasField(h) or p.HasField(w)):
        raise PrototxtError(f"{where}: {single} OR {h} and {w}; not both")
    if p.HasField(h) != p.HasField(w) and single == "kernel_size":
        raise PrototxtError(f"{where}: both {h} and {w} are required")
    if p.HasField(h) or p.HasField(w):
        return int(getattr(p, h)), int(getattr(p, w))
    v = int(getattr(p, single)) if p.HasField(single) else default
    return v, v


def caffe_reshape(shape: tuple[int, ...], dims: tuple[int, ...], axis: int, num_axes: int) -> tuple[int, ...]:
    """Caffe's ReshapeLayer::Reshape on a shape (dims: 0 copies the input dim, -1 is inferred)."""
    ndim = len(shape)
    start = axis if axis >= 0 else ndim + axis + 1
    if not 0 <= start <= ndim:
        raise ValueError(f"reshape axis {axis} out of range for a {ndim}-D blob")
    end = ndim if num_axes == -1 else start + num_axes
    if end > ndim:
        raise ValueError(f"reshape axis {axis} + num_axes {num_axes} beyond the {ndim}-D blob")
    new = list(shape[:start])
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= ndim:
                raise ValueError(f"reshape dim {i} copies input axis {start + i}, which does not exist")
            new.append(shape[start + i])
        else:
            new.append(d)
    new.extend(shape[end:])
    if -1 in new:
        known = 1
        for d in new:
            if d != -1:
                known *= d
        total = 1
        for d in shape:
            total *= d
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {shape} to {tuple(new)}")
        new[new.index(-1)] = total // known
    return tuple(new)
