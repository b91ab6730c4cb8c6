"""Convolution (groups, dilation, per-axis kernel/stride/pad, bias or not) and InnerProduct (axis, transpose)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...caffe.layers import canonical_axis
from ...caffe.layers.conv import conv_geometry
from ...errors import CaffemodelError, PrototxtError
from ..graph import Node
from ..registry import register
from .common import parameter

# the ops PyTorch's inference freezing uses on the CPU (torch/_inductor/fx_passes/mkldnn_fusion.py)
_MKLDNN_PACKING = hasattr(torch.ops.mkldnn, "_reorder_convolution_weight") and hasattr(
    torch.ops.mkldnn, "_convolution_pointwise")


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that can run CPU float32 inference on a weight reordered once for oneDNN ("prepacked").

    Eager ``nn.Conv2d`` hands oneDNN the plain weight on every call and oneDNN reorders it into its blocked
    layout each time (its measured share of the time: bench/README.md). With ``prepack`` set (opt-in:
    ``CaffeNetModule.optimize_for_inference()``) the reordered weight is made on the first call and kept outside
    the state dict (one more copy of the weights in memory) until the weight's data is replaced or changed in
    place through the parameter (its version counter), the way PyTorch's inference freezing prepacks. Edits
    through ``weight.data``, and in-place edits of weights made under ``torch.inference_mode`` (no version
    counter), are invisible to that check: call ``optimize_for_inference()`` again after them.
    Autograd, other devices and dtypes, tracing and compiling take ``nn.Conv2d``'s path unchanged, as does
    everything under ``torch.backends.mkldnn.flags(enabled=False)``.
    """

    prepack = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (the weight data it was made from, kept alive so its address is not reused; its version; packed weight)
        self._packed: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles leave the packed weight (an opaque tensor) out
        state = dict(self.__dict__)
        state["_packed"] = None
        return state

    def _use_packed(self, x: torch.Tensor) -> bool:
        w = self.weight
        return (self.prepack and _MKLDNN_PACKING and type(x) is torch.Tensor and x.dim() == 4
                and x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == torch.float32
                and w.device.type == "cpu" and self.padding_mode == "zeros" and not isinstance(self.padding, str)
                and not (torch.is_grad_enabled() and (w.requires_grad or x.requires_grad))
                and torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled()
                and not torch.jit.is_tracing() and not torch.compiler.is_compiling())

    def packed_weight(self, input_shape: list[int]) -> torch.Tensor:
        """The weight in oneDNN's layout (made for ``input_shape`` on first use, valid for any shape)."""
        w = self.weight
        cached = self._packed
        version = -1 if w.is_inference() else w._version  # inference tensors keep no version counter
        if cached is None or cached[0].data_ptr() != w.data_ptr() or cached[1] != version:
            with torch.no_grad():
                data = w.detach()
                packed = torch.ops.mkldnn._reorder_convolution_weight(
                    data, list(self.padding), list(self.stride), list(self.dilation), self.groups, input_shape)
            cached = self._packed = (data, version, packed)
        return cached[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._use_packed(x):
            return super().forward(x)
        return torch.ops.mkldnn._convolution_pointwise(x, self.packed_weight(list(x.shape)), self.bias,
                                                       list(self.padding), list(self.stride), list(self.dilation),
                                                       self.groups, "none", [], "")


def prepack_convolutions(module: nn.Module, enabled: bool = True) -> int:
    """Set ``prepack`` on every ``Conv2d`` in ``module`` and drop their packed weights; returns how many."""
    n = 0
    for m in module.modules():
        if isinstance(m, Conv2d):
            m.prepack = enabled
            m._packed = None
            n += 1
    return n


_CONV: dict[int, Any] = {1: nn.Conv1d, 2: Conv2d, 3: nn.Conv3d}


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
    g = conv_geometry(node.layer, n)
    if tuple(w.shape[2:]) != g.kernel:
        raise CaffemodelError(f"{where}: weight shape {tuple(w.shape)} does not match kernel {g.kernel}")
    out_ch = int(w.shape[0])
    if out_ch != g.num_output:
        raise CaffemodelError(f"{where}: weight shape {tuple(w.shape)} does not fit num_output {p.num_output} "
                              f"and group {g.group}")
    has_bias = len(node.blobs) > 1
    conv = _CONV[n](int(w.shape[1]) * g.group, out_ch, g.kernel, stride=g.stride, padding=g.pad,
                    dilation=g.dilation, groups=g.group, bias=has_bias, device="meta")
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
    canonical_axis(int(p.axis), 64, node.layer)  # range check only; the real rank is known at run time
    layer.weight = parameter(w)
    if has_bias:
        layer.bias = parameter(node.blobs[1].reshape(-1))
    return layer
