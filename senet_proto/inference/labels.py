"""The ImageNet-1k classes in the standard order (sorted WordNet ids), shipped as ``data/imagenet1k.tsv``."""

from __future__ import annotations

import functools
import re
from importlib import resources

WNID = re.compile(r"^n\d{8}$")
IMAGENET_CLASSES = 1000


@functools.cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """``(wnid, description)`` per class, index = standard class index; description: WordNet lemmas."""
    text = resources.files("senet_proto.data").joinpath("imagenet1k.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return tuple((wnid, desc) for wnid, desc in rows)


def wnids() -> list[str]:
    return [w for w, _ in imagenet_classes()]


def short_label(description: str) -> str:
    """The first lemma ('tench' of 'tench, Tinca tinca')."""
    return description.split(", ")[0]


@functools.cache
def wnid_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(wnids())}
