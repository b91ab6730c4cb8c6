"""The ImageNet-1k classes shipped as package data are timm's own list (ids and descriptions)."""

from __future__ import annotations

import pytest

from senet_proto.inference.labels import imagenet_classes, short_label, wnid_index

timm_data = pytest.importorskip("timm.data", reason="timm is part of the test extras (pip install '.[all,test]')")


def test_classes_are_timms() -> None:
    info = timm_data.ImageNetInfo()
    assert [w for w, _ in imagenet_classes()] == list(info.label_names())
    assert [d for _, d in imagenet_classes()] == list(info.label_descriptions())
    assert sorted(wnid_index()) == list(info.label_names())  # the standard order is the sorted ids
    assert short_label(imagenet_classes()[0][1]) == "tench"
