"""What ``view`` and ``draw`` show: a net with its prototxt text and a file name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..caffe import caffe_pb2, format_prototxt
from ..caffe.io import HEADER
from ..caffe.python_axpy import read_python_axpy


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
    from ..nets import read_net_file, resolve_net

    path = Path(spec)
    if path.is_file() and not _is_arch(spec):
        net, text = read_net_file(path)  # a prototxt, or the net a senet-proto PyTorch file embeds
        if len(net.layer) or not len(net.layers):
            read_python_axpy(net)  # the text is shown as written; the net's Python Axpy layers are Axpy
        name = path.name if path.suffix.lower() == ".prototxt" else f"{path.stem}.prototxt"
        return NetSource(net, text, _safe_name(name), True)

    net = resolve_net(spec)
    text = format_prototxt(net, header=HEADER) if _is_arch(spec) else format_prototxt(net)
    return NetSource(net, text, _safe_name(f"{net.name or spec}.prototxt"), False)


def _is_arch(spec: str) -> bool:
    try:
        from ..generator import ARCHITECTURES
    except ImportError:
        return False
    return spec in ARCHITECTURES
