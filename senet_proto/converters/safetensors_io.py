"""A streaming safetensors writer: header, then each array's bytes straight from its buffer.

``safetensors.numpy.save`` builds the whole file in memory (a copy of every tensor); converting a 440 MiB
caffemodel that way doubles the peak memory. The format is simple (an 8-byte little-endian header length,
a JSON header padded with spaces to 8 bytes, then the raw little-endian data), so the arrays are written one
by one from their (memory-mapped) buffers; a ``LazyArray`` (a folded weight) is computed when its turn
comes, a few MiB at a time (``lazy.write_lazy``). The ``safetensors`` package reads the result (tests check it).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..fsutil import atomic_open
from .lazy import Tensor, write_tensor

DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32"}


def write_safetensors(path: str | os.PathLike[str], tensors: Mapping[str, Tensor],
                      metadata: Mapping[str, str] | None = None, *, force: bool = False) -> Path:
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    order = list(tensors)  # the caller's order (a state dict: the caffemodel's), so the mapped file is read in sequence
    for name in order:
        arr = tensors[name]
        dtype = DTYPES.get(arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype)
        if dtype is None:
            raise TypeError(f"{name}: dtype {arr.dtype} is not supported")
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with atomic_open(path, "wb", force=force) as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in order:
            write_tensor(f, tensors[name])  # then drops the mapped caffemodel pages it was written from
    return Path(path)
