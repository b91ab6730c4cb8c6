"""The official prototxts for tests, whether or not ``../shared/official`` is beside the repository.

``official_path("SE-ResNet-50")`` is the release's own file in ``shared/official`` when a folder of that
name sits beside the repository or beside any of its parents (so worktrees under another folder find it
too). Without it (e.g. a bare clone, or the Docker image's test stage, which copies only the repository)
it is the net that ``senet_proto.generator`` makes for that architecture, written once per test process
into a temporary folder. The substitute is exact: tests/generator/test_official.py proves that the
generated nets are the official ones, comparing them with the files when they are present and otherwise
with the SHA-256 digests of the official files committed in tests/generator/official_digests.toml
(computed from the files, never from the generator); ``official_path`` checks the same digest before it
hands a generated file out. Only the text differs (the generator's formatting and header), never the net.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DIGESTS: dict[str, dict] = tomllib.loads((Path(__file__).parent / "generator" / "official_digests.toml").read_text())
"""arch id -> {file, layers, sha256} of each official prototxt."""

ARCH_OF: dict[str, str] = {entry["file"].removesuffix(".prototxt"): arch for arch, entry in DIGESTS.items()}
"""Official file name (without .prototxt) -> architecture id, e.g. "SE-ResNet-50" -> "se-resnet-50"."""

NAMES = sorted(ARCH_OF)


def shared_file(name: str) -> Path | None:
    """``shared/official/NAME`` beside the repository or one of its parents, or None when there is none."""
    for parent in Path(__file__).resolve().parents:
        path = parent / "shared" / "official" / name
        if path.is_file():
            return path
    return None


@functools.cache
def _generated_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="senet-proto-official-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def official_path(name: str) -> Path:
    """The official prototxt ``name`` (e.g. "SE-BN-Inception"): the release's file, or the identical
    generated net (see the module's docstring)."""
    name = name.removesuffix(".prototxt")
    shared = shared_file(f"{name}.prototxt")
    if shared is not None:
        return shared
    assert name in ARCH_OF, f"{name!r} is not an official prototxt ({', '.join(NAMES)})"
    path = _generated_dir() / f"{name}.prototxt"
    if not path.is_file():
        from senet_proto.generator import generate, generate_prototxt

        arch = ARCH_OF[name]
        digest = hashlib.sha256(generate(arch).SerializeToString(deterministic=True)).hexdigest()
        assert digest == DIGESTS[arch]["sha256"], (
            f"the generated {arch} is not the official {name} (see tests/generator/test_official.py)")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(generate_prototxt(arch))
        tmp.replace(path)
    return path
