"""Atomic output files: write to a temporary file beside the target, then rename.

An interrupted or failed run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import OutputError


def check_output_path(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Validate an output path before any work is done; raise OutputError if unusable."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"output path {p} is a directory")
    if p.exists() and not force:
        raise OutputError(f"output file {p} exists (use --force to overwrite)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory {parent} is not writable")
    return p


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", force: bool = True) -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it over ``path`` only on success."""
    p = check_output_path(path, force=force)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=parent)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror}") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open_many(paths: Sequence[str | os.PathLike[str]], mode: str = "wb",
                     force: bool = True) -> Iterator[list[IO]]:
    """Several files that make one output (a model and its data): each is written to a temporary file beside
    its target; only when all were written are they renamed, the first path last. A failure before that leaves
    none of them; a failed rename removes those already renamed."""
    targets = [check_output_path(p, force=force) for p in paths]
    temps: list[str] = []
    done: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            files = []
            for p in targets:
                try:
                    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
                except OSError as e:
                    raise OutputError(f"cannot write {p}: {e.strerror}") from None
                temps.append(tmp)
                files.append(stack.enter_context(os.fdopen(fd, mode)))
            yield files
            for f in files:
                f.flush()
                os.fsync(f.fileno())
        for p, tmp in reversed(list(zip(targets, temps, strict=True))):
            os.chmod(tmp, 0o644)
            os.replace(tmp, p)
            done.append(p)
    except BaseException:
        for path in [*temps, *map(str, done)]:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, force: bool = True) -> None:
    with atomic_open(path, "wb", force=force) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, force: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), force=force)
