"""Element-wise layers: the top has the bottom's shape; all may run in place."""

from __future__ import annotations

from .base import LayerSpec, add, same

add(*(LayerSpec(t, same, in_place=True) for t in ("ReLU", "Sigmoid", "TanH", "Dropout", "Power", "AbsVal")))
