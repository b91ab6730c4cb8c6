"""A fast .caffemodel reader: memory-map the file, view the packed float blobs in place.

A caffemodel is a NetParameter in protobuf binary format whose bulk is ``BlobProto.data``: packed little-endian
float32 (field 5). Parsing it with python protobuf and then copying each blob into NumPy costs about three times
the file in memory. Here the protobuf wire format is walked by hand down to the blobs: each packed ``data``
field becomes a NumPy array that views the memory-mapped file (no copy), and everything else (layer names,
types, blob shapes, legacy fields) is parsed with the schema from a copy of the file with the data cut out.

Anything unusual (non-packed floats, groups, a data field split in chunks) falls back to the plain path.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CaffemodelError
from . import caffe_pb2
from .io import not_a_caffemodel

# protobuf field numbers, from the schema: NetParameter.layer (100) and the V1 NetParameter.layers (2), each
# with the field number of its layers' blobs (7 and 6), and BlobProto.data (5)
LAYER_FIELD = caffe_pb2.NetParameter.LAYER_FIELD_NUMBER
V1_LAYERS_FIELD = caffe_pb2.NetParameter.LAYERS_FIELD_NUMBER
LAYER_FIELDS = {LAYER_FIELD: caffe_pb2.LayerParameter.BLOBS_FIELD_NUMBER,
                V1_LAYERS_FIELD: caffe_pb2.V1LayerParameter.BLOBS_FIELD_NUMBER}
BLOB_DATA = caffe_pb2.BlobProto.DATA_FIELD_NUMBER
LEN, I32, I64, VARINT = 2, 5, 1, 0


class _Fallback(Exception):
    """The file is valid but not in the shape the fast path handles: use the plain protobuf path."""


@dataclass
class FastModel:
    """The caffemodel without blob data, plus the data as arrays viewing the file.

    ``arrays[(field, layer_index)]`` lists, per blob of that layer, its float32 data (or None when the blob had
    no ``data`` field, e.g. ``double_data``); ``field`` is ``LAYER_FIELD`` (100) for ``layer`` and
    ``V1_LAYERS_FIELD`` (2) for V1 ``layers``.
    """

    net: caffe_pb2.NetParameter
    arrays: dict[tuple[int, int], list[np.ndarray | None]] = field(default_factory=dict)
    mapping: mmap.mmap | None = None


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise CaffemodelError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffemodelError("malformed varint")


def encode_varint(value: int) -> bytes:
    """The protobuf varint encoding of a non-negative integer."""
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def wire_fields(buf: memoryview, start: int, end: int):
    """(field number, wire type, value start, value end, tag start) for each field of a message span."""
    pos = start
    while pos < end:
        tag_start = pos
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise CaffemodelError("field number 0")
        if wire == VARINT:
            _, pos2 = _varint(buf, pos, end)
        elif wire == LEN:
            length, pos = _varint(buf, pos, end)
            pos2 = pos + length
        elif wire == I32:
            pos2 = pos + 4
        elif wire == I64:
            pos2 = pos + 8
        else:
            raise _Fallback  # groups: legal but unheard of in caffemodels
        if pos2 > end:
            raise CaffemodelError("truncated field")
        yield number, wire, pos, pos2, tag_start
        pos = pos2


def _strip_blob(buf: memoryview, start: int, end: int, base: int) -> tuple[bytes, tuple[int, int] | None]:
    """The blob's bytes without its data field, and the (offset, byte length) of that data."""
    kept = bytearray()
    data = None
    for number, wire, vs, ve, ts in wire_fields(buf, start, end):
        if number == BLOB_DATA:
            if wire != LEN or data is not None or (ve - vs) % 4:
                raise _Fallback  # non-packed floats, or packed data in several chunks
            data = (base + vs, ve - vs)
        else:
            kept += buf[ts:ve]
    return bytes(kept), data


