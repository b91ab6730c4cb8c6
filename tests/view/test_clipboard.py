"""The clipboard helper runs a real program found on PATH (fake xclip/wl-copy scripts here)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from senet_proto.view.clipboard import copy_to_clipboard


def _tool(folder: Path, name: str, sink: Path, rc: int = 0) -> None:
    script = folder / name
    script.write_text(f"#!/bin/sh\necho \"$@\" > {sink}.args\n/bin/cat > {sink}\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_xclip_gets_the_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = tmp_path / "clip"
    _tool(tmp_path, "xclip", sink)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert copy_to_clipboard("layer { name: \"é\" }\n") == "xclip"
    assert sink.read_text(encoding="utf-8") == "layer { name: \"é\" }\n"
    assert (tmp_path / "clip.args").read_text().split() == ["-selection", "clipboard"]


def test_wayland_first_and_failing_tools_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tool(tmp_path, "wl-copy", tmp_path / "wl", rc=1)
    _tool(tmp_path, "xsel", tmp_path / "xsel")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert copy_to_clipboard("x") == "xsel"
    assert (tmp_path / "wl").read_text() == "x"  # tried first, failed


def test_no_tool_no_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tool(tmp_path, "xclip", tmp_path / "clip")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert copy_to_clipboard("x") is None
    assert not (tmp_path / "clip").exists()
