"""Fixtures of the reference tests: weights made once and cached on disk."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def se_resnet50_weights(caffe_root):
    """SE-ResNet-50 (the generator's default net) with make_weights(seed=0), cached on disk."""
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    net = generate("se-resnet-50")
    return net, cached_weights(net, seed=0)
