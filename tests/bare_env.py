"""A base install of senet-proto without a download: this checkout's package and the dependencies that
pyproject.toml lists outside its extras, linked from the running environment into one directory."""

from __future__ import annotations

import os
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def checkout_env(**extra: str) -> dict[str, str]:
    """Our environment for a subprocess that must import this checkout's senet_proto (as the tests do), not the
    venv's installed copy, which may be older; ``extra`` added."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def extra_packages(extra: str) -> set[str]:
    """The distributions (lower case) that pyproject.toml's ``extra`` brings, following ``senet-proto[...]``."""
    out: set[str] = set()
    for req in PYPROJECT["project"]["optional-dependencies"][extra]:
        m = re.match(r"senet-proto\[([\w,]+)\]", req)
        if m:
            for sub in m.group(1).split(","):
                out |= extra_packages(sub)
        else:
            out.add(Requirement(req).name.lower())
    return out


def _place(src: Path, target: Path, copy: bool) -> None:
    if not copy:
        target.symlink_to(src)
    elif src.is_dir():
        shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(src, target)


def _link_distribution(name: str, site: Path, seen: set[str], copy: bool = False) -> None:
    """Link (or copy) ``name`` and what it requires (markers evaluated here) from this environment into ``site``."""
    if name in seen:
        return
    seen.add(name)
    dist = metadata.distribution(name)
    for rel in dist.files or ():
        parts = Path(rel).parts
        if parts[0].endswith(".dist-info") or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        src = Path(dist.locate_file(parts[0]))
        if src.is_dir() and not (src / "__init__.py").exists() and len(parts) > 2:  # a namespace (google/)
            (site / parts[0]).mkdir(exist_ok=True)
            target, src = site / parts[0] / parts[1], src / parts[1]
        else:
            target = site / parts[0]
        if not target.exists() and src.exists():
            _place(src, target, copy)
    for req in dist.requires or ():
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            _link_distribution(r.name, site, seen, copy)


def link_base_install(site: Path, copy: bool = False) -> None:
    """Fill ``site`` (a site-packages or a PYTHONPATH directory) with senet_proto and its base dependencies:
    links, or copies (``copy``) for another user, who may not reach this checkout or this environment."""
    seen: set[str] = set()
    for req in PYPROJECT["project"]["dependencies"]:
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate():
            _link_distribution(r.name, site, seen, copy)
    _place(REPO / "senet_proto", site / "senet_proto", copy)
