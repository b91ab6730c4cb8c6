"""Atomic output files: write to a temporary file beside the target, then rename.

An interrupted or failed run never leaves a half-written output behind. Outputs are fsync'ed before the
rename; binary outputs start their writeback every few MiB while they are written (``_EarlyWriteback``), so the
final fsync waits for the last chunk only instead of the whole file.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import OutputError

WRITEBACK_CHUNK = 16 << 20


class _EarlyWriteback(io.BufferedWriter):
    """A buffered file that asks the kernel to start writing each 16 MiB to disk as soon as it is written.

    ``posix_fadvise(DONTNEED)`` on dirty pages starts their writeback without waiting for it (Linux), and lets
    the page cache drop them once clean: the disk works while the converter goes on, and the fsync before the
    rename has little left to do. A no-op where ``posix_fadvise`` is missing.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(io.FileIO(fd, "wb"), buffer_size=1 << 20)
        self._written = 0
        self._started = 0

    def write(self, data: Any, /) -> int:
        n = super().write(data)
        self._written += n
        if self._written - self._started >= WRITEBACK_CHUNK and hasattr(os, "posix_fadvise"):
            self.flush()
            with contextlib.suppress(OSError):
                os.posix_fadvise(self.fileno(), self._started, self._written - self._started,
                                 os.POSIX_FADV_DONTNEED)
            self._started = self._written
        return n


def _open_fd(fd: int, mode: str) -> IO:
    return _EarlyWriteback(fd) if mode == "wb" else os.fdopen(fd, mode)


def check_output_path(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Validate an output path before any work is done; raise OutputError if unusable."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"output path {p} is a directory")
    if p.exists() and not force:
        raise OutputError(f"output file {p} exists (use --force to overwrite)")
    return _check_parent(p)


def _check_parent(p: Path) -> Path:
    """``p`` if its folder exists and is writable."""
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory {parent} is not writable")
    return p


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", force: bool = True) -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it over ``path`` only on success (``atomic_open_many``
    of one file)."""
    with atomic_open_many([path], mode, force=force) as (f,):
        yield f


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
                files.append(stack.enter_context(_open_fd(fd, mode)))
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


def check_output_dir(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Validate an output folder before any work: absent (or, with ``force``, an existing folder to replace)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"output path {p} exists and is not a folder")
    if p.exists() and not force:
        raise OutputError(f"output folder {p} exists (use --force to replace it)")
    return _check_parent(p)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], force: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; renamed to ``path`` only on success (an existing folder is
    replaced with ``force``, removed only once the new one is in place)."""
    import shutil

    target = check_output_dir(path, force=force)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror}") from None
    old: Path | None = None
    try:
        yield tmp  # the caller writes its files with atomic_open (fsync'ed)
        os.chmod(tmp, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old / target.name, target)  # put the previous folder back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
