"""The layer catalogue: each Caffe layer type's rules, in one place, without torch.

For every type (one module per family) a ``LayerSpec``: its shape rule, how many bottoms it takes, its expected
blobs (None: parameter-free), its parameters and multiply-adds, whether it may run in place, whether it only
belongs to training nets, and which conversion targets refuse it and why. Shape inference (``analysis``), the
loader's blob checks, the generator and both converters read these entries; the type lists are derived here.

Adding a type: an entry in the family module (or a new module imported below), one converter per target (or a
``refused`` reason), and cases in tests/converters/test_layers.py.
"""

from __future__ import annotations

from . import activation, conv, data, norm, pool, shape  # noqa: F401  (fill the catalogue)
from .base import CATALOGUE, MANY, Cost, Layer, LayerSpec, Shape, canonical_axis, spatial, where

PARAMETER_FREE_TYPES = frozenset(t for t, s in CATALOGUE.items() if s.parameter_free)
TRAINING_TYPES = frozenset(t for t, s in CATALOGUE.items() if s.training)


def spec(layer_type: str) -> LayerSpec | None:
    """The catalogue entry of a Caffe layer type, or None for a type it does not know."""
    return CATALOGUE.get(layer_type)


def made_blobs(layer: Layer, bottoms: list[Shape]) -> list[Shape]:
    """The shapes of the blobs Caffe makes for ``layer`` on inputs of these shapes (its entry's ``made`` rule;
    none for a parameter-free or unknown type)."""
    entry = CATALOGUE.get(layer.type)
    return entry.made(layer, bottoms) if entry is not None and entry.made is not None else []


def converted_types(target: str) -> frozenset[str]:
    """The types a target ("pytorch", "onnx") converts: every catalogue type it does not refuse."""
    return frozenset(t for t, s in CATALOGUE.items() if target not in s.refused)


__all__ = ["CATALOGUE", "MANY", "PARAMETER_FREE_TYPES", "TRAINING_TYPES", "Cost", "LayerSpec", "Shape",
           "canonical_axis", "converted_types", "made_blobs", "spatial", "spec", "where"]
