"""Convolution, Deconvolution and InnerProduct: geometry, shape rules, blobs, multiply-adds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import PrototxtError
from .base import Cost, Layer, LayerSpec, Shape, add, canonical_axis, opt, positive, spatial, where


@dataclass(frozen=True)
class ConvGeometry:
    """A Convolution's parameters read as Caffe's BaseConvolutionLayer reads them, per spatial axis."""

    axis: int
    kernel: tuple[int, ...]
    pad: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    group: int
    num_output: int
    bias_term: bool

    def out_size(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        """Caffe's convolution output size over the spatial ``sizes`` (floor rounding)."""
        return tuple((size + 2 * pd - (dl * (k - 1) + 1)) // s + 1 for size, k, pd, s, dl
                     in zip(sizes, self.kernel, self.pad, self.stride, self.dilation, strict=True))


def conv_geometry(layer: Layer, n: int, axis: int = 1) -> ConvGeometry:
    """The geometry of a convolution over ``n`` spatial axes (channels at the canonical ``axis``)."""
    p = layer.convolution_param
    if n < 1:
        raise PrototxtError(f"{where(layer)}: the input has no spatial axes after axis {axis}")
    kernel = spatial(layer, p.kernel_size, opt(p, "kernel_h"), opt(p, "kernel_w"), n, None, "kernel")
    pad = spatial(layer, p.pad, opt(p, "pad_h"), opt(p, "pad_w"), n, 0, "pad")
    stride = spatial(layer, p.stride, opt(p, "stride_h"), opt(p, "stride_w"), n, 1, "stride")
    dilation = spatial(layer, p.dilation, None, None, n, 1, "dilation")
    if min(kernel) <= 0 or min(stride) <= 0 or min(dilation) <= 0:
        raise PrototxtError(f"{where(layer)}: kernel, stride and dilation must be positive")
    if not p.HasField("num_output") or p.num_output == 0:
        raise PrototxtError(f"{where(layer)}: num_output must be positive")
    if p.group == 0 or p.num_output % p.group:
        raise PrototxtError(f"{where(layer)}: group {p.group} must divide num_output ({p.num_output})")
    return ConvGeometry(axis, kernel, pad, stride, dilation, int(p.group), int(p.num_output), bool(p.bias_term))


def _bottom_geometry(layer: Layer, x: Shape) -> ConvGeometry:
    axis = canonical_axis(layer.convolution_param.axis, len(x), layer)
    g = conv_geometry(layer, len(x) - axis - 1, axis)
    if x[axis] % g.group:
        raise PrototxtError(f"{where(layer)}: group {g.group} must divide the input channels ({x[axis]}) "
                            f"and num_output ({g.num_output})")
    return g


def _convolution(layer: Layer, b: list[Shape]) -> list[Shape]:
    x = b[0]
    g = _bottom_geometry(layer, x)
    return [positive((*x[:g.axis], g.num_output, *g.out_size(x[g.axis + 1:])), layer)]


def _deconvolution(layer: Layer, b: list[Shape]) -> list[Shape]:
    x = b[0]
    g = _bottom_geometry(layer, x)
    out = [s * (size - 1) + dl * (k - 1) + 1 - 2 * pd
           for size, k, pd, s, dl in zip(x[g.axis + 1:], g.kernel, g.pad, g.stride, g.dilation, strict=True)]
    return [positive((*x[:g.axis], g.num_output, *out), layer)]


def _conv_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    """Weight (num_output, C/group, *kernel) (Deconvolution: (C, num_output/group, *kernel)), bias (num_output,)."""
    p = layer.convolution_param
    n = blobs[0].ndim - 2 if blobs and blobs[0].ndim >= 3 else 2
    try:
        kernel: tuple[int | None, ...] = conv_geometry(layer, n).kernel
    except PrototxtError:
        kernel = (None,) * n  # judged by shape inference and the converters, which know the input
    group = p.group or 1
    w = (None, p.num_output // group, *kernel) if layer.type == "Deconvolution" else (p.num_output, None, *kernel)
    return [w, (p.num_output,)] if p.bias_term else [w]


def _conv_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    """Caffe's BaseConvolutionLayer::LayerSetUp: weight (num_output, C/group, *kernel), Deconvolution
    (C, num_output/group, *kernel); bias (num_output,)."""
    g = _bottom_geometry(layer, b[0])
    c = b[0][g.axis]
    w = (c, g.num_output // g.group, *g.kernel) if layer.type == "Deconvolution" else \
        (g.num_output, c // g.group, *g.kernel)
    return [w, (g.num_output,)] if g.bias_term else [w]


def _conv_cost(layer: Layer, b: list[Shape], t: list[Shape]) -> Cost:
    x = b[0]
    g = _bottom_geometry(layer, x)
    per_out = (x[g.axis] // g.group) * math.prod(g.kernel)
    # Deconvolution: one MAC per weight per input position
    positions = math.prod(t[0]) if layer.type == "Convolution" else math.prod(x) // x[g.axis] * g.num_output
    return Cost(macs=positions * per_out)


def _inner_product(layer: Layer, b: list[Shape]) -> list[Shape]:
    p = layer.inner_product_param
    if not p.HasField("num_output") or p.num_output == 0:
        raise PrototxtError(f"{where(layer)}: num_output must be positive")
    axis = canonical_axis(p.axis, len(b[0]), layer)
    return [(*b[0][:axis], p.num_output)]


def _ip_blobs(layer: Layer, blobs: list[np.ndarray]) -> list[tuple[int | None, ...]]:
    p = layer.inner_product_param
    w = (None, p.num_output) if p.transpose else (p.num_output, None)
    return [w, (p.num_output,)] if p.bias_term else [w]


def _ip_made(layer: Layer, b: list[Shape]) -> list[Shape]:
    """Caffe's InnerProductLayer::LayerSetUp: weight (N, K) (transpose: (K, N)), K the size from ``axis`` on;
    bias (N,)."""
    p = layer.inner_product_param
    n, k = int(p.num_output), math.prod(b[0][canonical_axis(p.axis, len(b[0]), layer):])
    w = (k, n) if p.transpose else (n, k)
    return [w, (n,)] if p.bias_term else [w]


def _ip_cost(layer: Layer, b: list[Shape], t: list[Shape]) -> Cost:
    x = b[0]
    p = layer.inner_product_param
    axis = canonical_axis(p.axis, len(x), layer)
    k, m = math.prod(x[axis:]), math.prod(x[:axis])
    return Cost(macs=m * k * p.num_output)


_NO_DECONV = "no converter for Deconvolution yet"
add(
    LayerSpec("Convolution", _convolution, blobs=_conv_blobs, made=_conv_made, cost=_conv_cost),
    LayerSpec("Deconvolution", _deconvolution, blobs=_conv_blobs, made=_conv_made, cost=_conv_cost,
              refused={"pytorch": _NO_DECONV, "onnx": _NO_DECONV}),
    LayerSpec("InnerProduct", _inner_product, blobs=_ip_blobs, made=_ip_made, cost=_ip_cost),
)
