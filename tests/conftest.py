"""Shared fixtures.

Tests that need the real Caffe use the ``caffe_root`` fixture: it creates the
Debian 11 root on first use (needs root and debootstrap, as the README's test
command sets up). They are skipped only when the user opts out with
SENET_PROTO_SKIP_CAFFE=1; if the root cannot be built they fail saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from image_cases import caffe_case, image_files, timm_dir, tiny10_pair  # noqa: F401  (session fixtures of the image tests)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "caffe_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.caffe)


@pytest.fixture(scope="session")
def caffe_root() -> Path:
    if os.environ.get("SENET_PROTO_SKIP_CAFFE") == "1":
        pytest.skip("real-Caffe tests skipped: SENET_PROTO_SKIP_CAFFE=1 was set by the user")
    from senet_proto.errors import SenetProtoError
    from senet_proto.reference.root import ensure_root

    try:
        return ensure_root()
    except SenetProtoError as e:
        pytest.fail(f"the real-Caffe reference is unavailable: {e}", pytrace=False)


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
