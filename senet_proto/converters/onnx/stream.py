"""Write an ONNX model without holding its weights in memory: ``write_onnx(model, tensors, out)``.

``model`` is the whole model except its graph's initializers; ``tensors`` are those initializers as arrays
(mostly views of the memory-mapped caffemodel; folded weights as ``LazyArray``, computed when their turn
comes, a few MiB at a time: ``lazy.write_lazy``). Each array is written straight from its buffer and its
mapped pages are dropped once written, so the peak memory stays far below the model's size.

One file (the default) holds exactly the bytes ``model.SerializeToString()`` gives once the initializers are
in the graph: protobuf writes a message's fields in field-number order and an embedded message as tag, length
and bytes, so the file is the model's fields before ``graph`` (7), the graph's tag and (computed) length, the
graph's fields before ``initializer`` (5), each initializer as a TensorProto whose last field ``raw_data`` (9)
comes straight from the array, then the graph's fields after 5 and the model's after 7. Protobuf cannot read
a message over 2 GiB: a larger model needs ``external_data``.

``external_data=True`` uses ONNX's external-data format: every initializer of at least ``EXTERNAL_MIN`` bytes
refers (``location``, ``offset``, ``length``) to ``OUT.data`` beside ``OUT``, large ones at offsets aligned as
``onnx.save_model(..., save_as_external_data=True)`` aligns them; the two files appear together or not at all.

Before anything is written, the model gets the checks ``check_onnx`` gives an in-memory model (the checker
with full_check, strict typed shape inference) on a skeleton: the same model whose large initializers refer
to external data instead of holding it (small ones, such as Reshape targets that shape inference reads, keep
their data). What the checker would still check of the data, its size against dims and type, holds by
construction: dims are the array's shape and the bytes written are the array's.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import onnx
from google.protobuf.message import Message
from onnx import TensorProto, helper

from ...caffe.fastblob import LEN, encode_varint
from ...errors import OutputError, SenetProtoError
from ...fsutil import atomic_open, atomic_open_many, check_output_path
from ..lazy import little_endian, materialize, write_tensor
from .builder import Initializer

EXTERNAL_MIN = 1024  # initializers this large live in the external data (onnx's own default threshold)
ALIGN_MIN = 1 << 20  # ... and from this size start at a multiple of ALIGN (as onnx.save_model aligns them)
ALIGN = 1 << 16
MAX_SINGLE_FILE = 2**31 - 1  # the largest message protobuf parses
PLACEHOLDER = "weights.bin"  # the skeleton's external-data location in single-file mode (never written)

MODEL_GRAPH = 7  # ModelProto.graph
GRAPH_INITIALIZER = 5  # GraphProto.initializer
TENSOR_RAW_DATA = 9  # TensorProto.raw_data (the highest field number from_array sets)


def _tag(number: int) -> bytes:
    return encode_varint((number << 3) | LEN)


def data_path(out: str | os.PathLike[str]) -> Path:
    """The external-data file of model file ``out``: ``OUT.data`` beside it."""
    p = Path(out)
    return p.with_name(p.name + ".data")


@dataclass
class _Entry:
    init: Initializer
    header: TensorProto  # name, dims, data type: everything but the data
    nbytes: int
    offset: int = -1  # in the external data; -1: the data stays in the TensorProto

    @property
    def external(self) -> bool:
        return self.offset >= 0


def _entries(tensors: Sequence[Initializer]) -> list[_Entry]:
    """Each initializer's header and place in the external data (the layout of both output formats)."""
    entries = []
    offset = 0
    for t in tensors:
        header = TensorProto()
        header.dims.extend(int(d) for d in t.array.shape)
        header.name = t.name
        header.data_type = helper.np_dtype_to_tensor_dtype(t.array.dtype.newbyteorder("="))
        e = _Entry(t, header, int(t.array.nbytes))
        if e.nbytes >= EXTERNAL_MIN:
            if e.nbytes >= ALIGN_MIN:
                offset += -offset % ALIGN
            e.offset = offset
            offset += e.nbytes
        entries.append(e)
    return entries


def _with_data(e: _Entry, location: str) -> TensorProto:
    """The TensorProto of the skeleton / external-data model: small data inline, large data by reference."""
    t = TensorProto()
    t.CopyFrom(e.header)
    if not e.external:
        t.raw_data = little_endian(materialize(e.init.array)).tobytes()
        return t
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(e.offset)), ("length", str(e.nbytes))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def _skeleton(model: onnx.ModelProto, entries: list[_Entry], location: str) -> onnx.ModelProto:
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    skeleton.graph.initializer.extend(_with_data(e, location) for e in entries)
    return skeleton


