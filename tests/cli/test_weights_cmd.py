"""``senet-proto weights`` through click's CliRunner."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from senet_proto.caffe import read_caffemodel_proto, write_prototxt
from senet_proto.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from caffe_nets import small_se_net


def _net_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.prototxt"
    write_prototxt(small_se_net(), path)
    return path


def test_weights_writes_a_caffemodel(caffe_root, tmp_path):
    out = tmp_path / "tiny.caffemodel"
    result = CliRunner().invoke(main, ["weights", str(_net_file(tmp_path)), "-o", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    model = read_caffemodel_proto(out)
    factors = [layer.blobs[2].data[0] for layer in model.layer if layer.type == "BatchNorm"]
    assert len(factors) == 2 and 0.0 in factors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.caffemodel", "tiny.prototxt"]


def test_weights_missing_input_file(tmp_path):
    out = tmp_path / "x.caffemodel"
    result = CliRunner().invoke(main, ["weights", str(tmp_path / "nope.prototxt"), "-o", str(out)])
    assert result.exit_code == 1
    assert "nope.prototxt" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_weights_refuses_an_existing_output_without_force(caffe_root, tmp_path):
    net = _net_file(tmp_path)
    out = tmp_path / "tiny.caffemodel"
    out.write_bytes(b"old")
    result = CliRunner().invoke(main, ["weights", str(net), "-o", str(out)])
    assert result.exit_code == 1
    assert "exists" in result.output and "--force" in result.output
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.caffemodel", "tiny.prototxt"]  # no partial file
    result = CliRunner().invoke(main, ["weights", str(net), "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() != b"old"


def test_weights_caffe_error_is_one_line(caffe_root, tmp_path):
    net = small_se_net()
    bad = net.layer.add()
    bad.name, bad.type = "bad", "Eltwise"
    bad.bottom.extend(["conv1", "gpool"])
    bad.top.append("bad")
    path = tmp_path / "bad.prototxt"
    write_prototxt(net, path)
    out = tmp_path / "bad.caffemodel"
    result = CliRunner().invoke(main, ["weights", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert "Check failed" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.prototxt"]
