"""Structural checks of a net, with Caffe's own wording where Caffe has one.

Caffe rejects a net whose layer reads a blob nobody produced yet ("Unknown
bottom blob", insert_splits.cpp, checked over the whole net first), or whose
blob is produced by two layers ("Top blob ... produced by multiple sources.",
net.cpp).  In-place layers (top j == bottom j) are normal, with one catch:
Caffe first gives every blob value read by more than one bottom a Split layer
and renames those bottoms, so an in-place layer on a value that another bottom
also reads (an earlier layer, a later one, or the same layer twice) no longer
reads the name it writes, and net.cpp reports its top as doubly produced.
Input shapes must be positive and of a sane size.
"""

from __future__ import annotations

from ..errors import PrototxtError
from . import caffe_pb2
from .layers.shape import legacy_input_shapes

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
    for name, dims in legacy_input_shapes(net).items():
        check_shape(dims, f"input '{name}'")
    layers = layers_for_phase(net, phase)
    # Caffe's InsertSplits: which value (producing layer, top index) each bottom reads, and by how many bottoms.
    source: dict[str, tuple[int, int]] = {name: (-1, i) for i, name in enumerate(net.input)}
    read_by: dict[tuple[int, int], list[str]] = {}
    bottom_source: dict[tuple[int, int], tuple[int, int]] = {}
    for i, layer in enumerate(layers):
        for j, bottom in enumerate(layer.bottom):
            if bottom not in source:
                raise PrototxtError(
                    f"Unknown bottom blob '{bottom}' (layer '{layer.name}' ({layer.type}), bottom index {j})")
            bottom_source[i, j] = source[bottom]
            read_by.setdefault(source[bottom], []).append(layer.name)
        for j, top in enumerate(layer.top):
            source[top] = (i, j)
    # Net::Init's AppendTop: a top is in place only when bottom j has the same name and is not split.
    produced: set[str] = set(net.input)
    for i, layer in enumerate(layers):
        where = f"layer '{layer.name}' ({layer.type})"
        for j, top in enumerate(layer.top):
            in_place = j < len(layer.bottom) and layer.bottom[j] == top
            if in_place and len(read_by[bottom_source[i, j]]) > 1:
                others = sorted({f"'{r}'" for r in read_by[bottom_source[i, j]] if r != layer.name})
                who = ("it reads twice" if not others else f"layer {others[0]} also reads" if len(others) == 1
                       else f"layers {', '.join(others)} also read")
                raise PrototxtError(
                    f"Top blob '{top}' produced by multiple sources ({where} works in place on a value of '{top}' "
                    f"that {who}: Caffe gives such a value a Split layer, so this layer needs a top of its own)")
            if top in produced and not in_place:
                raise PrototxtError(f"Top blob '{top}' produced by multiple sources ({where})")
            produced.add(top)
        if layer.type == "Input":
            for k, shape in enumerate(layer.input_param.shape):
                check_shape(list(shape.dim), f"{where} shape {k}")
