"""Convolution (groups, dilation, per-axis kernel/stride/pad, bias or not) and InnerProduct (axis, transpose)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import CaffemodelError, PrototxtError
from ..graph import Node
from ..params import canonical_axis, per_axis
from ..registry import register
from .common import parameter

_CONV: dict[int, Any] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


@register("Convolution")
def convolution(node: Node) -> nn.Module:
    p = node.layer.convolution_param
    where = f"layer '{node.name}' (Convolution)"
    if p.axis != 1:
        raise PrototxtError(f"{where}: only axis 1 (channels) is supported, got {p.axis}")
    if not node.blobs:
        raise CaffemodelError(f"{where}: has no weights")
    w = node.blobs[0]
    n = w.ndim - 2
    if n not in _CONV:
        raise PrototxtError(f"{where}: {n}-D convolution is not supported")
    kernel = per_axis(p, "kernel_size", "kernel_h", "kernel_w", 0, n, where)
    stride = per_axis(p, "stride", "stride_h", "stride_w", 1, n, where)
    pad = per_axis(p, "pad", "pad_h", "pad_w", 0, n, where)
    dilation = per_axis(p, "dilation", "", "", 1, n, where)
    if tuple(w.shape[2:]) != kernel:
        raise CaffemodelError(f"{where}: weight shape {tuple(w.shape)} does not match kernel {kernel}")
    group = int(p.group) or 1
    out_ch = int(w.shape[0])
    if out_ch != p.num_output or out_ch % group:
        raise CaffemodelError(f"{where}: weight shape {tuple(w.shape)} does not fit num_output {p.num_output} "
                              f"and group {group}")
    has_bias = len(node.blobs) > 1
    conv = _CONV[n](int(w.shape[1]) * group, out_ch, kernel, stride=stride, padding=pad, dilation=dilation,
                    groups=group, bias=has_bias, device="meta")
    conv.weight = parameter(w)  # built on the meta device: no wasted random init
    if has_bias:
        conv.bias = parameter(node.blobs[1].reshape(-1))
    return conv


class InnerProduct(nn.Linear):
    """Caffe's InnerProduct: flatten from ``axis``, then a linear map (weight stored as (num_output, K))."""

    def __init__(self, in_features: int, out_features: int, bias: bool, axis: int,
                 device: str | torch.device | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device)
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.dim()
        if x.dim() != axis + 1:
            x = x.flatten(axis)
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", axis={self.axis}" if self.axis != 1 else "")


@register("InnerProduct")
def inner_product(node: Node) -> nn.Module:
    p = node.layer.inner_product_param
    where = f"layer '{node.name}' (InnerProduct)"
    if not node.blobs:
        raise CaffemodelError(f"{where}: has no weights")
    w = node.blobs[0]
    w = w.reshape(w.shape[-2:]) if w.ndim > 2 else w
    if p.transpose:
        w = w.T
    if w.ndim != 2 or w.shape[0] != p.num_output:
        raise CaffemodelError(f"{where}: weight shape {tuple(node.blobs[0].shape)} does not fit num_output "
                              f"{p.num_output}{' (transpose)' if p.transpose else ''}")
    has_bias = len(node.blobs) > 1
    layer = InnerProduct(int(w.shape[1]), int(w.shape[0]), has_bias, int(p.axis), device="meta")
    canonical_axis(int(p.axis), 64, where)  # range check only; the real rank is known at run time
    layer.weight = parameter(w)
    if has_bias:
        layer.bias = parameter(node.blobs[1].reshape(-1))
    return layer
