"""A base install of senet-proto without a download: this checkout's package and the dependencies that
pyproject.toml lists outside its extras, linked from the running environment into one directory."""

from __future__ import annotations

import re
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


def _link_distribution(name: str, site: Path, seen: set[str]) -> None:
    """Link ``name`` and what it requires (markers evaluated here) from this environment into ``site``."""
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
            target.symlink_to(src)
    for req in dist.requires or ():
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            _link_distribution(r.name, site, seen)


def link_base_install(site: Path) -> None:
    """Fill ``site`` (a site-packages or a PYTHONPATH directory) with senet_proto and its base dependencies."""
    seen: set[str] = set()
    for req in PYPROJECT["project"]["dependencies"]:
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate():
            _link_distribution(r.name, site, seen)
    (site / "senet_proto").symlink_to(REPO / "senet_proto")
