"""The ONNX graph under construction: value names for Caffe blob versions, initializers, nodes.

Blob names come from Caffe. A blob written several times (in-place layers) gets one ONNX value per write:
the last write keeps the Caffe name, earlier ones are named ``blob@layer`` after the layer that wrote them.

Initializers are recorded as arrays (``Initializer``), not copied into TensorProtos: most are views of the
memory-mapped caffemodel, which ``stream.write_onnx`` writes straight to the output file, or folded weights
still to be computed (``LazyArray``, from ``fold_batchnorm(lazy=True)``); ``tensor()`` makes the in-memory
TensorProto (``build_onnx``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..graph import Graph, Node
from ..lazy import LazyArray, Tensor, materialize

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Initializer:
    """A graph initializer: its name and its value (float32 or int64; maybe a view of a mapped caffemodel, or
    a ``LazyArray`` computed when written)."""

    name: str
    array: Tensor

    def tensor(self) -> onnx.TensorProto:
        """The TensorProto with the data copied in (what the graph of an in-memory model holds)."""
        return numpy_helper.from_array(np.ascontiguousarray(materialize(self.array)), self.name)


@dataclass
class OnnxBuilder:
    graph: Graph
    shapes: dict[str, Shape]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    tensors: list[Initializer] = field(default_factory=list)  # the initializers, in order, not yet copied
    current: dict[str, str] = field(default_factory=dict)  # Caffe blob -> ONNX value holding it now
    final_writer: dict[str, int] = field(default_factory=dict)  # Caffe blob -> index of the node writing it last
    index: int = 0
    batch: dict[str, int] | None = None  # Caffe blob -> its batch axis (-1: none); None: static shapes
    _names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for i, node in enumerate(self.graph.nodes):
            for top in node.tops:
                self.final_writer[top] = i
        for name in self.graph.inputs:
            self.current[name] = name
            self._names.add(name)

    # -- names ----------------------------------------------------------------------------------------

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}#{k}"
        self._names.add(name)
        return name

    def input(self, blob: str) -> str:
        return self.current[blob]

    def output(self, node: Node, blob: str) -> str:
        """The ONNX value a node writes for Caffe blob ``blob``."""
        final = self.final_writer.get(blob) == self.index
        name = blob if final and blob not in self.graph.inputs else self.unique(f"{blob}@{node.name}")
        if final:
            self._names.add(name)
        self.current[blob] = name
        return name

    def temp(self, node: Node, what: str) -> str:
        return self.unique(f"{node.name}/{what}")

    # -- content --------------------------------------------------------------------------------------

    def const(self, node: Node, what: str, array: Tensor | list[int] | list[float], dtype: Any = None) -> str:
        arr: Tensor
        if isinstance(array, LazyArray):
            if array.dtype != np.float32 or array.ndim == 0 or dtype is not None:
                raise TypeError(f"{node.name}/{what}: lazy arrays must be float32 with dimensions, as they are")
            arr = array  # computed when written
        else:
            arr = np.asarray(array, dtype=dtype if dtype is not None else np.asarray(array).dtype)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            if arr.ndim == 0:
                arr = arr.reshape(1)  # scalars are 1-element tensors (what np.ascontiguousarray made them)
        name = self.unique(f"{node.name}/{what}")
        self.tensors.append(Initializer(name, arr))
        return name

    def add(self, op: str, inputs: list[str], outputs: list[str], node: Node, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.unique(f"{node.name}/{op}"), **attrs))

    def shape(self, blob: str) -> Shape:
        return self.shapes[blob]

    def batch_axis(self, blob: str) -> int | None:
        """The axis of ``blob`` that is the batch when the batch is dynamic; None when static or batch-free."""
        if self.batch is None:
            return None
        axis = self.batch.get(blob, -1)
        return axis if axis >= 0 else None

    def reshape_dims(self, dims: Shape | list[int], batch_at: int | None, source_batch: int | None) -> list[int]:
        """A Reshape target: static ``dims`` with the batch entry (at ``batch_at``) left to ONNX: 0 (copy the
        input's dim) where the input has its batch on the same axis, else -1 (the one inferred dim)."""
        out = [int(d) for d in dims]
        if self.batch is not None and batch_at is not None:
            out[batch_at] = 0 if source_batch == batch_at else -1
        return out


BATCH = "N"  # the symbolic batch dimension of a dynamic-batch model


def value_info(name: str, shape: Shape, batch_axis: int | None = None, doc: str = "") -> onnx.ValueInfoProto:
    """A float tensor's value info; ``doc`` (the Caffe blob it holds) is kept only where it is not ``name``."""
    dims: list[int | str] = list(shape)
    if batch_axis is not None:
        dims[batch_axis] = BATCH
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims, doc_string=doc if doc != name else "")
