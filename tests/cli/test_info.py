"""`senet-proto info`: the table, JSON, input shapes and errors, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_view_helpers import official, one_error_line, run, v1_net_file

PAPER_GMACS = {"se-resnet-50": 3.87, "se-resnet-101": 7.60, "se-resnet-152": 11.32, "se-resnext-50": 4.25,
               "se-resnext-101": 8.00, "se-bn-inception": 2.04}


def test_table_for_se_resnet_50() -> None:
    r = run("info", official("SE-ResNet-50"))
    assert r.exit_code == 0, r.output
    out = r.stdout
    for stage in ("conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "classifier"):
        assert f"\n{stage} " in out
    assert "(28.09 M)" in out and "(3.87 G;" in out and "SE blocks: 16" in out


def test_json() -> None:
    r = run("info", official("SE-BN-Inception"), "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert abs(data["gmacs"] - 2.04) / 2.04 < 0.01
    assert data["inputs"] == {"data": [1, 3, 224, 224]} and data["outputs"] == {"prob": [1, 1000]}
    assert [s["name"] for s in data["stages"]][:4] == ["input", "conv1", "conv2", "inception_3a"]
    assert data["se_blocks"] == 10
    assert sum(s["macs"] for s in data["stages"]) == data["macs"]
    assert sum(ly["params"] for ly in data["layers"]) == data["params"]
    assert sum(ly["macs"] for ly in data["layers"] if ly["se"]) == data["se_macs"]


def test_input_shape_and_per_layer_listing() -> None:
    r = run("info", official("SE-ResNet-50"), "--input-shape", "2,3,256,256", "--json")
    data = json.loads(r.stdout)
    assert data["inputs"] == {"data": [2, 3, 256, 256]}
    assert data["outputs"] == {"prob": [2, 1000]}
    r = run("info", official("SE-ResNet-50"), "--layers")
    assert "conv2_1_1x1_down" in r.stdout and "Axpy" in r.stdout


@pytest.mark.parametrize("value", ["1,3,x,4", "1,3,0,4", ""])
def test_bad_input_shape_is_a_usage_error(value: str) -> None:
    r = run("info", official("SE-ResNet-50"), "--input-shape", value)
    assert r.exit_code == 2 and "--input-shape" in r.stderr


def test_input_too_small_is_one_line(tmp_path: Path) -> None:
    r = run("info", official("SE-ResNet-50"), "--input-shape", "1,3,16,16")
    assert r.exit_code == 1
    assert "non-positive" in one_error_line(r)


def test_unknown_layer_type_names_the_layer(tmp_path: Path) -> None:
    p = tmp_path / "odd.prototxt"
    p.write_text('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
                 'layer { name: "mystery" type: "Magic" bottom: "data" top: "m" }\n')
    r = run("info", str(p))
    assert r.exit_code == 1
    err = one_error_line(r)
    assert "'mystery'" in err and "'Magic'" in err


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    r = run("info", str(tmp_path / "nope.prototxt"))
    assert r.exit_code != 0
    assert "nope.prototxt" in one_error_line(r)


@pytest.mark.parametrize("arch", sorted(PAPER_GMACS))
def test_paper_gflops_for_every_default_net(arch: str) -> None:
    r = run("info", arch, "--json", "-q")
    assert r.exit_code == 0, r.output
    assert abs(json.loads(r.stdout)["gmacs"] - PAPER_GMACS[arch]) / PAPER_GMACS[arch] < 0.01


def test_legacy_v1_net_is_upgraded(tmp_path: Path) -> None:
    net = v1_net_file(tmp_path / "v1.prototxt")
    r = run("info", net, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["inputs"] == {"data": [1, 3, 8, 8]} and data["outputs"] == {"prob": [1, 10]}
    by_name = {ly["name"]: ly for ly in data["layers"]}
    assert by_name["conv"]["type"] == "Convolution" and by_name["fc"]["type"] == "InnerProduct"
    # conv: 4x3x3x3 weights + 4 biases, 108 MACs per output position of 4x8x8; MAX pool 2/2 reads its
    # 4x8x8 input once; fc: 64 -> 10 with biases
    assert data["params"] == 4 * 27 + 4 + 64 * 10 + 10
    assert data["macs"] == 4 * 27 * 64 + 4 * 8 * 8 + 64 * 10
    r = run("info", net)
    assert r.exit_code == 0 and "legacy" not in r.output


def test_legacy_v1_net_is_checked_after_the_upgrade(tmp_path: Path) -> None:
    r = run("info", v1_net_file(tmp_path / "v1.prototxt", bottom_of_fc="nowhere"))
    assert r.exit_code == 1
    assert "Unknown bottom blob 'nowhere'" in one_error_line(r)
