"""A file cache of ``make_weights``' caffemodels: one file per net, seed, calibration input and code version,
made once under a lock (parallel test workers); stale files evicted, and the least recently used ones once the
cache outgrows its size limit."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import time
from importlib import resources
from pathlib import Path

import numpy as np

from ..caffe.io import NetLike
from .jobs import load_net
from .root import cache_dir
from .weights import make_weights

CACHE_MAX_AGE_S = 24 * 3600
CACHE_MAX_BYTES = 6 * 2**30
"""The cache's size limit (``SENET_PROTO_WEIGHTS_CACHE_GB`` changes it): the test suite's own files fit in it."""
CACHE_IN_USE_S = 3600
"""A file used this recently is kept past the size limit: another process of the same run may be reading it."""

WEIGHTS_CODE = ("weights.py", "jobs.py", "netprep.py", "inroot/runner.py", "inroot/senet_axpy.py")
"""The modules that decide a made caffemodel's content (relative to this package)."""


def _weights_code_digest() -> str:
    """A digest of the code that makes weights: cached files are remade when it changes."""
    h = hashlib.sha256()
    pkg = resources.files("senet_proto.reference")
    for name in WEIGHTS_CODE:
        h.update((pkg / name).read_bytes())
    return h.hexdigest()


def _cache_key(src_bytes: bytes, seed: int, calibration_input: np.ndarray | None) -> str:
    """The hex digest naming one cached file: net, seed, calibration input and the weights code."""
    key = hashlib.sha256()
    key.update(src_bytes)
    key.update(f"seed={int(seed)}".encode())
    if calibration_input is not None:
        calib = np.ascontiguousarray(calibration_input, dtype=np.float32)
        key.update(f"calibration={calib.shape}".encode())
        key.update(calib.tobytes())
    key.update(_weights_code_digest().encode())
    return key.hexdigest()


def _evict_stale(directory: Path, prefix: str, keep: Path) -> None:
    """Remove files of the same net name and seed unused for a day: older code or another variant, or the
    temporary file of a run killed outright (SIGKILL) mid-write, never used under its final name.
    (Several checkouts of different code may share the cache at the same time: keep theirs.)"""
    for old in [*directory.glob(f"{glob.escape(prefix)}*.caffemodel"),
                *directory.glob(f".{glob.escape(prefix)}*.part")]:
        with contextlib.suppress(OSError):
            if old != keep and time.time() - old.stat().st_mtime > CACHE_MAX_AGE_S:
                old.unlink()


def _size_limit() -> int:
    value = os.environ.get("SENET_PROTO_WEIGHTS_CACHE_GB")
    if not value:
        return CACHE_MAX_BYTES
    try:
        return int(float(value) * 2**30)
    except ValueError:
        return CACHE_MAX_BYTES


def _evict_least_recently_used(directory: Path, keep: Path) -> None:
    """Remove the least recently used files (oldest first) while the cache is over its size limit; files used
    within ``CACHE_IN_USE_S`` stay (so a run whose own files outgrow the limit never remakes them)."""
    entries = []
    for f in directory.glob("*.caffemodel"):
        with contextlib.suppress(OSError):
            st = f.stat()
            entries.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in entries)
    limit, now = _size_limit(), time.time()
    for mtime, size, f in sorted(entries, key=lambda e: e[0]):
        if total <= limit or now - mtime < CACHE_IN_USE_S:
            break
        if f != keep:
            with contextlib.suppress(OSError):
                f.unlink()
                total -= size


def cached_weights(net: NetLike, *, seed: int = 0, calibration_input: np.ndarray | None = None) -> Path:
    """``make_weights`` with default settings (or on ``calibration_input``), cached under the cache root (keyed
    by net, seed, calibration input and code).

    For tests and tools that need the same weights repeatedly; the cache lives next to the Caffe root
    (``$XDG_CACHE_HOME/senet-proto/weights``) and is safe to delete; making a new file removes the ones of
    the same net name and seed that were not used for a day, then the least recently used ones while the cache
    is over ``CACHE_MAX_BYTES``.
    """
    src = load_net(net)
    key = _cache_key(src.SerializeToString(deterministic=True), seed, calibration_input)
    prefix = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', src.name or 'net')[:40]}-s{int(seed)}-"
    directory = cache_dir() / "weights"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}{key[:20]}.caffemodel"
    with open(directory / f".{prefix}lock", "w") as lock:  # parallel test workers make each file once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            path.touch()  # recently used: not evicted below by another run
            return path
        make_weights(src, path, seed=seed, force=True, calibration_input=calibration_input)
        _evict_stale(directory, prefix, path)
        _evict_least_recently_used(directory, path)
    return path
