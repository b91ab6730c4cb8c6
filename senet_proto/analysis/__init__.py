"""Shape inference, learnable parameters and multiply-adds of Caffe nets (no Caffe needed)."""

from .shapes import LayerShapes, infer_layers, infer_shapes
from .summary import LayerRow, StageRow, Summary, format_table, summarize

__all__ = [
    "LayerRow",
    "LayerShapes",
    "StageRow",
    "Summary",
    "format_table",
    "infer_layers",
    "infer_shapes",
    "summarize",
]
