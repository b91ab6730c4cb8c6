"""BatchNorm (Caffe's three blobs; merged with its Scale into one BatchNorm2d), Scale and Bias."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...caffe.layers.norm import uses_global_stats
from ...errors import CaffemodelError
from ..graph import Node, batchnorm_stats
from ..registry import register
from .common import parameter, tensor


class BatchNorm(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that, like Caffe's BatchNorm, also accepts N×C and N×C×... blobs of any rank."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D input)")


@register("BatchNorm")
def batch_norm(node: Node) -> nn.Module:
    p = node.layer.batch_norm_param
    global_stats = uses_global_stats(node.layer)
    gamma = node.attrs.get("gamma")
    beta = node.attrs.get("beta")
    if node.blobs or "mean" in node.attrs:
        mean, var = batchnorm_stats(node)
        channels = int(mean.shape[0])
    else:
        raise CaffemodelError(f"layer '{node.name}' (BatchNorm): has no weights")
    bn = BatchNorm(channels, eps=float(p.eps), affine=gamma is not None, track_running_stats=global_stats)
    if global_stats:
        bn.running_mean = tensor(mean)
        bn.running_var = tensor(var)
    if gamma is not None:
        bn.weight = parameter(gamma)
        bn.bias = parameter(beta if beta is not None else np.zeros_like(gamma))
    bn.eval()
    return bn


def _broadcast(t: torch.Tensor, x: torch.Tensor, axis: int) -> torch.Tensor:
    """``t`` (of shape x.shape[axis:axis+t.dim()]) viewed to broadcast against ``x``."""
    axis = axis % x.dim() if x.dim() else 0
    trailing = x.dim() - axis - t.dim()
    return t.view(*t.shape, *([1] * trailing)) if trailing > 0 else t


class Scale(nn.Module):
    """Caffe's Scale: one bottom times a learned blob (optional bias), or bottom[0] times bottom[1] from ``axis``."""

    def __init__(self, weight: np.ndarray | None, bias: np.ndarray | None, axis: int) -> None:
        super().__init__()
        self.axis = axis
        self.weight = parameter(weight) if weight is not None else None
        self.bias = parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        s = scale if scale is not None else self.weight
        assert s is not None
        s = _broadcast(s, x, self.axis)
        if self.bias is None:
            return x * s
        return torch.addcmul(_broadcast(self.bias, x, self.axis), x, s)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, bias={self.bias is not None}"


@register("Scale")
def scale(node: Node) -> nn.Module:
    p = node.layer.scale_param
    where = f"layer '{node.name}' (Scale)"
    if len(node.bottoms) > 1:
        if len(node.blobs) != (1 if p.bias_term else 0):
            raise CaffemodelError(f"{where}: expected {int(p.bias_term)} blob(s), got {len(node.blobs)}")
        return Scale(None, node.blobs[0] if node.blobs else None, int(p.axis))
    if not node.blobs:
        raise CaffemodelError(f"{where}: has no weights")
    return Scale(node.blobs[0], node.blobs[1] if len(node.blobs) > 1 else None, int(p.axis))


class Bias(nn.Module):
    """Caffe's Bias: one bottom plus a learned blob, or bottom[0] plus bottom[1] from ``axis``."""

    def __init__(self, bias: np.ndarray | None, axis: int) -> None:
        super().__init__()
        self.axis = axis
        self.bias = parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b = bias if bias is not None else self.bias
        assert b is not None
        return x + _broadcast(b, x, self.axis)


@register("Bias")
def bias(node: Node) -> nn.Module:
    p = node.layer.bias_param
    if len(node.bottoms) > 1:
        return Bias(None, int(p.axis))
    if not node.blobs:
        raise CaffemodelError(f"layer '{node.name}' (Bias): has no weights")
    return Bias(node.blobs[0], int(p.axis))
