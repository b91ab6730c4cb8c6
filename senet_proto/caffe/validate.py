"""Structural checks of a net, with Caffe's own wording where Caffe has one.

Caffe (net.cpp) rejects a net whose layer reads a blob nobody produced yet
("Unknown bottom blob"), or whose blob is produced by two ordinary layers
("Top blob ... produced by multiple sources"); in-place layers (top == bottom)
are normal. Input shapes must be positive and of a sane size.
"""

from __future__ import annotations

from ..errors import PrototxtError
from . import caffe_pb2

MAX_ELEMENTS = 1 << 31  # Caffe's blob count is an int


def _phase_ok(layer: caffe_pb2.LayerParameter, phase: int) -> bool:
    """Caffe's NetStateRule filtering, restricted to the phase (levels/stages are rare in deploy nets)."""
    if layer.include:
        return any(not r.HasField("phase") or r.phase == phase for r in layer.include)
    return not any(r.HasField("phase") and r.phase == phase for r in layer.exclude)


def layers_for_phase(net: caffe_pb2.NetParameter, phase: int = caffe_pb2.TEST) -> list[caffe_pb2.LayerParameter]:
    """The layers Caffe instantiates for ``phase`` (TEST for deploy/inference)."""
    return [ly for ly in net.layer if _phase_ok(ly, phase)]


def check_shape(dims: list[int] | tuple[int, ...], what: str) -> None:
    if not dims:
        raise PrototxtError(f"{what}: empty shape")
    if any(d <= 0 for d in dims):
        raise PrototxtError(f"{what}: shape {tuple(dims)} has a non-positive dimension")
    total = 1
    for d in dims:
        total *= d
    if total >= MAX_ELEMENTS:
        raise PrototxtError(f"{what}: shape {tuple(dims)} has {total} elements, more than Caffe's limit of 2^31")


def check_graph(net: caffe_pb2.NetParameter, phase: int = caffe_pb2.TEST) -> None:
    """Raise PrototxtError for undefined bottoms, doubly produced tops and absurd input shapes."""
    if len(net.layers) and not len(net.layer):
        raise PrototxtError("legacy V1 'layers' must be upgraded before checking (use the converters' loader)")
    available: set[str] = set(net.input)
    for i, name in enumerate(net.input):
        dims = list(net.input_shape[i].dim) if i < len(net.input_shape) else list(net.input_dim[4 * i : 4 * i + 4])
        check_shape(dims, f"input '{name}'")
    for layer in layers_for_phase(net, phase):
        where = f"layer '{layer.name}' ({layer.type})"
        for j, bottom in enumerate(layer.bottom):
            if bottom not in available:
                raise PrototxtError(f"Unknown bottom blob '{bottom}' ({where}, bottom index {j})")
        for top in layer.top:
            if top in available and top not in layer.bottom:
                raise PrototxtError(f"Top blob '{top}' produced by multiple sources ({where})")
            available.add(top)
        if layer.type == "Input":
            for k, shape in enumerate(layer.input_param.shape):
                check_shape(list(shape.dim), f"{where} shape {k}")