def check_skeleton(skeleton: onnx.ModelProto, location: str) -> None:
    """The checker (full_check) and strict shape inference on a model whose large initializers are external:
    the checker wants their file to exist, so the model is checked from a folder with an empty one."""
    try:
        with tempfile.TemporaryDirectory(prefix="senet-proto-onnx-") as tmp:
            Path(tmp, location).touch()
            path = Path(tmp, "model.onnx")
            path.write_bytes(skeleton.SerializeToString())
            onnx.checker.check_model(str(path), full_check=True)
        onnx.shape_inference.infer_shapes(skeleton, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise SenetProtoError(f"the exported ONNX model is invalid (a bug): {str(e).splitlines()[0]}") from None


def _fields(msg: Message, keep: Callable[[int], bool]) -> bytes:
    """The serialized fields of ``msg`` whose numbers ``keep`` accepts (in protobuf's field-number order)."""
    part = type(msg)()
    part.CopyFrom(msg)
    for fd, _ in msg.ListFields():
        if not keep(fd.number):
            part.ClearField(fd.name)
    return bytes(part.SerializeToString())


def _single_file(model: onnx.ModelProto, entries: list[_Entry]) -> tuple[bytes, list[bytes], bytes, int]:
    """The file's bytes before the first initializer, before each initializer's data and after the last one,
    and the file's size."""
    prefixes = []
    for e in entries:
        header = e.header.SerializeToString()
        data_tag = _tag(TENSOR_RAW_DATA) + encode_varint(e.nbytes)
        size = len(header) + len(data_tag) + e.nbytes
        prefixes.append(_tag(GRAPH_INITIALIZER) + encode_varint(size) + header + data_tag)
    graph_head = _fields(model.graph, lambda n: n < GRAPH_INITIALIZER)
    graph_tail = _fields(model.graph, lambda n: n > GRAPH_INITIALIZER)
    inits = sum(len(p) + e.nbytes for p, e in zip(prefixes, entries, strict=True))
    head = _fields(model, lambda n: n < MODEL_GRAPH) + _tag(MODEL_GRAPH) + \
        encode_varint(len(graph_head) + inits + len(graph_tail)) + graph_head
    tail = graph_tail + _fields(model, lambda n: n > MODEL_GRAPH)
    return head, prefixes, tail, len(head) + inits + len(tail)


def _write_array(f: IO[bytes], e: _Entry) -> None:
    write_tensor(f, e.init.array)  # then drops the mapped caffemodel pages it was written (computed) from


def _write_single(model: onnx.ModelProto, entries: list[_Entry], out: Path, force: bool) -> None:
    head, prefixes, tail, size = _single_file(model, entries)
    if size > MAX_SINGLE_FILE:
        raise OutputError(f"the ONNX model would be {size / 2**30:.2f} GiB, over the 2 GiB protobuf allows in one "
                          "file: write its weights beside it with --external-data")
    with atomic_open(out, "wb", force=force) as f:
        f.write(head)
        for prefix, e in zip(prefixes, entries, strict=True):
            f.write(prefix)
            _write_array(f, e)
        f.write(tail)


def _write_external(model: onnx.ModelProto, entries: list[_Entry], out: Path, force: bool) -> None:
    with atomic_open_many([out, data_path(out)], "wb", force=force) as (f, data):
        f.write(model.SerializeToString())
        position = 0
        for e in entries:
            if not e.external:
                continue
            data.write(bytes(e.offset - position))
            _write_array(data, e)
            position = e.offset + e.nbytes


def write_onnx(model: onnx.ModelProto, tensors: Sequence[Initializer], out: str | os.PathLike[str], *,
               external_data: bool = False, force: bool = False) -> Path:
    """Check ``model`` with ``tensors`` as its initializers, then write it to ``out`` (and ``OUT.data`` with
    ``external_data``) atomically, streaming the arrays."""
    if len(model.graph.initializer):
        raise ValueError("write_onnx: the model's initializers must come as arrays, not in the graph")
    out = check_output_path(out, force=force)
    entries = _entries(tensors)
    location = data_path(out).name if external_data else PLACEHOLDER
    if external_data:
        check_output_path(data_path(out), force=force)
    skeleton = _skeleton(model, entries, location)
    check_skeleton(skeleton, location)
    if external_data:
        _write_external(skeleton, entries, out, force)
    else:
        _write_single(model, entries, out, force)
    return out
