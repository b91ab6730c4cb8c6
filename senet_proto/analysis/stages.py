"""Group layers into stages by name, and find the layers of the SE blocks by structure.

Stages follow the names of the official nets: ``conv1`` (the stem, with its pooling), ``conv2_x`` ...
``conv5_x`` for the ResNet family (``convS_B_...``), ``conv2`` and ``inception_3a`` ... for BN-Inception,
``classifier`` for everything after the last stage (final pooling, dropout, classifier, softmax), ``input``
for the data layers. Layers whose names match no pattern join the stage of the layer before them; a net
with no matching names at all is one stage, ``net``.

An SE block is found from its end: the Axpy (bottom 0) or two-bottom Scale (bottom 1) whose scale operand
comes, through single-input layers, from a global pooling. The block is that pooling, the layers on the path
and the Axpy/Scale.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .shapes import LayerShapes

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^conv1(?:_\d+)?(?:[/_]|$)"), "conv1"),
    (re.compile(r"^conv(\d+)_\d+(?:[/_]|$)"), "conv{0}_x"),
    (re.compile(r"^conv(\d+)(?:/|$)"), "conv{0}"),
    (re.compile(r"^(inception_\d+[a-z])(?:[/_]|$)"), "{0}"),
)

INPUT = "input"
TAIL = "classifier"
WHOLE = "net"


def _match(name: str) -> str | None:
    for pattern, fmt in _PATTERNS:
        m = pattern.match(name)
        if m:
            return fmt.format(*m.groups())
    return None


def assign_stages(layers: Sequence[LayerShapes]) -> list[str]:
    """The stage name of every layer, in order."""
    raw = [INPUT if ls.type == "Input" else _match(ls.name) for ls in layers]
    matched = [i for i, s in enumerate(raw) if s not in (None, INPUT)]
    if not matched:
        return [INPUT if s == INPUT else WHOLE for s in raw]
    last = matched[-1]
    out: list[str] = []
    current = INPUT
    for i, s in enumerate(raw):
        if s is not None:
            current = s
        elif i > last:
            current = TAIL
        out.append(current)
    return out


def _is_global_pool(ls: LayerShapes) -> bool:
    if ls.type != "Pooling":
        return False
    if ls.layer.pooling_param.global_pooling:
        return True
    top = ls.tops[0]
    return len(top) == 4 and top[2] == 1 and top[3] == 1


def se_layers(layers: Sequence[LayerShapes]) -> list[list[int]]:
    """Indices (into ``layers``) of each SE block's layers, one list per block, in order."""
    producer: dict[str, int] = {}
    blocks: list[list[int]] = []
    for i, ls in enumerate(layers):
        operand = None
        if ls.type == "Axpy":
            operand = ls.layer.bottom[0]
        elif ls.type == "Scale" and len(ls.layer.bottom) == 2:
            operand = ls.layer.bottom[1]
        if operand is not None:
            path = _path_to_squeeze(layers, producer, operand)
            if path is not None:
                blocks.append(sorted({*path, i}))
        for top in ls.layer.top:
            if top not in ls.layer.bottom:
                producer[top] = i
    return blocks


def _path_to_squeeze(layers: Sequence[LayerShapes], producer: dict[str, int], blob: str) -> list[int] | None:
    """Layers from a global pooling to ``blob`` (in-place layers on the way included), or None."""
    path: list[int] = []
    seen = 0
    while blob in producer and seen < 64:
        seen += 1
        j = producer[blob]
        # in-place layers writing this blob after its producer (ReLU, Sigmoid...)
        path.extend(k for k in range(j + 1, len(layers)) if layers[k].in_place and blob in layers[k].layer.top
                    and k < _next_reader_end(layers, j, blob))
        path.append(j)
        ls = layers[j]
        if _is_global_pool(ls):
            return path
        if len(ls.layer.bottom) != 1:
            return None
        blob = ls.layer.bottom[0]
    return None


def _next_reader_end(layers: Sequence[LayerShapes], j: int, blob: str) -> int:
    """Index of the first ordinary layer after ``j`` that reads ``blob`` (in-place layers before it belong to it)."""
    for k in range(j + 1, len(layers)):
        ls = layers[k]
        if blob in ls.layer.bottom and not ls.in_place:
            return k
    return len(layers)
