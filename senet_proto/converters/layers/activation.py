"""Element-wise activations: ReLU (negative_slope), PReLU, Sigmoid, TanH, Power, AbsVal."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import CaffemodelError
from ..graph import Node
from ..registry import register
from .common import parameter


class ReLU(nn.Module):
    def __init__(self, negative_slope: float, inplace: bool) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.negative_slope == 0.0:
            return F.relu(x, inplace=self.inplace)
        return F.leaky_relu(x, self.negative_slope, inplace=self.inplace)

    def extra_repr(self) -> str:
        s = f"negative_slope={self.negative_slope}" if self.negative_slope else ""
        return s + (", inplace" if self.inplace else "")


@register("ReLU")
def relu(node: Node) -> nn.Module:
    return ReLU(float(node.layer.relu_param.negative_slope), node.inplace)


class Sigmoid(nn.Module):
    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sigmoid_() if self.inplace else torch.sigmoid(x)


@register("Sigmoid")
def sigmoid(node: Node) -> nn.Module:
    return Sigmoid(node.inplace)


class TanH(nn.Module):
    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.tanh_() if self.inplace else torch.tanh(x)


@register("TanH")
def tanh(node: Node) -> nn.Module:
    return TanH(node.inplace)


class Power(nn.Module):
    """Caffe's Power: (shift + scale * x) ^ power."""

    def __init__(self, power: float, scale: float, shift: float) -> None:
        super().__init__()
        self.power, self.scale, self.shift = power, scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.scale + self.shift
        return y if self.power == 1.0 else y.pow(self.power)


@register("Power")
def power(node: Node) -> nn.Module:
    p = node.layer.power_param
    return Power(float(p.power), float(p.scale), float(p.shift))


class AbsVal(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


@register("AbsVal")
def absval(node: Node) -> nn.Module:
    return AbsVal()


class PReLU(nn.Module):
    """Caffe's PReLU: max(0, x) + slope * min(0, x), one slope per channel (axis 1) or one for all."""

    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        self.weight = parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight)


@register("PReLU")
def prelu(node: Node) -> nn.Module:
    if not node.blobs:
        raise CaffemodelError(f"layer '{node.name}' (PReLU): has no weights")
    return PReLU(node.blobs[0].reshape(-1))