def _strip_layer(buf: memoryview, start: int, end: int, blob_field: int,
                 views: list[tuple[int, int] | None]) -> bytes:
    kept = bytearray()
    for number, wire, vs, ve, ts in wire_fields(buf, start, end):
        if number == blob_field and wire == LEN:
            blob, data = _strip_blob(buf, vs, ve, 0)
            views.append(data)
            kept += encode_varint((blob_field << 3) | LEN) + encode_varint(len(blob)) + blob
        else:
            kept += buf[ts:ve]
    return bytes(kept)


def _stripped_net(buf: memoryview, size: int) -> tuple[caffe_pb2.NetParameter, dict[tuple[int, int], list]]:
    """The net with its layers' blob data stripped, and where each layer's blobs lie in ``buf``."""
    stripped = bytearray()
    views: dict[tuple[int, int], list[tuple[int, int] | None]] = {}
    counters = dict.fromkeys(LAYER_FIELDS, 0)
    for number, wire, vs, ve, ts in wire_fields(buf, 0, size):
        if number in LAYER_FIELDS and wire == LEN:
            key = (number, counters[number])
            counters[number] += 1
            views[key] = []
            layer = _strip_layer(buf, vs, ve, LAYER_FIELDS[number], views[key])
            stripped += encode_varint((number << 3) | LEN) + encode_varint(len(layer)) + layer
        else:
            stripped += buf[ts:ve]
    net = caffe_pb2.NetParameter()
    net.ParseFromString(bytes(stripped))
    return net, views


def read_fast(path: str | os.PathLike[str]) -> FastModel:
    """Read a caffemodel with blob data as views of the memory-mapped file (plain path for unusual files)."""
    p = Path(path)
    if p.is_dir():
        raise CaffemodelError(f"{p}: is a directory, expected a caffemodel file")
    try:
        f = open(p, "rb")  # noqa: SIM115 (closed below, after the mmap is made)
    except FileNotFoundError:
        raise CaffemodelError(f"{p}: no such file") from None
    except OSError as e:
        raise CaffemodelError(f"{p}: cannot read: {e.strerror}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise CaffemodelError(f"{p}: empty caffemodel")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # private: arrays are writable, file untouched
    buf = memoryview(mm)
    try:
        net, views = _stripped_net(buf, size)
    except BaseException as e:
        buf.release()
        mm.close()
        if isinstance(e, _Fallback):
            from .io import read_caffemodel_proto

            return FastModel(net=read_caffemodel_proto(p))
        if not isinstance(e, Exception):
            raise
        detail = e if isinstance(e, CaffemodelError) else f"protobuf decode failed: {e}"  # DecodeError and friends
        raise not_a_caffemodel(p) or CaffemodelError(f"{p}: not a valid caffemodel ({detail})") from None
    buf.release()
    if not len(net.layer) and not len(net.layers) and (other := not_a_caffemodel(p)):
        mm.close()
        raise other
    arrays = {
        key: [None if v is None else np.frombuffer(mm, dtype="<f4", count=v[1] // 4, offset=v[0]) for v in vs]
        for key, vs in views.items()
    }
    return FastModel(net=net, arrays=arrays, mapping=mm)


def _mapped(arr: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The map an array views and the array's byte offset in it (None if it views no open map)."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base  # type: ignore[assignment]
    if isinstance(base, memoryview):  # np.frombuffer keeps the buffer's memoryview
        base = base.obj
    if not isinstance(base, mmap.mmap) or base.closed:
        return None
    return base, arr.ctypes.data - np.frombuffer(base, dtype=np.uint8, count=1).ctypes.data


def release_pages(arr: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped array (they are re-read from the page cache if used again).

    Keeps the resident set small while a large file is streamed; a no-op for arrays not backed by a map.
    """
    found = _mapped(arr)
    if found is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    base, offset = found
    page = mmap.PAGESIZE
    lo = (offset // page) * page
    hi = min(len(base), offset + arr.nbytes)
    if hi > lo:
        with contextlib.suppress(OSError, ValueError):
            base.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
