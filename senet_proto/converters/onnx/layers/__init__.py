"""One ONNX converter per Caffe layer type: ``fn(node, builder)`` appends ONNX nodes for a graph node.

One module per family, as the PyTorch converters in ``converters/layers/``. Caffe semantics are kept exactly:
pooling with Caffe's ceil rule and last-window rule, BatchNorm statistics divided by the third blob (0 -> 0),
Scale/Axpy broadcasting from Caffe's axis, InnerProduct flattening from its axis.
"""

from . import activation, conv, eltwise, norm, pool, shape  # noqa: F401  (registers the converters)
from .common import ONNX_CONVERTERS

__all__ = ["ONNX_CONVERTERS"]
