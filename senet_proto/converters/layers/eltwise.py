"""Eltwise (SUM with coefficients, PROD, MAX), Axpy (a·X + Y), Concat."""

from __future__ import annotations

import torch
from torch import nn

from ...caffe import caffe_pb2
from ...caffe.layers.shape import concat_raw_axis, eltwise_coeffs
from ...errors import PrototxtError
from ..graph import Node
from ..registry import register


class EltwiseSum(nn.Module):
    def __init__(self, coeffs: tuple[float, ...]) -> None:
        super().__init__()
        self.coeffs = coeffs
        self.plain = all(c == 1.0 for c in coeffs)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.plain:
            out = xs[0] + xs[1] if len(xs) > 1 else xs[0].clone()
            for x in xs[2:]:
                out = out.add_(x)
            return out
        out = xs[0] * self.coeffs[0]
        for x, c in zip(xs[1:], self.coeffs[1:], strict=True):
            out = out.add_(x, alpha=c)
        return out

    def extra_repr(self) -> str:
        return "" if self.plain else f"coeffs={self.coeffs}"


class EltwiseProd(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] * xs[1] if len(xs) > 1 else xs[0].clone()
        for x in xs[2:]:
            out = out.mul_(x)
        return out


class EltwiseMax(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = torch.maximum(xs[0], xs[1]) if len(xs) > 1 else xs[0].clone()
        for x in xs[2:]:
            out = torch.maximum(out, x)
        return out


@register("Eltwise")
def eltwise(node: Node) -> nn.Module:
    p = node.layer.eltwise_param
    where = f"layer '{node.name}' (Eltwise)"
    if len(node.bottoms) < 2:
        raise PrototxtError(f"{where}: needs at least 2 bottoms, has {len(node.bottoms)}")
    coeffs = eltwise_coeffs(node.layer, len(node.bottoms))
    if p.operation == caffe_pb2.EltwiseParameter.SUM:
        return EltwiseSum(tuple(coeffs))
    if p.operation == caffe_pb2.EltwiseParameter.PROD:
        return EltwiseProd()
    return EltwiseMax()


class Axpy(nn.Module):
    """SENet's Axpy: top = a · X + Y, with a of shape N×C or N×C×1×1 and X, Y of shape N×C×H×W."""

    def forward(self, a: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        a = a.reshape(a.shape[0], a.shape[1], *([1] * (x.dim() - 2)))
        return torch.addcmul(y, a, x)


@register("Axpy")
def axpy(node: Node) -> nn.Module:
    if len(node.bottoms) != 3:
        raise PrototxtError(f"layer '{node.name}' (Axpy): needs 3 bottoms (a, X, Y), has {len(node.bottoms)}")
    return Axpy()


class Concat(nn.Module):
    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


@register("Concat")
def concat(node: Node) -> nn.Module:
    return Concat(concat_raw_axis(node.layer))
