"""The ONNX registry and the helpers the ONNX layer converters share."""

from __future__ import annotations

import numpy as np

from ...graph import Node
from ...registry import Registry
from ..builder import OnnxBuilder

ONNX_CONVERTERS: Registry = Registry("onnx")
register = ONNX_CONVERTERS.register
FLT_MAX = float(np.finfo(np.float32).max)


def _one(node: Node, b: OnnxBuilder, op: str, **attrs: object) -> None:
    b.add(op, [b.input(node.bottoms[0])], [b.output(node, node.tops[0])], node, **attrs)
