"""Atomic outputs: no half-written file on failure; clear errors for unusable paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from senet_proto.errors import OutputError
from senet_proto.fsutil import atomic_dir, atomic_open, atomic_open_many, atomic_write_text, check_output_path


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


def test_atomic_open_many_writes_all_files_together(tmp_path: Path) -> None:
    model, data = tmp_path / "m.onnx", tmp_path / "m.onnx.data"
    with atomic_open_many([model, data], "wb") as (f, g):
        f.write(b"model")
        g.write(b"data")
        assert not model.exists() and not data.exists()
    assert model.read_bytes() == b"model" and data.read_bytes() == b"data"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]


def test_atomic_open_many_leaves_nothing_on_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_open_many([tmp_path / "a", tmp_path / "b"], "wb") as (f, g):
        f.write(b"a")
        g.write(b"half")
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_atomic_open_many_undoes_renames_when_a_later_one_fails(tmp_path: Path, monkeypatch) -> None:
    """The first path is renamed last: if that fails, the files already in place are removed too."""
    real = os.replace
    calls: list[str] = []

    def replace(src, dst) -> None:
        calls.append(Path(dst).name)
        if Path(dst).name == "a":
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="Input/output"), atomic_open_many([tmp_path / "a", tmp_path / "b"]) as (f, g):
        f.write(b"a")
        g.write(b"b")
    assert calls == ["b", "a"] and os.listdir(tmp_path) == []


def test_atomic_open_many_checks_every_path_first(tmp_path: Path) -> None:
    (tmp_path / "b").write_text("keep")
    with pytest.raises(OutputError, match="exists"), atomic_open_many([tmp_path / "a", tmp_path / "b"], force=False):
        pytest.fail("must not open anything")
    assert sorted(os.listdir(tmp_path)) == ["b"] and (tmp_path / "b").read_text() == "keep"


def test_binary_outputs_start_their_writeback_while_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 16 MiB written, the kernel is asked to start writing that range; the bytes are unchanged."""
    from senet_proto import fsutil

    if not hasattr(os, "posix_fadvise"):
        pytest.skip("this platform has no posix_fadvise (the writer then only fsyncs at the end)")
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        assert os.fstat(fd).st_size >= offset + length, "advised a range not yet written to the file"
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    chunks = [bytes([i]) * (3 << 20) for i in range(13)]  # 39 MiB in 3 MiB writes
    target = tmp_path / "big.bin"
    with atomic_open(target, "wb") as f:
        for c in chunks:
            f.write(c)
    assert target.read_bytes() == b"".join(chunks)
    starts = [0, *[o + n for o, n, _ in calls[:-1]]]
    assert [o for o, _, _ in calls] == starts, "ranges are not contiguous from the start"
    assert all(n >= fsutil.WRITEBACK_CHUNK and a == os.POSIX_FADV_DONTNEED for _, n, a in calls)
    assert len(calls) == 2  # 18 MiB, then 18 MiB; the last 3 MiB are left to the final fsync


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "folder"
    with pytest.raises(RuntimeError), atomic_dir(target) as d:
        atomic_write_text(d / "a.txt", "first")
        raise RuntimeError("failed half-way")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as d:
        atomic_write_text(d / "a.txt", "new")
    assert (target / "a.txt").read_text() == "new"
    with pytest.raises(OutputError, match="exists"), atomic_dir(target):
        pass
    with pytest.raises(RuntimeError), atomic_dir(target, force=True) as d:  # the old folder survives a failure
        atomic_write_text(d / "b.txt", "other")
        raise RuntimeError("failed")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target, force=True) as d:
        atomic_write_text(d / "b.txt", "other")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"] and list(tmp_path.iterdir()) == [target]
