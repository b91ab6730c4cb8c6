"""`--to timm`: state dicts that timm's legacy SENets load strictly and that reproduce real Caffe.

timm builds the models itself (``pretrained=False``: nothing is downloaded). SENet-154 has one test of its
own that also covers its ONNX export, every blob, from a single Caffe forward (its weights are 440 MiB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from arch_helpers import check_all_blobs, check_scores, random_input, shadow_blobs
from click.testing import CliRunner
from test_onnx import run_onnx

from senet_proto.cli import main
from senet_proto.converters import CaffeNet, load_caffe
from senet_proto.converters.conventions import ConvertOptions
from senet_proto.converters.timm import (
    TIMM_MODELS,
    check_against_timm,
    export_timm,
    infer_timm_model,
    to_timm_state_dict,
)
from senet_proto.errors import CaffemodelError, UsageError
from senet_proto.generator import GenerateOptions, generate

timm = pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

ARCH_TO_TIMM = {
    "se-resnet-50": "legacy_seresnet50",
    "se-resnet-101": "legacy_seresnet101",
    "se-resnet-152": "legacy_seresnet152",
    "se-resnext-50": "legacy_seresnext50_32x4d",
    "se-resnext-101": "legacy_seresnext101_32x4d",
    "senet-154": "legacy_senet154",
}


def timm_scores(caffenet, tmp_path: Path, x: np.ndarray, expect: str) -> np.ndarray:
    """Export with the inferred name, load strictly into a fresh timm model, run it on ``x``."""
    name = infer_timm_model(caffenet)
    assert name == expect
    out = export_timm(caffenet, tmp_path / "timm.safetensors", ConvertOptions())
    model = timm.create_model(name, pretrained=False).eval()
    sd = safetensors_torch.load_file(str(out))
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_every_timm_model_is_covered() -> None:
    assert sorted(ARCH_TO_TIMM.values()) == sorted(TIMM_MODELS)


@pytest.mark.parametrize("arch", [a for a in ARCH_TO_TIMM if a != "senet-154"])
def test_timm_loads_strictly_and_matches_caffe(arch: str, reference, arch_weights, record_property,
                                               tmp_path: Path) -> None:
    net, weights = arch_weights(arch)
    x = random_input((2, 3, 224, 224), seed=1)
    ref = reference.forward(net, weights, {"data": x}, blobs=["classifier"])["classifier"]
    caffenet = load_caffe(net, weights)
    ours = timm_scores(caffenet, tmp_path, x, ARCH_TO_TIMM[arch])
    r = check_scores(ref, ours, shadow_blobs(caffenet, x)["classifier"], f"timm {ARCH_TO_TIMM[arch]} scores")
    record_property("timm_scores_rel", f"{r.ours_vs_caffe:.3g}")
    print(f"timm {ARCH_TO_TIMM[arch]}: scores max|Δ| {np.abs(ours - ref).max():.3g}, rel {r.ours_vs_caffe:.3g}, "
          f"Caffe's rounding {r.caffe_err:.3g}, timm's {r.ours_err:.3g}")


@pytest.mark.slow
def test_senet154_onnx_every_blob_and_timm(reference, arch_weights, record_property, tmp_path: Path) -> None:
    """SENet-154's one test: one Caffe forward; ONNX Runtime every blob; timm's legacy_senet154 scores."""
    net, weights = arch_weights("senet-154")
    x = random_input((1, 3, 224, 224), seed=11)
    caffe = reference.forward(net, weights, x)
    caffenet = load_caffe(net, weights)
    ours = run_onnx(caffenet, {"data": x})
    ours["data"] = x
    shadow = shadow_blobs(caffenet, x)
    check_all_blobs(caffe, ours, shadow, net, record_property)
    scores = timm_scores(caffenet, tmp_path, x, "legacy_senet154")
    r = check_scores(caffe["classifier"], scores, shadow["classifier"], "timm legacy_senet154 scores")
    print(f"timm legacy_senet154: scores rel {r.ours_vs_caffe:.3g}, Caffe's rounding {r.caffe_err:.3g}, "
          f"timm's {r.ours_err:.3g}")


def test_class_order_permutation_reaches_timm(reference, arch_weights) -> None:
    from senet_proto.converters.conventions import apply_conventions, label_map

    net, weights = arch_weights("se-resnet-50")
    caffenet = load_caffe(net, weights)
    official = to_timm_state_dict(caffenet)
    imagenet = to_timm_state_dict(apply_conventions(caffenet, ConvertOptions(class_order="imagenet")))
    perm = label_map()
    np.testing.assert_array_equal(imagenet["last_linear.weight"], official["last_linear.weight"][perm])
    np.testing.assert_array_equal(imagenet["last_linear.bias"], official["last_linear.bias"][perm])


def test_non_timm_nets_are_refused(reference, arch_weights) -> None:
    net, weights = arch_weights("se-bn-inception")
    with pytest.raises(UsageError, match="none of timm's legacy SENets"):
        infer_timm_model(load_caffe(net, weights))
    net = generate("se-resnet-50", GenerateOptions(input_shape=(1, 3, 64, 64)))
    net.layer[1].name = "conv1/7x7_s2_renamed"
    caffenet = CaffeNet(net=net, weights={"conv1/7x7_s2_renamed": [np.zeros((64, 3, 7, 7), np.float32)]})
    with pytest.raises(CaffemodelError, match="'conv1/7x7_s2_renamed' has no counterpart"):
        to_timm_state_dict(caffenet)


def test_an_fc_squeeze_net_maps_to_timm_s_1x1_convolutions(reference) -> None:
    """SE InnerProducts on the pooled vector compute what timm's 1x1 convolutions do: same keys, 4-D weights."""
    net = generate("se-resnet-50", GenerateOptions(squeeze="fc", se_style="scale", input_shape=(1, 3, 64, 64)))
    caffenet = load_caffe(net, reference.cached_weights(net, seed=0))
    sd = to_timm_state_dict(caffenet)
    w = caffenet.weights["conv2_1_fc_down"][0]
    np.testing.assert_array_equal(sd["layer1.0.se_module.fc1.weight"], w.reshape(*w.shape, 1, 1))
    check_against_timm({k: v.shape for k, v in sd.items()}, "legacy_seresnet50", 1000)


