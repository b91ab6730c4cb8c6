"""Fixtures of the converter tests: the real-Caffe reference and cached Caffe-made weights."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def reference(caffe_root):
    """``senet_proto.reference`` once the Caffe root is ready (tests using it are marked ``caffe``)."""
    from senet_proto import reference

    return reference


@pytest.fixture(scope="session")
def arch_weights(reference):
    """arch -> (default net, path of its Caffe-made weights)."""
    from senet_proto.generator import generate

    cache: dict[str, tuple[object, object]] = {}

    def get(arch: str):
        if arch not in cache:
            net = generate(arch)
            cache[arch] = (net, reference.cached_weights(net, seed=0))
        return cache[arch]

    return get
