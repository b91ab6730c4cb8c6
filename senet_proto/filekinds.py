"""What a file is: from its content (``sniff``) or its name (``SUFFIX_KINDS``).

The one place that tells a caffemodel from a prototxt, a solver, a ``.solverstate``, an ONNX model or a
safetensors file, so that a file given where another kind is expected gets one line saying what it looks
like (readers call ``sniff`` only once their own parse has failed), and an output name whose suffix says
another kind of file is refused (``check_output_suffix``).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

# suffix -> what a file of that name holds (an output whose suffix names another kind is refused)
SUFFIX_KINDS: dict[str, str] = {
    ".prototxt": "a Caffe prototxt (text)",
    ".pbtxt": "a protobuf text file",
    ".caffemodel": "Caffe weights (a binary caffemodel)",
    ".solverstate": "a Caffe solver state",
    ".onnx": "an ONNX model",
    ".safetensors": "a safetensors file",
    ".pt": "a PyTorch pickle (torch.save)",
    ".pth": "a PyTorch pickle (torch.save)",
    ".npy": "a NumPy array",
    ".npz": "NumPy arrays",
    ".toml": "a TOML file",
    ".json": "JSON",
    ".svg": "an SVG image",
    ".png": "a PNG image",
    ".pdf": "a PDF document",
    ".jpg": "a JPEG image",
    ".jpeg": "a JPEG image",
}

# protobuf wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
SAFETENSORS_MAX_HEADER = 100 << 20  # the safetensors library's own limit


@dataclass(frozen=True)
class FileKind:
    key: str  # caffemodel, solverstate, net, solver, template, pytorch, safetensors, onnx, npy, ...
    description: str  # "a binary caffemodel (Caffe weights)"
    detail: str = ""  # e.g. the net a solver names


def check_output_suffix(path: str | os.PathLike[str], accepted: tuple[str, ...], what: str,
                        option: str = "-o") -> None:
    """A UsageError when ``path``'s suffix names a known kind of file that is not one of ``accepted``
    (``generate -o net.onnx``); unknown suffixes and no suffix are the user's choice."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIX_KINDS and suffix not in accepted:
        names = " or ".join(f"OUT{a}" for a in accepted)
        raise UsageError(f"{option} {path}: the name says {SUFFIX_KINDS[suffix]}, but this writes {what}; "
                         f"name it {names}")


def safetensors_header(buf: Any) -> dict[str, Any] | None:
    """The JSON header of a safetensors file's bytes (8-byte little-endian length, then a JSON object), or None."""
    if len(buf) < 10:
        return None
    (n,) = struct.unpack("<Q", bytes(buf[:8]))
    if not 2 <= n <= min(SAFETENSORS_MAX_HEADER, len(buf) - 8) or bytes(buf[8:9]) != b"{":
        return None
    try:
        header = json.loads(bytes(buf[8 : 8 + n]))
    except (UnicodeDecodeError, ValueError):
        return None
    return header if isinstance(header, dict) else None


def file_safetensors_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``safetensors_header`` of a file (only its header is read); None if it is not a safetensors file."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return None
            (n,) = struct.unpack("<Q", head)
            size = os.fstat(f.fileno()).st_size
            if not 2 <= n <= min(SAFETENSORS_MAX_HEADER, size - 8):
                return None
            return safetensors_header(head + f.read(n))
    except OSError:
        return None


def _wire_types(field: Any) -> set[int]:
    from google.protobuf.descriptor import FieldDescriptor as F

    t = field.type
    if t in (F.TYPE_MESSAGE, F.TYPE_STRING, F.TYPE_BYTES):
        return {_LEN}
    scalar = (_I32 if t in (F.TYPE_FLOAT, F.TYPE_FIXED32, F.TYPE_SFIXED32)
              else _I64 if t in (F.TYPE_DOUBLE, F.TYPE_FIXED64, F.TYPE_SFIXED64) else _VARINT)
    return {scalar, _LEN} if field.is_repeated else {scalar}


def _top_fields(buf: Any) -> list[tuple[int, int, int, int]] | None:
    """(number, wire type, value start, value end) of a protobuf message's top-level fields; None if the
    bytes are not a well-formed message."""
    from .caffe.fastblob import wire_fields

    try:
        return [(n, w, vs, ve) for n, w, vs, ve, _ in wire_fields(memoryview(buf), 0, len(buf))]
    except Exception:  # a malformed varint, a truncated field, a group: not a protobuf message
        return None


