"""Optional Python packages: which extra brings each, and the one error that names them when missing.

The base install (``pip install senet-proto``) generates, inspects and runs the real-Caffe reference;
converting, verifying and viewing need extras. ``require`` checks before work starts (without importing),
``needs`` turns a ModuleNotFoundError of an optional package raised inside it into ``MissingDependencyError``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType

from .errors import MissingDependencyError

# import name -> (distribution to install, the senet-proto extra that brings it); tests/test_optional.py checks
# each against pyproject.toml's extras
PACKAGES: dict[str, tuple[str, str]] = {
    "torch": ("torch", "convert"),
    "safetensors": ("safetensors", "convert"),
    "onnx": ("onnx", "convert"),
    "onnxruntime": ("onnxruntime", "convert"),
    "timm": ("timm", "timm"),
    "netron": ("netron", "view"),
    "pydot": ("pydot", "view"),
    "PIL": ("pillow", "predict"),
}


def missing(name: str, what: str | None = None) -> MissingDependencyError:
    """The error for the missing optional module ``name`` (an import name, e.g. ``PIL``)."""
    top = name.split(".")[0]
    dist, extra = PACKAGES.get(top, (top, "all"))
    who = f"{what} needs" if what else "needs"
    err = MissingDependencyError(f"{who} the Python package '{dist}': pip install 'senet-proto[{extra}]'")
    err.name = top
    return err


def translate(error: ModuleNotFoundError, what: str | None = None) -> MissingDependencyError | None:
    """``missing(...)`` when ``error`` is about an optional package, else None (a genuine bug)."""
    if isinstance(error, MissingDependencyError):
        return error
    top = (error.name or "").split(".")[0]
    return missing(top, what) if top in PACKAGES else None


def require(*names: str, what: str | None = None) -> None:
    """Raise ``MissingDependencyError`` for the first of ``names`` that is not installed (nothing is imported)."""
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise missing(name, what)


def import_optional(name: str, what: str | None = None) -> ModuleType:
    """``importlib.import_module(name)``, raising ``MissingDependencyError`` when an optional package is missing."""
    with needs(what):
        return importlib.import_module(name)


@contextlib.contextmanager
def needs(what: str | None = None) -> Iterator[None]:
    """Inside: a ModuleNotFoundError of an optional package becomes ``MissingDependencyError`` (also a
    decorator)."""
    try:
        yield
    except ModuleNotFoundError as e:
        err = translate(e, what)
        if err is None:
            raise
        raise err from None
