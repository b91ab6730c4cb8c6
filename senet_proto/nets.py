"""Resolve what a user names on the command line: an architecture id or a prototxt file."""

from __future__ import annotations

from pathlib import Path

from .caffe import caffe_pb2, read_prototxt
from .caffe.python_axpy import read_python_axpy
from .caffe.upgrade import upgrade_net
from .caffe.validate import check_graph
from .errors import PrototxtError


def resolve_net(spec: str | Path) -> caffe_pb2.NetParameter:
    """``se-resnet-50`` -> the generated default net; ``path/to/net.prototxt`` -> that file, parsed and
    checked like Caffe checks a net (known bottoms, one producer per blob, sane input shapes)."""
    from .generator import ARCHITECTURES, generate

    if isinstance(spec, str) and spec in ARCHITECTURES:
        return generate(spec)
    path = Path(spec)
    if not path.exists():
        known = ", ".join(sorted(ARCHITECTURES))
        raise PrototxtError(f"{spec}: neither a known architecture ({known}) nor an existing file")
    net = read_prototxt(path)
    if len(net.layer) or not len(net.layers):
        check_graph(net)
    return net


def resolve_current_net(spec: str | Path) -> caffe_pb2.NetParameter:
    """``resolve_net``, with a legacy V1 net (``layers`` with enum types) upgraded as the converters'
    loader upgrades it (``upgrade_net``, Caffe's upgrade_proto.cpp) and then checked like any other, and
    Python layers named Axpy read as Axpy (``read_python_axpy``, part of that upgrade)."""
    net = resolve_net(spec)
    if len(net.layers):
        net = upgrade_net(net)
        check_graph(net)
    else:
        read_python_axpy(net)
    return net
