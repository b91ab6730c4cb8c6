"""`senet-proto draw`: files are produced and valid, options are checked before any work."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_view_helpers import official, one_error_line, run, v1_net_file


def test_svg_png_pdf(tmp_path: Path) -> None:
    net = official("SE-ResNet-50")
    svg, png, pdf = tmp_path / "a.svg", tmp_path / "b.png", tmp_path / "c.pdf"
    assert run("draw", net, "-o", str(svg), "--stage", "conv5_x").exit_code == 0
    root = ET.fromstring(svg.read_bytes())
    assert root.tag.endswith("svg") and "conv5_3_1x1_down" in "".join(root.itertext())
    assert run("draw", net, "-o", str(png), "--stage", "conv2_x", "--rankdir", "LR", "-q").exit_code == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert w > h > 50
    assert run("draw", net, "-o", str(pdf), "--stage", "classifier").exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b.png", "c.pdf"]  # no leftovers


def test_whole_big_net_renders(tmp_path: Path) -> None:
    out = tmp_path / "senet154.svg"
    r = run("draw", official("SENet-154"), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert ET.fromstring(out.read_bytes()).tag.endswith("svg")


@pytest.mark.parametrize(("args", "code", "words"), [
    (["-o", "x.gif"], 2, "suffix must be .svg, .png or .pdf"),
    (["-o", "x.svg", "--stage", "conv9_x"], 2, "no stage 'conv9_x'"),
    (["-o", "x.svg", "--rankdir", "XY"], 2, "rankdir"),
])
def test_bad_options(tmp_path: Path, args: list[str], code: int, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run("draw", official("SE-ResNet-50"), *args)
    assert r.exit_code == code and words in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "x.svg"
    out.write_text("keep me")
    r = run("draw", official("SE-ResNet-50"), "-o", str(out), "--stage", "conv1")
    assert r.exit_code == 1 and "--force" in one_error_line(r)
    assert out.read_text() == "keep me"
    assert run("draw", official("SE-ResNet-50"), "-o", str(out), "--stage", "conv1", "--force").exit_code == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_missing_graphviz_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "x.png"
    r = run("draw", official("SE-ResNet-50"), "-o", str(out), "--stage", "conv1")
    assert r.exit_code == 1 and "graphviz" in one_error_line(r).lower()
    assert not out.exists()


def test_tall_png_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = run("draw", official("SE-ResNet-152"), "-o", str(tmp_path / "big.png"))
    assert r.exit_code == 0
    assert "use .svg or .pdf" in caplog.text
    caplog.clear()
    r = run("draw", official("SE-ResNet-152"), "-o", str(tmp_path / "small.png"), "--stage", "conv2_x")
    assert r.exit_code == 0 and "use .svg" not in caplog.text


def test_legacy_v1_net_is_upgraded(tmp_path: Path) -> None:
    out = tmp_path / "v1.svg"
    r = run("draw", v1_net_file(tmp_path / "v1.prototxt"), "-o", str(out))
    assert r.exit_code == 0, r.output
    text = "".join(ET.fromstring(out.read_bytes()).itertext())
    for name in ("conv", "pool", "fc", "prob", "Convolution", "InnerProduct"):
        assert name in text, name
