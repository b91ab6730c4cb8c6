"""Reshape (0 copies, -1 inferred, axis/num_axes), Flatten (axis, end_axis), Slice, Softmax (axis)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...caffe import caffe_pb2
from ...caffe.layers.shape import reshaped, slice_sizes
from ...errors import PrototxtError
from ..graph import Node
from ..registry import register


class Reshape(nn.Module):
    def __init__(self, dims: tuple[int, ...], axis: int, num_axes: int) -> None:
        super().__init__()
        self.dims, self.axis, self.num_axes = dims, axis, num_axes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(reshaped(tuple(x.shape), self.dims, self.axis, self.num_axes, "Reshape"))

    def extra_repr(self) -> str:
        return f"dims={self.dims}, axis={self.axis}, num_axes={self.num_axes}"


@register("Reshape")
def reshape(node: Node) -> nn.Module:
    p = node.layer.reshape_param
    dims = tuple(int(d) for d in p.shape.dim)
    where = f"layer '{node.name}' (Reshape)"
    if sum(d == -1 for d in dims) > 1:
        raise PrototxtError(f"{where}: new shape contains multiple -1 dims")
    if any(d < -1 for d in dims):
        raise PrototxtError(f"{where}: dimension {min(dims)} is invalid")
    if p.num_axes < -1:
        raise PrototxtError(f"{where}: num_axes must be >= 0, or -1 for all")
    return Reshape(dims, int(p.axis), int(p.num_axes))


class Flatten(nn.Module):
    def __init__(self, axis: int, end_axis: int) -> None:
        super().__init__()
        self.axis, self.end_axis = axis, end_axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, self.axis % x.dim(), self.end_axis % x.dim())

    def extra_repr(self) -> str:
        return f"axis={self.axis}, end_axis={self.end_axis}"


@register("Flatten")
def flatten(node: Node) -> nn.Module:
    p = node.layer.flatten_param
    return Flatten(int(p.axis), int(p.end_axis))


class Softmax(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(x, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


@register("Softmax")
def softmax(node: Node) -> nn.Module:
    return Softmax(int(node.layer.softmax_param.axis))


class Slice(nn.Module):
    """Caffe's Slice: the bottom cut along an axis at its slice points (or into equal parts), one top each."""

    def __init__(self, layer: caffe_pb2.LayerParameter) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        axis, sizes = slice_sizes(self.layer, tuple(x.shape))
        return tuple(torch.split(x, list(sizes), dim=axis))

    def extra_repr(self) -> str:
        p = self.layer.slice_param
        return f"tops={len(self.layer.top)}, slice_point={list(p.slice_point)}"


@register("Slice")
def slice_layer(node: Node) -> nn.Module:
    return Slice(node.layer)
