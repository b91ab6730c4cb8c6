"""Write a .caffemodel streaming, layer by layer and blob by blob (the mirror of ``fastblob``'s reader).

A caffemodel is a NetParameter in protobuf binary format; its bulk is each BlobProto's packed float32 ``data``.
The small parts of each layer (name, type, blob shapes) are built as protobuf messages and serialized by
protobuf; only the packed ``data`` field is framed here (its tag and length, then the raw little-endian floats
written straight from the array), so no whole-model message is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO

import numpy as np

from ..caffe import caffe_pb2
from ..caffe.fastblob import BLOB_DATA, LEN, encode_varint
from ..converters.lazy import write_tensor

NET_LAYER = 100  # NetParameter.layer
LAYER_BLOBS = 7  # LayerParameter.blobs


def _tag(number: int) -> bytes:
    return encode_varint((number << 3) | LEN)


def _blob_head(arr: np.ndarray) -> tuple[bytes, int]:
    """The BlobProto's bytes before its data (shape, then the data field's tag and length), and its size."""
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend(int(d) for d in arr.shape)
    nbytes = 4 * int(arr.size)
    head = blob.SerializeToString() + (_tag(BLOB_DATA) + encode_varint(nbytes) if nbytes else b"")  # as protobuf
    return head, len(head) + nbytes


def write_layer(f: IO[bytes], name: str, type_: str, blobs: Sequence[np.ndarray]) -> None:
    """One LayerParameter (name, type and float32 blobs) as a ``NetParameter.layer`` field."""
    head = caffe_pb2.LayerParameter(name=name, type=type_).SerializeToString()
    arrays = [np.asarray(b, dtype=np.float32) for b in blobs]
    blob_heads = [_blob_head(a) for a in arrays]
    size = len(head) + sum(len(_tag(LAYER_BLOBS)) + len(encode_varint(n)) + n for _, n in blob_heads)
    f.write(_tag(NET_LAYER) + encode_varint(size) + head)
    for arr, (blob_head, n) in zip(arrays, blob_heads, strict=True):
        f.write(_tag(LAYER_BLOBS) + encode_varint(n) + blob_head)
        write_tensor(f, arr)


def write_caffemodel(f: IO[bytes], net_name: str, layers: Iterable[tuple[str, str, Sequence[np.ndarray]]]) -> int:
    """Write (layer name, type, blobs) records as a caffemodel to ``f``, consuming ``layers`` one at a time;
    the number of layers written."""
    f.write(caffe_pb2.NetParameter(name=net_name).SerializeToString())
    n = 0
    for name, type_, blobs in layers:
        write_layer(f, name, type_, blobs)
        n += 1
    return n
