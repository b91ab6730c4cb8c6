"""Pooling with Caffe's output size and averaging rules.

Caffe (pooling_layer.cpp): ``out = ceil((H + 2p - k) / s) + 1``; then, if any pad
is non-zero, ``out -= 1`` on each axis where ``(out - 1) * s >= H + p``. AVE
divides by the window clipped to the padded input ``[-p, H + p)`` (padding
counts, area beyond it does not); MAX ignores padding.

PyTorch's ``ceil_mode=True, count_include_pad=True`` computes the same when its
output size equals Caffe's and ``p <= k / 2`` (its own limit); that is checked
per input size and the fast native call is used. Otherwise (e.g. stride larger
than the kernel without padding, where PyTorch drops the last window that Caffe
keeps, or pad > k/2) Caffe's rule runs explicitly: pad the input to the
extent Caffe's windows reach, pool without padding, and divide AVE sums by
Caffe's window sizes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...caffe import caffe_pb2
from ...errors import PrototxtError, UnsupportedLayerError
from ..graph import Node
from ..params import caffe_ave_divisor, caffe_pool_size, per_axis_pool, torch_pool_size
from ..registry import register

FLT_MAX = float(np.finfo(np.float32).max)








class Pooling(nn.Module):
    def __init__(self, mode: str, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                 global_pooling: bool) -> None:
        super().__init__()
        self.mode = mode
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.global_pooling = global_pooling
        self._plans: dict[tuple[int, int], tuple[bool, tuple[int, int], torch.Tensor | None]] = {}

    def extra_repr(self) -> str:
        if self.global_pooling:
            return f"{self.mode}, global"
        return f"{self.mode}, kernel={self.kernel}, stride={self.stride}, pad={self.pad}"

    def _plan(self, h: int, w: int) -> tuple[bool, tuple[int, int], torch.Tensor | None]:
        plan = self._plans.get((h, w))
        if plan is not None:
            return plan
        any_pad = any(self.pad)
        outs = tuple(caffe_pool_size(n, k, s, p, any_pad)
                     for n, k, s, p in zip((h, w), self.kernel, self.stride, self.pad, strict=True))
        if min(outs) <= 0:
            raise ValueError(f"pooling a {h}x{w} blob with kernel {self.kernel}, pad {self.pad} gives size {outs}")
        native = all(
            o == torch_pool_size(n, k, s, p) and p <= k // 2
            for o, n, k, s, p in zip(outs, (h, w), self.kernel, self.stride, self.pad, strict=True)
        )
        divisor = None
        if not native and self.mode == "AVE":
            dh, dw = (caffe_ave_divisor(n, o, k, s, p)
                      for n, o, k, s, p in zip((h, w), outs, self.kernel, self.stride, self.pad, strict=True))
            divisor = torch.from_numpy(np.outer(dh, dw))
        plan = (native, (int(outs[0]), int(outs[1])), divisor)
        self._plans[(h, w)] = plan
        return plan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_pooling:
            if self.mode == "MAX":
                return x.amax(dim=(-2, -1), keepdim=True)
            return x.mean(dim=(-2, -1), keepdim=True)
        native, outs, divisor = self._plan(int(x.shape[-2]), int(x.shape[-1]))
        if native:
            if self.mode == "MAX":
                return F.max_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=True)
            return F.avg_pool2d(x, self.kernel, self.stride, self.pad, ceil_mode=True, count_include_pad=True)
        # Caffe's rule, explicitly: pad to the extent Caffe's windows reach, pool without padding.
        extra = [(o - 1) * s + k - p - n for o, s, k, p, n in
                 zip(outs, self.stride, self.kernel, self.pad, x.shape[-2:], strict=True)]
        pads = (self.pad[1], extra[1], self.pad[0], extra[0])
        if self.mode == "MAX":
            xp = F.pad(x, pads, value=-FLT_MAX)
            return F.max_pool2d(xp, self.kernel, self.stride)
        assert divisor is not None
        xp = F.pad(x, pads, value=0.0)
        sums = F.avg_pool2d(xp, self.kernel, self.stride, divisor_override=1)
        return sums / divisor.to(device=x.device, dtype=x.dtype)


@register("Pooling")
def pooling(node: Node) -> nn.Module:
    p = node.layer.pooling_param
    where = f"layer '{node.name}' (Pooling)"
    modes = {caffe_pb2.PoolingParameter.MAX: "MAX", caffe_pb2.PoolingParameter.AVE: "AVE"}
    if p.pool not in modes:
        raise UnsupportedLayerError(f"{where}: pool method {caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool)} "
                                    "is not supported (MAX and AVE are)")
    pad = per_axis_pool(p, "pad", "pad_h", "pad_w", 0, where)
    stride = per_axis_pool(p, "stride", "stride_h", "stride_w", 1, where)
    if p.global_pooling:
        if any(pad) or any(s != 1 for s in stride):
            raise PrototxtError(f"{where}: with global_pooling: true; only pad = 0 and stride = 1")
        return Pooling(modes[p.pool], (1, 1), (1, 1), (0, 0), True)
    if not (p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w")):
        raise PrototxtError(f"{where}: kernel_size (or kernel_h and kernel_w) is required")
    kernel = per_axis_pool(p, "kernel_size", "kernel_h", "kernel_w", 0, where)
    if min(kernel) <= 0 or min(stride) <= 0:
        raise PrototxtError(f"{where}: kernel {kernel} and stride {stride} must be positive")
    if any(pp >= k for pp, k in zip(pad, kernel, strict=True)):
        raise PrototxtError(f"{where}: pad {pad} must be smaller than kernel {kernel}")
    return Pooling(modes[p.pool], kernel, stride, pad, False)




__all__ = ["Pooling", "caffe_pool_size", "torch_pool_size"]
