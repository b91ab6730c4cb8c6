"""The Caffe format layer: schema (caffe.proto), reading and writing prototxt/caffemodel."""

from . import caffe_pb2
from .io import (
    format_prototxt,
    parse_prototxt,
    read_caffemodel_proto,
    read_prototxt,
    write_prototxt,
)

__all__ = [
    "caffe_pb2",
    "format_prototxt",
    "parse_prototxt",
    "read_caffemodel_proto",
    "read_prototxt",
    "write_prototxt",
]
