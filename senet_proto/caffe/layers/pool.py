"""Pooling: its parameters as Caffe's PoolingLayer reads them, Caffe's pooled size and AVE divisors.

Caffe (pooling_layer.cpp): ``out = ceil(float(H + 2p - k) / s) + 1``; then, if a pad is set on ANY axis,
``out -= 1`` on each axis where ``(out - 1) * s >= H + p`` (the last window would start in the padding). AVE
divides by the window clipped to the padded input ``[-p, H + p)``; MAX ignores padding. ``round_mode`` is not a
Caffe 1.0 field (later Caffe added it); only its default, CEIL, is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import PrototxtError, UnsupportedLayerError
from .. import caffe_pb2
from .base import Cost, Layer, LayerSpec, Shape, add, opt, positive, spatial, where

CONVERTED_MODES = ("MAX", "AVE")


@dataclass(frozen=True)
class PoolGeometry:
    """MAX, AVE or STOCHASTIC; kernel, stride, pad per axis (a global pooling's kernel: ``kernel_for``)."""

    mode: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    global_pooling: bool

    def kernel_for(self, h: int, w: int) -> tuple[int, int]:
        return (h, w) if self.global_pooling else self.kernel

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Caffe's pooled size of an ``h`` × ``w`` plane."""
        any_pad = any(self.pad)
        kh, kw = self.kernel_for(h, w)
        return (pooled_size(h, kh, self.stride[0], self.pad[0], any_pad),
                pooled_size(w, kw, self.stride[1], self.pad[1], any_pad))


def _pair(p, single: str, h: str, w: str, default: int | None, layer: Layer) -> tuple[int, int]:
    rep = [int(getattr(p, single))] if p.HasField(single) else []
    return spatial(layer, rep, opt(p, h), opt(p, w), 2, default, single)  # type: ignore[return-value]


def pool_geometry(layer: Layer) -> PoolGeometry:
    """The checks of Caffe's PoolingLayer::LayerSetUp, and the parameters they leave."""
    p = layer.pooling_param
    mode = caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool)
    if p.round_mode != caffe_pb2.PoolingParameter.CEIL:
        raise UnsupportedLayerError(f"{where(layer)}: round_mode FLOOR is not supported (Caffe 1.0, the reference, "
                                    "always rounds up)")
    pad = _pair(p, "pad", "pad_h", "pad_w", 0, layer)
    stride = _pair(p, "stride", "stride_h", "stride_w", 1, layer)
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise PrototxtError(f"{where(layer)}: with global_pooling the kernel size cannot be set")
        if any(pad) or stride != (1, 1):
            raise PrototxtError(f"{where(layer)}: with global_pooling only pad 0 and stride 1 are allowed")
        return PoolGeometry(mode, (0, 0), (1, 1), (0, 0), True)
    kernel = _pair(p, "kernel_size", "kernel_h", "kernel_w", None, layer)
    if min(kernel) <= 0 or min(stride) <= 0:
        raise PrototxtError(f"{where(layer)}: kernel {kernel} and stride {stride} must be positive")
    if any(pd >= k for pd, k in zip(pad, kernel, strict=True)):
        raise PrototxtError(f"{where(layer)}: pad {pad} must be smaller than the kernel {kernel}")
    return PoolGeometry(mode, kernel, stride, pad, False)


def converted_geometry(layer: Layer) -> PoolGeometry:
    """``pool_geometry`` for a converter: MAX and AVE only (STOCHASTIC pooling is random at training time)."""
    g = pool_geometry(layer)
    if g.mode not in CONVERTED_MODES:
        raise UnsupportedLayerError(f"{where(layer)}: pool method {g.mode} is not supported (MAX and AVE are)")
    return g


def pooled_size(size: int, k: int, s: int, p: int, any_pad: bool) -> int:
    """Caffe's pooled size along one axis (float ceil, then the last-window rule when a pad is set on any axis)."""
    out = math.ceil(float(np.float32(size + 2 * p - k) / np.float32(s))) + 1
    if any_pad and (out - 1) * s >= size + p:
        out -= 1
    return out


def ave_divisor(size: int, out: int, k: int, s: int, p: int) -> np.ndarray:
    """Caffe's AVE window sizes along one axis: the window clipped to [-p, size + p), before clipping to the input."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    return (end - start).astype(np.float32)


def _pooling(layer: Layer, b: list[Shape]) -> list[Shape]:
    x = b[0]
    if len(x) != 4:
        raise PrototxtError(f"{where(layer)}: Pooling needs a 4-axis input, got {x}")
    g = pool_geometry(layer)
    tops = [positive((x[0], x[1], *g.out_size(x[2], x[3])), layer)]
    if len(layer.top) == 2:  # MAX pooling may also output the argmax mask
        tops.append(tops[0])
    return tops


def _pool_cost(layer: Layer, b: list[Shape], t: list[Shape]) -> Cost:
    """One op per input element of each window, padding included (a global pooling reads its input once)."""
    return Cost(macs=math.prod(t[0]) * math.prod(pool_geometry(layer).kernel_for(*b[0][2:4])))


add(LayerSpec("Pooling", _pooling, cost=_pool_cost))
