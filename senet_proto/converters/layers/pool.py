"""Pooling with Caffe's output size and averaging rules (the catalogue's ``caffe.layers.pool``).

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

from ...caffe.layers.pool import PoolGeometry, ave_divisor, converted_geometry
from ..graph import Node
from ..registry import register

FLT_MAX = float(np.finfo(np.float32).max)


def torch_pool_size(size: int, k: int, s: int, p: int) -> int:
    """PyTorch's ceil_mode pooled size (pooling_output_shape)."""
    out = (size + 2 * p - k + (s - 1)) // s + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


class Pooling(nn.Module):
    def __init__(self, geometry: PoolGeometry) -> None:
        super().__init__()
        self.geometry = geometry
        self.mode = geometry.mode
        self.kernel = geometry.kernel
        self.stride = geometry.stride
        self.pad = geometry.pad
        self.global_pooling = geometry.global_pooling
        self._plans: dict[tuple[int, int], tuple[bool, tuple[int, int], torch.Tensor | None]] = {}

    def extra_repr(self) -> str:
        if self.global_pooling:
            return f"{self.mode}, global"
        return f"{self.mode}, kernel={self.kernel}, stride={self.stride}, pad={self.pad}"

    def _plan(self, h: int, w: int) -> tuple[bool, tuple[int, int], torch.Tensor | None]:
        plan = self._plans.get((h, w))
        if plan is not None:
            return plan
        outs = self.geometry.out_size(h, w)
        if min(outs) <= 0:
            raise ValueError(f"pooling a {h}x{w} blob with kernel {self.kernel}, pad {self.pad} gives size {outs}")
        native = all(
            o == torch_pool_size(n, k, s, p) and p <= k // 2
            for o, n, k, s, p in zip(outs, (h, w), self.kernel, self.stride, self.pad, strict=True)
        )
        divisor = None
        if not native and self.mode == "AVE":
            dh, dw = (ave_divisor(n, o, k, s, p)
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
    return Pooling(converted_geometry(node.layer))
