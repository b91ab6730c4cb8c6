"""optional.PACKAGES agrees with pyproject.toml: the extra it names for a package does install that package."""

from __future__ import annotations

import pytest
from bare_env import extra_packages

from senet_proto.errors import MissingDependencyError, SenetProtoError
from senet_proto.optional import PACKAGES, import_optional, require


@pytest.mark.parametrize("module", sorted(PACKAGES))
def test_the_named_extra_installs_the_package(module):
    dist, extra = PACKAGES[module]
    assert dist.lower() in extra_packages(extra), f"pyproject.toml's [{extra}] does not install {dist}"


def test_a_missing_package_is_the_projects_error_and_a_module_not_found_error():
    PACKAGES["senet_proto_absent"] = ("senet-proto-absent", "convert")
    try:
        for call in (lambda: require("senet_proto_absent", what="x"), lambda: import_optional("senet_proto_absent")):
            with pytest.raises(MissingDependencyError) as info:
                call()
            assert isinstance(info.value, SenetProtoError) and isinstance(info.value, ModuleNotFoundError)
            assert "'senet-proto-absent': pip install 'senet-proto[convert]'" in str(info.value)
    finally:
        del PACKAGES["senet_proto_absent"]