def _fits(fields: list[tuple[int, int, int, int]], descriptor: Any, required: set[int]) -> bool:
    """Every top-level field is one of the message's, with its wire type, and one of ``required`` is there."""
    known = {f.number: f for f in descriptor.fields}
    for number, wire, _, _ in fields:
        f = known.get(number)
        if f is None or wire not in _wire_types(f):
            return False
    return bool(required & {n for n, *_ in fields})


def _binary(buf: Any) -> FileKind | None:
    head = bytes(buf[:8])
    if head.startswith(b"\x93NUMPY"):
        return FileKind("npy", "a NumPy .npy array")
    if head.startswith(b"\x89PNG"):
        return FileKind("png", "a PNG image")
    if head.startswith(b"%PDF"):
        return FileKind("pdf", "a PDF document")
    if head.startswith(b"PK\x03\x04"):
        return FileKind("zip", "a zip archive (a PyTorch .pt/.pth checkpoint is one)")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return FileKind("pickle", "a Python pickle (a PyTorch checkpoint?)")
    header = safetensors_header(buf)
    if header is not None:
        from .converters.pytorch_io import FORMAT

        if (header.get("__metadata__") or {}).get("senet_proto.format") == FORMAT:
            return FileKind("pytorch", "a senet-proto PyTorch file (safetensors, `convert --to pytorch`)")
        return FileKind("safetensors", "a safetensors file of tensors only (e.g. a timm state dict)")
    fields = _top_fields(buf)
    if not fields:
        return None
    from .caffe import caffe_pb2

    if _fits(fields, caffe_pb2.NetParameter.DESCRIPTOR, {100, 2}):
        return FileKind("caffemodel", "a binary caffemodel (Caffe weights)")
    if _fits(fields, caffe_pb2.SolverState.DESCRIPTOR, {2, 3}):
        learned = [bytes(buf[vs:ve]).decode("utf-8", "replace") for n, _, vs, ve in fields if n == 2]
        detail = f"its weights are in {learned[0]}" if learned else ""
        return FileKind("solverstate", "a Caffe solver state (the optimizer's history saved beside a snapshot)", detail)
    numbers = {(n, w) for n, w, *_ in fields}
    if (1, _VARINT) in numbers and (7, _LEN) in numbers:  # ModelProto: ir_version, graph
        return FileKind("onnx", "an ONNX model")
    return None


def _text(text: str) -> FileKind | None:
    from google.protobuf import text_format

    from .caffe import caffe_pb2

    text = text.removeprefix("\ufeff")
    for message, kind in ((caffe_pb2.NetParameter, "net"), (caffe_pb2.SolverParameter, "solver")):
        msg = message()
        try:
            text_format.Parse(text, msg)
        except Exception:  # not this kind of text: try the next
            continue
        if kind == "net":
            return FileKind("net", "a Caffe net prototxt (text)")
        named = msg.net or msg.train_net
        return FileKind("solver", "a Caffe solver prototxt", f"its net is {named}" if named else "")
    try:
        import tomllib

        data = tomllib.loads(text)
    except Exception:  # not TOML (or Python 3.10, without tomllib: then no guess)
        return None
    if "kind" in data and ("stages" in data or "modules" in data):
        return FileKind("template", "a senet-proto architecture template (TOML)",
                        "`senet-proto generate --template FILE` makes its net")
    return None


def sniff(buf: Any) -> FileKind | None:
    """What these bytes (or a mapped file) look like; None when they are none of the kinds known here."""
    if not len(buf):
        return None
    found = _binary(buf)
    if found is not None:
        return found
    try:
        text = bytes(buf[: 1 << 20]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _text(text) if len(buf) <= 1 << 20 else None


def sniff_file(path: str | os.PathLike[str]) -> FileKind | None:
    """``sniff`` of a file's content (memory-mapped: a large file is walked, not read); None if unreadable."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    return sniff(view)
                finally:
                    view.release()
    except (OSError, ValueError):
        return None


def wrong_kind(source: str, kind: FileKind, expected: str) -> str:
    """The one line for a file of another kind: ``X: looks like a binary caffemodel (...), not a net prototxt``."""
    detail = f" ({kind.detail})" if kind.detail else ""
    return f"{source}: looks like {kind.description}, not {expected}{detail}"