def test_a_blob_left_without_a_timm_key_is_an_error(reference, arch_weights) -> None:
    net, weights = arch_weights("se-resnet-50")
    caffenet = load_caffe(net, weights)
    caffenet.weights["stray"] = [np.zeros((3,), np.float32)]
    with pytest.raises(CaffemodelError, match=r"1 layer.* with weights have no timm key: stray"):
        to_timm_state_dict(caffenet)


@pytest.fixture(scope="module")
def resnet50_files(arch_weights, tmp_path_factory) -> tuple[Path, Path]:
    from senet_proto.caffe import format_prototxt

    net, weights = arch_weights("se-resnet-50")
    proto = tmp_path_factory.mktemp("timm_cli") / "SE-ResNet-50.prototxt"
    proto.write_text(format_prototxt(net))
    return proto, Path(weights)


def test_convert_to_timm_cli(resnet50_files, tmp_path: Path) -> None:
    from safetensors import safe_open

    proto, weights = resnet50_files
    out = tmp_path / "sd.safetensors"
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "timm", "-o", str(out),
                                       "--class-order", "imagenet", "--input", "rgb255"])
    assert result.exit_code == 0, result.output
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    assert meta["timm_model"] == "legacy_seresnet50" and meta["class_order"] == "imagenet"
    assert meta["input_channel_order"] == "RGB"
    model = timm.create_model("legacy_seresnet50", pretrained=False)
    model.load_state_dict(safetensors_torch.load_file(str(out)), strict=True)


def test_convert_to_timm_cli_errors(resnet50_files, tmp_path: Path) -> None:
    proto, weights = resnet50_files
    out = tmp_path / "sd.safetensors"
    # a named model the weights do not fit: shapes checked against timm's own state dict, nothing written
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "timm", "-o", str(out),
                                       "--timm-model", "legacy_seresnet101"])
    assert result.exit_code == 1, result.output
    assert "legacy_seresnet101" in result.output and "missing" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "onnx", "-o",
                                       str(out.with_suffix(".onnx")), "--timm-model", "legacy_seresnet50"])
    assert result.exit_code == 2 and "--timm-model applies to --to timm" in result.output
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "timm", "-o", str(out),
                                       "--fuse-bn"])
    assert result.exit_code == 2 and "--fuse-bn does not apply" in result.output and not out.exists()


def test_axpy_saved_as_python_layers_maps_to_timm(reference, resnet50_files, tmp_path: Path) -> None:
    """Caffe-saved weights of the Python-layer spelling (its Axpy layers typed Python) map to timm from either
    spelling of the prototxt: the same state dict, bit for bit, as the official pair (same seed, same blobs)."""
    from safetensors.numpy import load_file

    from senet_proto.caffe import read_prototxt, write_prototxt

    proto, weights = resnet50_files
    python = read_prototxt(proto)
    for ly in python.layer:
        if ly.type == "Axpy":
            ly.type, ly.python_param.module, ly.python_param.layer = "Python", "axpy_layer", "Axpy"
    python_proto = tmp_path / "python.prototxt"
    write_prototxt(python, python_proto)
    python_weights = reference.cached_weights(python, seed=0)
    dicts = []
    for i, (p, w) in enumerate([(proto, weights), (proto, python_weights), (python_proto, python_weights)]):
        out = tmp_path / f"sd{i}.safetensors"
        result = CliRunner().invoke(main, ["convert", str(p), str(w), "--to", "timm", "-o", str(out)])
        assert result.exit_code == 0, result.output
        dicts.append(load_file(str(out)))
    model = timm.create_model("legacy_seresnet50", pretrained=False)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in dicts[2].items()}, strict=True)
    for other in dicts[1:]:
        assert other.keys() == dicts[0].keys()
        for key, value in dicts[0].items():
            np.testing.assert_array_equal(other[key], value, err_msg=key)
