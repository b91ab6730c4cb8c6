"""cli.common.guarded: a missing optional package is one line naming it and its extra (exit 1); any other
missing module stays an internal error (exit 4)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from senet_proto.cli.common import guarded


def _command(module: str) -> click.Command:
    @click.command("demo")
    @guarded
    def demo() -> None:
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    return demo


@pytest.mark.parametrize(("module", "package", "extra"), [
    ("torch", "torch", "convert"), ("onnxruntime.capi", "onnxruntime", "convert"), ("timm", "timm", "timm"),
    ("pydot", "pydot", "view"),
])
def test_missing_optional_package_is_named(module, package, extra):
    result = CliRunner().invoke(_command(module), [])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"senet-proto: error: demo needs the Python package '{package}': pip install 'senet-proto[{extra}]'"]


def test_other_missing_module_is_a_bug():
    result = CliRunner().invoke(_command("senet_proto.nowhere"), [])
    assert result.exit_code == 4 and "internal error" in result.output
