"""Axpy written as a Caffe ``Python`` layer, read as SENet's Axpy (top = a·X + Y).

Users who run the SENet release on stock Caffe write ``type: "Python"`` with
``python_param { module: "<any>" layer: "Axpy" }`` (three bottoms a, X, Y; one top).
Such a layer is read as an ``Axpy`` layer, in place, without importing its module;
every other Python layer stays a Python layer (refused by the commands that run or convert it).
"""

from __future__ import annotations

import logging

from . import caffe_pb2

log = logging.getLogger("senet_proto")

AXPY = "Axpy"


def is_python_axpy(layer: caffe_pb2.LayerParameter) -> bool:
    """A ``Python`` layer whose class is named Axpy, with Axpy's three bottoms and one top."""
    return (layer.type == "Python" and layer.python_param.layer == AXPY
            and len(layer.bottom) == 3 and len(layer.top) == 1)


def read_python_axpy(net: caffe_pb2.NetParameter) -> list[str]:
    """Turn ``net``'s Python layers named Axpy into Axpy layers (in place); said once per net.

    Returns the names of the layers read so (none for a net that has none, e.g. one read before)."""
    names: list[str] = []
    for layer in net.layer:
        if is_python_axpy(layer):
            layer.type = AXPY
            layer.ClearField("python_param")
            names.append(layer.name)
    if names:
        log.warning("%d Python layer%s named Axpy read as Axpy: a·x + y (%s not imported)", len(names),
                    "s" if len(names) > 1 else "", "their modules are" if len(names) > 1 else "its module is")
    return names
