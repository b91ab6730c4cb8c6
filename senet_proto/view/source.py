"""What ``view`` and ``draw`` show: a net with its prototxt text and a file name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..caffe import caffe_pb2, format_prototxt, parse_prototxt
from ..caffe.io import HEADER
from ..caffe.python_axpy import read_python_axpy
from ..caffe.validate import check_graph
from ..errors import PrototxtError


@dataclass(frozen=True)
class NetSource:
    net: caffe_pb2.NetParameter
    text: str
    filename: str
    from_file: bool


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "net"
    return cleaned[:100]


def load_source(spec: str) -> NetSource:
    """An existing .prototxt keeps its own text; an architecture id is generated and printed by protobuf."""
    path = Path(spec)
    if path.is_file() and not _is_arch(spec):
        try:
            data = path.read_bytes()
        except OSError as e:
            raise PrototxtError(f"{path}: cannot read: {e.strerror}") from None
        net = parse_prototxt(data, source=str(path))
        if len(net.layer) or not len(net.layers):
            check_graph(net)  # Caffe's own structural rules: known bottoms, one producer, sane shapes
            read_python_axpy(net)  # the text is shown as written; the net's Python Axpy layers are Axpy
        text = data.decode("utf-8")  # parse_prototxt checked it is UTF-8
        return NetSource(net, text, _safe_name(path.name), True)
    from ..nets import resolve_net

    net = resolve_net(spec)
    text = format_prototxt(net, header=HEADER) if _is_arch(spec) else format_prototxt(net)
    return NetSource(net, text, _safe_name(f"{net.name or spec}.prototxt"), False)


def _is_arch(spec: str) -> bool:
    try:
        from ..generator import ARCHITECTURES
    except ImportError:
        return False
    return spec in ARCHITECTURES
