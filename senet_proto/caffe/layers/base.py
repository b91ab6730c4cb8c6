"""The catalogue's record type and the Caffe conventions its entries share (axes, per-axis parameters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from ...errors import PrototxtError
from .. import caffe_pb2

Shape = tuple[int, ...]
Layer: TypeAlias = caffe_pb2.LayerParameter
# (layer, bottom shapes) -> top shapes
ShapeRule = Callable[[Layer, list[Shape]], list[Shape]]
# (layer, the caffemodel's blobs) -> expected blob shapes (None: any size; (None,): any shape), or None: unchecked
BlobRule = Callable[[Layer, list[np.ndarray]], "list[tuple[int | None, ...]] | None"]
# (layer, bottom shapes) -> the shapes of the blobs Caffe makes for the layer (its LayerSetUp)
MadeBlobsRule = Callable[[Layer, list[Shape]], list[Shape]]
# (layer, bottom shapes, top shapes) -> Cost (multiply-adds; parameters and statistics come from ``made``)
CostRule = Callable[[Layer, list[Shape], list[Shape]], "Cost"]

MANY = 1 << 20  # "any number of bottoms"


@dataclass(frozen=True)
class Cost:
    """Learnable parameters, BatchNorm statistics and multiply-adds of one layer's forward pass."""

    params: int = 0
    stats: int = 0
    macs: int = 0


def no_cost(layer: Layer, bottoms: list[Shape], tops: list[Shape]) -> Cost:
    return Cost()


@dataclass(frozen=True)
class LayerSpec:
    """One Caffe layer type's rules.

    ``blobs`` checks a caffemodel's blobs (None for a parameter-free type); ``made`` gives the blobs' shapes from
    the bottoms' shapes (what Caffe allocates; their sizes are the layer's parameters, or its statistics where
    ``statistics`` is set); ``refused`` maps a target ("pytorch", "onnx") to the reason it does not convert the
    type (every other target has a converter registered for it)."""

    type: str
    shape: ShapeRule
    bottoms: tuple[int, int] = (1, 1)
    blobs: BlobRule | None = None
    made: MadeBlobsRule | None = None
    statistics: bool = False
    cost: CostRule = no_cost
    in_place: bool = False
    training: bool = False
    needs_top: bool = True
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def parameter_free(self) -> bool:
        return self.blobs is None


CATALOGUE: dict[str, LayerSpec] = {}


def add(*specs: LayerSpec) -> None:
    for s in specs:
        if (s.blobs is None) != (s.made is None):
            raise ValueError(f"layer type '{s.type}': a blob check and the made blobs' shapes come together")
        if s.type in CATALOGUE:
            raise ValueError(f"layer type '{s.type}' is in the catalogue twice")
        CATALOGUE[s.type] = s


def where(layer: Layer) -> str:
    return f"layer '{layer.name}' ({layer.type})"


def canonical_axis(axis: int, ndim: int, layer: Layer, what: str = "axis") -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -ndim <= axis < ndim:
        raise PrototxtError(f"{where(layer)}: {what} {axis} out of range for a {ndim}-axis blob")
    return axis % ndim


def opt(msg, name: str) -> int | None:
    return int(getattr(msg, name)) if msg.HasField(name) else None


def spatial(layer: Layer, rep: Sequence[int], h: int | None, w: int | None, n: int, default: int | None,
            what: str) -> tuple[int, ...]:
    """Caffe's reading of kernel/stride/pad/dilation for ``n`` spatial axes: ``x_h``/``x_w`` or a repeated field
    (one value for every axis, or one per axis)."""
    if h is not None or w is not None:
        if n != 2:
            raise PrototxtError(f"{where(layer)}: {what}_h/{what}_w need 2 spatial axes, the input has {n}")
        if rep:
            raise PrototxtError(f"{where(layer)}: {what} given both as {what} and as {what}_h/{what}_w")
        if h is None or w is None:
            raise PrototxtError(f"{where(layer)}: both {what}_h and {what}_w are needed")
        return (h, w)
    if not rep:
        if default is None:
            raise PrototxtError(f"{where(layer)}: {what} is not set")
        return (default,) * n
    if len(rep) == 1:
        return (int(rep[0]),) * n
    if len(rep) != n:
        raise PrototxtError(f"{where(layer)}: {what} has {len(rep)} values for {n} spatial axes")
    return tuple(int(v) for v in rep)


def positive(shape: Shape, layer: Layer) -> Shape:
    if any(d <= 0 for d in shape):
        raise PrototxtError(f"{where(layer)}: output shape {shape} has a non-positive dimension "
                            f"(input too small for the kernel?)")
    return shape


def same(layer: Layer, b: list[Shape]) -> list[Shape]:
    """Tops shaped like the first bottom."""
    return [b[0]] * max(1, len(layer.top))
