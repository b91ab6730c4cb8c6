"""Shape inference with Caffe's semantics, our own (no Caffe needed): walks a net with the layer catalogue.

Every layer Caffe would instantiate for the TEST phase is walked in file order;
each gets the shapes of its bottoms and tops. In-place layers (top == bottom)
keep the blob's shape. Unknown layer types raise UnsupportedLayerError naming
the layer and its type; impossible shapes raise PrototxtError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..caffe import caffe_pb2
from ..caffe.layers import CATALOGUE, Shape, spec, where
from ..caffe.layers.shape import legacy_input_shapes
from ..caffe.validate import check_graph, check_shape, layers_for_phase
from ..errors import PrototxtError, UnsupportedLayerError, UsageError


@dataclass(frozen=True)
class LayerShapes:
    """One layer with the shapes it reads and writes."""

    layer: caffe_pb2.LayerParameter
    bottoms: tuple[Shape, ...]
    tops: tuple[Shape, ...]

    @property
    def name(self) -> str:
        return str(self.layer.name)

    @property
    def type(self) -> str:
        return str(self.layer.type)

    @property
    def in_place(self) -> bool:
        return bool(self.layer.top) and list(self.layer.top) == list(self.layer.bottom)


def input_shapes(net: caffe_pb2.NetParameter) -> dict[str, Shape]:
    """Shapes of the net-level (legacy) inputs: ``input`` + ``input_shape`` or ``input_dim``."""
    shapes = legacy_input_shapes(net)
    for name, shape in shapes.items():
        if not shape:
            raise PrototxtError(f"input '{name}' has no shape (input_shape or 4 input_dim values)")
    return shapes


def with_input_shape(net: caffe_pb2.NetParameter, shape: Sequence[int]) -> caffe_pb2.NetParameter:
    """A copy of ``net`` whose single input has ``shape``."""
    check_shape(list(shape), "--input-shape")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    inputs = [ly for ly in layers_for_phase(out) if ly.type == "Input"]
    count = len(out.input) + sum(len(ly.top) for ly in inputs)
    if count != 1:
        raise UsageError(f"an input shape can only be given for a net with exactly one Input (this one has {count})")
    if out.input:
        del out.input_dim[:]
        del out.input_shape[:]
        out.input_shape.add().dim.extend(shape)
    else:
        p = inputs[0].input_param
        del p.shape[:]
        p.shape.add().dim.extend(shape)
    return out


def infer_layers(net: caffe_pb2.NetParameter, input_shape: Sequence[int] | None = None) -> list[LayerShapes]:
    """Every TEST-phase layer in order with its bottom and top shapes."""
    if len(net.layers) and not len(net.layer):
        raise PrototxtError("legacy V1 'layers' nets are not supported here: upgrade the file to 'layer' first")
    if input_shape is not None:
        net = with_input_shape(net, input_shape)
    check_graph(net)
    blobs: dict[str, Shape] = dict(input_shapes(net))
    result: list[LayerShapes] = []
    for layer in layers_for_phase(net):
        bottoms = tuple(blobs[b] for b in layer.bottom)
        entry = spec(layer.type)
        if entry is None:
            raise UnsupportedLayerError(
                f"{where(layer)}: shape inference does not know layer type '{layer.type}' "
                f"(known: {', '.join(sorted(CATALOGUE))})")
        lo, hi = entry.bottoms
        if not lo <= len(bottoms) <= hi:
            expected = str(lo) if lo == hi else f"{lo} or {hi}" if hi == lo + 1 else f"at least {lo}"
            raise PrototxtError(f"{where(layer)}: {len(bottoms)} bottoms, expected {expected}")
        if not layer.top and entry.needs_top:
            raise PrototxtError(f"{where(layer)}: no top blob")
        tops = tuple(entry.shape(layer, list(bottoms)))
        if len(tops) != len(layer.top):
            raise PrototxtError(f"{where(layer)}: {len(layer.top)} tops, expected {len(tops)}")
        for name, shape in zip(layer.top, tops, strict=True):
            if shape:  # losses and accuracies are scalars
                check_shape(list(shape), f"{where(layer)} top '{name}'")
            blobs[name] = shape
        result.append(LayerShapes(layer, bottoms, tops))
    return result


def infer_shapes(net: caffe_pb2.NetParameter, input_shape: Sequence[int] | None = None) -> dict[str, Shape]:
    """Blob name -> shape after the whole net has run (in-place blobs keep their shape)."""
    shapes = dict(input_shapes(net if input_shape is None else with_input_shape(net, input_shape)))
    for ls in infer_layers(net, input_shape):
        for name, shape in zip(ls.layer.top, ls.tops, strict=True):
            shapes[name] = shape
    return shapes
