"""Helpers shared by the PyTorch layer converters."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...errors import PrototxtError
from ..graph import Node
from ..registry import register


def tensor(arr: np.ndarray) -> torch.Tensor:
    """A float32 tensor owning a (writable, contiguous) copy of ``arr``."""
    return torch.from_numpy(np.array(arr, dtype=np.float32, order="C", copy=True))


def parameter(arr: np.ndarray) -> nn.Parameter:
    return nn.Parameter(tensor(arr))


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


class InputMarker(nn.Module):
    """Stands for an Input layer; the module's inputs take its place."""


@register("Input")
def input_layer(node: Node) -> nn.Module:
    return InputMarker()


class Split(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x,) * self.n  # Caffe's Split shares the bottom's data


@register("Split")
def split(node: Node) -> nn.Module:
    return Split(len(node.tops))


class Silence(nn.Module):
    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return ()


@register("Silence")
def silence(node: Node) -> nn.Module:
    return Silence()


class Dropout(nn.Module):
    """Caffe 1.0's Dropout at inference: a copy of the bottom (dropout only scales during training)."""

    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.inplace else x.clone()


@register("Dropout")
def dropout(node: Node) -> nn.Module:
    return Dropout(node.inplace)
