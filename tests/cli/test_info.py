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


@pytest.mark.parametrize("data", ["lmdb", "dummy"])
def test_train_val_net_names_the_data_layers_tops(tmp_path: Path, data: str) -> None:
    net = tmp_path / "train_val.prototxt"
    assert run("generate", "se-resnet-50", "--phase", "train", "--data", data, "--batch-size", "8",
               "-o", str(net)).exit_code == 0
    r = run("info", str(net))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == "SE-ResNet-50: input data 8×3×224×224, label 8"
    r = run("info", str(net), "--json")
    assert json.loads(r.stdout)["inputs"] == {"data": [8, 3, 224, 224], "label": [8]}


def test_a_pytorch_file_is_read_through_its_embedded_net(tmp_path: Path) -> None:
    """`convert --to pytorch` embeds the net: info (and draw, view) read it from there."""
    robustness = Path(__file__).resolve().parent.parent / "robustness"
    proto, out = robustness / "conv.prototxt", tmp_path / "conv.safetensors"
    assert run("convert", str(proto), str(robustness / "conv.caffemodel"), "-o", str(out)).exit_code == 0
    r = run("info", str(out), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(run("info", str(proto), "--json").stdout)
    svg, text = tmp_path / "conv.svg", tmp_path / "conv.prototxt"
    assert run("draw", str(out), "-o", str(svg)).exit_code == 0 and "<svg" in svg.read_text()
    assert run("view", str(out), "--netscope", "-o", str(text), "--no-clipboard").exit_code == 0
    from senet_proto.caffe import read_prototxt

    assert read_prototxt(text) == read_prototxt(proto)


@pytest.mark.parametrize(("name", "words"), [
    ("t.safetensors", "looks like a safetensors file of tensors only (e.g. a timm state dict), not a net prototxt"),
    ("m.onnx", "looks like an ONNX model, not a net prototxt"),
    ("x.npy", "looks like a NumPy .npy array, not a net prototxt"),
])
def test_other_files_say_what_they_are(tmp_path: Path, name: str, words: str) -> None:
    import numpy as np

    path = tmp_path / name
    if name.endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file({"conv1.weight": np.zeros((4, 3, 3, 3), np.float32)}, str(path))
    elif name.endswith(".onnx"):
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(graph), str(path))
    else:
        np.save(path, np.zeros(3))
    for command in ("info", "view --netscope --no-clipboard", "draw -o d.svg"):
        cmd, *rest = command.split()
        r = run(cmd, str(path), *rest)
        assert r.exit_code == 1 and f"{path}: {words}" == one_error_line(r).removeprefix("senet-proto: error: ")
