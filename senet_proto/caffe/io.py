"""Read and write Caffe's protobuf files through the project's own schema.

Prototxt text is printed by protobuf's text_format; nothing here builds
prototxt by string concatenation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from ..errors import CaffemodelError, PrototxtError, WrongFileKindError
from ..fsutil import atomic_write_text
from . import caffe_pb2

HEADER = "# mean_value: 104, 117, 123"

# a net given to the library: the path of a prototxt (or caffemodel), or a parsed caffe_pb2.NetParameter
NetLike = Union[str, "os.PathLike[str]", caffe_pb2.NetParameter]


def read_bytes(path: str | os.PathLike[str], what: str, exc: type[Exception]) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise exc(f"{p}: is a directory, expected a {what} file")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise exc(f"{p}: no such file") from None
    except OSError as e:
        raise exc(f"{p}: cannot read: {e.strerror}") from None


def parse_prototxt(text: str | bytes, source: str = "<prototxt>", message: type | None = None):
    """Parse prototxt text into a ``NetParameter`` (or ``message``); errors name line and column."""
    cls = message or caffe_pb2.NetParameter
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _other_kind(text, source, cls) or PrototxtError(f"{source}: not UTF-8 text (byte {e.start})") \
                from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise PrototxtError(f"{source}: empty prototxt")
    msg = cls()
    try:
        text_format.Parse(text, msg, allow_unknown_extension=False)
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        detail = str(e).split(" : ", 1)[-1] if line is not None else str(e)
        if line is not None and 0 < line <= len(lines := text.splitlines()):
            detail = detail.removeprefix(f"'{lines[line - 1]}': ")
        where = f"{source}:{line}:{col}" if line is not None and col is not None else source
        raise _other_kind(text, source, cls) or PrototxtError(f"{where}: {detail}") from None
    except (ValueError, RecursionError) as e:
        raise PrototxtError(f"{source}: {e}") from None
    return msg


_EXPECTED = {"NetParameter": ("net", "a net prototxt"), "SolverParameter": ("solver", "a solver prototxt")}


def _other_kind(data: str | bytes, source: str, cls: type) -> WrongFileKindError | None:
    """The error for text that failed to parse because it is another kind of file (a caffemodel, a solver...)."""
    from ..filekinds import sniff, wrong_kind

    expected = _EXPECTED.get(cls.__name__)
    kind = sniff(data.encode("utf-8") if isinstance(data, str) else data) if expected else None
    if kind is None or expected is None or kind.key == expected[0]:
        return None
    return WrongFileKindError(wrong_kind(source, kind, expected[1]), kind.key, expected[0])


def not_a_caffemodel(path: str | os.PathLike[str]) -> WrongFileKindError | None:
    """The error for a file read as a caffemodel that is plainly another kind (a prototxt, a .solverstate...)."""
    from ..filekinds import sniff_file, wrong_kind

    kind = sniff_file(path)
    if kind is None or kind.key == "caffemodel":
        return None
    return WrongFileKindError(wrong_kind(str(path), kind, "a caffemodel"), kind.key, "caffemodel")


def read_prototxt(path: str | os.PathLike[str], message: type | None = None):
    """Read a .prototxt file into a ``NetParameter`` (or ``message``, e.g. SolverParameter)."""
    data = read_bytes(path, "prototxt", PrototxtError)
    return parse_prototxt(data, source=str(path), message=message)


def format_prototxt(msg, header: str | None = None) -> str:
    """Print a message as prototxt text, optionally preceded by a comment header line."""
    body = text_format.MessageToString(msg, as_utf8=True)
    if header is None:
        return body
    return header.rstrip("\n") + "\n" + body


def write_prototxt(msg, path: str | os.PathLike[str], header: str | None = None, force: bool = False) -> None:
    """Write a message as prototxt atomically."""
    atomic_write_text(path, format_prototxt(msg, header), force=force)


def read_caffemodel_proto(path: str | os.PathLike[str]) -> caffe_pb2.NetParameter:
    """Parse a .caffemodel with plain protobuf (slow path; see ``caffe.fastblob`` for large files)."""
    data = read_bytes(path, "caffemodel", CaffemodelError)
    if not data:
        raise CaffemodelError(f"{path}: empty caffemodel")
    msg = caffe_pb2.NetParameter()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise not_a_caffemodel(path) or CaffemodelError(f"{path}: not a valid caffemodel (protobuf decode failed: "
                                                        f"{e})") from None
    if not len(msg.layer) and not len(msg.layers) and (other := not_a_caffemodel(path)):
        raise other
    return msg
