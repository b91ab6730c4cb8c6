"""Resolve what a user names on the command line: an architecture id or a prototxt file."""

from __future__ import annotations

from pathlib import Path

from .caffe import caffe_pb2, parse_prototxt
from .caffe.io import read_bytes
from .caffe.python_axpy import read_python_axpy
from .caffe.upgrade import upgrade_net
from .caffe.validate import check_graph
from .errors import PrototxtError


def read_net_file(path: str | Path) -> tuple[caffe_pb2.NetParameter, str]:
    """A net file, parsed and checked like Caffe checks a net (known bottoms, one producer per blob, sane input
    shapes; a legacy V1 net is checked once upgraded), and its prototxt text: a prototxt, or the net a senet-proto
    PyTorch file (``convert --to pytorch``) embeds. Any other kind of file is refused saying what it looks like."""
    from .converters.pytorch_io import embedded_prototxt

    embedded = embedded_prototxt(path)
    if embedded is not None:
        net, text = parse_prototxt(embedded, source=f"{path} (its embedded net)"), embedded
    else:
        data = read_bytes(path, "prototxt", PrototxtError)
        net, text = parse_prototxt(data, source=str(path)), data.decode("utf-8")  # parse_prototxt checked UTF-8
    if len(net.layer) or not len(net.layers):
        check_graph(net)
    return net, text


def resolve_net(spec: str | Path) -> caffe_pb2.NetParameter:
    """``se-resnet-50`` -> the generated default net; ``path/to/net.prototxt`` (or a PyTorch file that embeds
    its net, ``read_net_file``) -> that net, checked like Caffe checks a net (known bottoms, one producer per
    blob, sane input shapes)."""
    from .generator import ARCHITECTURES, generate

    if isinstance(spec, str) and spec in ARCHITECTURES:
        return generate(spec)
    path = Path(spec)
    if not path.exists():
        known = ", ".join(sorted(ARCHITECTURES))
        raise PrototxtError(f"{spec}: neither a known architecture ({known}) nor an existing file")
    net, _ = read_net_file(path)
    return net


def resolve_current_net(spec: str | Path) -> caffe_pb2.NetParameter:
    """``resolve_net``, with a legacy V1 net (``layers`` with enum types) upgraded as the converters'
    loader upgrades it (``upgrade_net``, Caffe's upgrade_proto.cpp) and then checked like any other, and
    Python layers named Axpy read as Axpy (``read_python_axpy``, part of that upgrade)."""
    return current_net(resolve_net(spec))


def current_net(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """A legacy V1 net (``layers``) upgraded (``upgrade_net``, Caffe's upgrade_proto.cpp) and checked; Python
    layers named Axpy read as Axpy; any other net as it is."""
    if len(net.layers):
        net = upgrade_net(net)
        check_graph(net)
    else:
        read_python_axpy(net)
    return net
