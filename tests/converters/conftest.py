"""Fixtures of the converter tests: the real-Caffe reference and cached Caffe-made weights."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def reference(caffe_root):
    """``senet_proto.reference`` once the Caffe root is ready (tests using it are marked ``caffe``)."""
    from senet_proto import reference

    return reference
