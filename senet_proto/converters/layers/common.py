"""Helpers shared by the PyTorch layer converters."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..graph import Node
from ..registry import register


def tensor(arr: np.ndarray) -> torch.Tensor:
    """A float32 tensor owning a (writable, contiguous) copy of ``arr``."""
    return torch.from_numpy(np.array(arr, dtype=np.float32, order="C", copy=True))


def parameter(arr: np.ndarray) -> nn.Parameter:
    return nn.Parameter(tensor(arr))


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
