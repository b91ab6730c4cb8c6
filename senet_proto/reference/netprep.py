"""Prepare an in-memory copy of a user's net for Caffe 1.0 (the user's file is never changed).

* ``Axpy`` layers, and ``Python`` layers named Axpy (``caffe.python_axpy``), become Caffe ``Python``
  layers running ``inroot/senet_axpy.py``;
* input blobs get the shapes of the given arrays;
* nets that name any other ``Python`` layer are refused: the reference never
  imports or runs a module named in a user's file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..caffe import caffe_pb2
from ..caffe.layers.shape import input_layer_shapes, legacy_input_shapes
from ..caffe.python_axpy import read_python_axpy
from ..caffe.validate import layers_for_phase
from ..errors import CaffeReferenceError

AXPY_MODULE = "senet_axpy"
AXPY_CLASS = "AxpyLayer"


def rewrite_for_caffe(net: caffe_pb2.NetParameter) -> tuple[caffe_pb2.NetParameter, list[str]]:
    """A copy of ``net`` with Axpy (either spelling) as our Python layer; also the names of the rewritten layers."""
    if len(net.layers):
        # V1 nets have enum layer types: no Axpy and no Python layer can hide there.
        out = caffe_pb2.NetParameter()
        out.CopyFrom(net)
        return out, []
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    read_python_axpy(out)
    rewritten: list[str] = []
    for layer in out.layer:
        if layer.type == "Python":
            raise CaffeReferenceError(
                f"layer {layer.name!r} is a Python layer: the reference does not run Python modules named in a net"
            )
        if layer.type == "Axpy":
            layer.type = "Python"
            layer.python_param.module = AXPY_MODULE
            layer.python_param.layer = AXPY_CLASS
            rewritten.append(layer.name)
    return out, rewritten


def input_shapes(net: caffe_pb2.NetParameter) -> dict[str, list[int]]:
    """The net's input blobs (``Input`` layers of the TEST phase, or legacy ``input``) and their shapes."""
    shapes = {name: list(s) for name, s in legacy_input_shapes(net).items()}
    for layer in layers_for_phase(net, caffe_pb2.TEST):
        if layer.type == "Input":
            shapes.update((top, list(s)) for top, s in zip(layer.top, input_layer_shapes(layer), strict=True))
    return shapes


def set_input_shapes(net: caffe_pb2.NetParameter, shapes: Mapping[str, Sequence[int]]) -> None:
    """Give the named input blobs new shapes, in place (``net`` is already a copy)."""
    for i, name in enumerate(net.input):
        if name in shapes:
            if len(net.input_shape):
                del net.input_shape[i].dim[:]
                net.input_shape[i].dim.extend(int(d) for d in shapes[name])
            else:
                dims = [int(d) for d in shapes[name]]
                if len(dims) != 4:
                    raise CaffeReferenceError(f"input {name!r} is declared with input_dim, which needs 4 dims")
                net.input_dim[4 * i: 4 * i + 4] = dims
    for layer in net.layer:
        if layer.type != "Input" or not any(t in shapes for t in layer.top):
            continue
        old = [list(s.dim) for s in layer.input_param.shape]
        del layer.input_param.shape[:]
        for j, top in enumerate(layer.top):
            new: Sequence[int] = shapes[top] if top in shapes else (old[j] if j < len(old) else old[0])
            layer.input_param.shape.add().dim.extend(int(d) for d in new)


def blob_names(net: caffe_pb2.NetParameter) -> list[str]:
    """The blobs a net names itself (inputs and the tops of its TEST-phase layers), in order."""
    names = dict.fromkeys(net.input)
    for layer in layers_for_phase(net, caffe_pb2.TEST):
        names.update(dict.fromkeys(layer.top))
    return list(names)


def batchnorm_eps(net: caffe_pb2.NetParameter) -> dict[str, float]:
    return {layer.name: float(layer.batch_norm_param.eps)
            for layer in layers_for_phase(net, caffe_pb2.TEST) if layer.type == "BatchNorm"}


def loss_blobs(net: caffe_pb2.NetParameter, phase: int = caffe_pb2.TRAIN) -> list[tuple[str, float]]:
    """(top, loss weight) of the losses Caffe sums in ``phase``."""
    out: list[tuple[str, float]] = []
    for layer in layers_for_phase(net, phase):
        if len(layer.loss_weight):
            out.extend((t, float(w)) for t, w in zip(layer.top, layer.loss_weight, strict=False) if w)
        elif layer.type.endswith("Loss") and len(layer.top):
            out.append((layer.top[0], 1.0))
    return out
