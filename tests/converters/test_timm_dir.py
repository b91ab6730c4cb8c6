"""`--to timm-dir`: a folder timm loads with ``create_model("local-dir:DIR", pretrained=True)`` and whose
``pretrained_cfg`` makes timm's own transforms feed the net what Caffe's preprocessing would.

Checked with timm itself and real Caffe on real image files (JPEG, PNG, odd sizes, grayscale, RGBA,
palette), with weights calibrated on those images' crops (tests/image_cases.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from senet_proto.cli import main

timm = pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
torch = pytest.importorskip("torch")
PIL = pytest.importorskip("PIL.Image", reason="Pillow is part of the predict extra")

SCORE_TOL = 1e-4  # of the score range


def test_timm_loads_the_folder_strictly(timm_dir: Path) -> None:
    from safetensors.torch import load_file

    model = timm.create_model(f"local-dir:{timm_dir}", pretrained=True)
    sd = load_file(str(timm_dir / "model.safetensors"))
    result = model.load_state_dict(sd, strict=True)  # raises on any missing or unexpected key
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in model.state_dict().items():  # and create_model really loaded these weights
        assert torch.equal(value, sd[key]), key


def test_timm_transforms_give_caffe_scores(timm_dir: Path, caffe_case, record_property) -> None:
    """resolve_data_config + create_transform on the image files, then the timm model: Caffe's scores."""
    model = timm.create_model(f"local-dir:{timm_dir}", pretrained=True).eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    tf = timm.data.create_transform(**cfg)
    x = []
    for f in caffe_case.files:
        with PIL.open(f) as img:
            x.append(tf(img.convert("RGB")))
    with torch.no_grad():
        ours = model(torch.stack(x)).numpy()
    ref = caffe_case.standard(caffe_case.scores)  # Caffe's scores in the standard ImageNet order
    err = float(np.abs(ours - ref).max() / (ref.max() - ref.min()))
    record_property("timm_dir_scores_rel", f"{err:.3g}")
    print(f"timm folder vs Caffe on {len(x)} image files: max|Δ| {np.abs(ours - ref).max():.3g} = {err:.3g} of range")
    np.testing.assert_allclose(ours, ref, rtol=0, atol=SCORE_TOL * float(ref.max() - ref.min()))


def test_config_records_the_conventions(timm_dir: Path) -> None:
    cfg = json.loads((timm_dir / "config.json").read_text())
    info = timm.data.ImageNetInfo()
    assert cfg["architecture"] == "legacy_seresnet50"
    assert cfg["label_names"] == list(info.label_names())
    assert cfg["label_descriptions"] == info.label_descriptions(as_dict=True)
    p = cfg["pretrained_cfg"]
    assert p["input_size"] == [3, 64, 64] and p["crop_pct"] == 0.875 and p["interpolation"] == "bilinear"
    np.testing.assert_allclose(np.array(p["mean"]) * 255, [123, 117, 104], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.array(p["std"]) * 255, [1, 1, 1], rtol=0, atol=1e-12)
    ours = cfg["senet_proto"]
    assert ours["format"] == "timm-dir" and ours["input"] == "rgb255" and ours["class_order"] == "imagenet"
    assert ours["input_size"] == [64, 64] and ours["resize"] == 73


def test_cli_timm_dir_and_its_bad_inputs(caffe_case, tmp_path: Path) -> None:
    out = tmp_path / "folder"
    args = ["convert", str(caffe_case.prototxt), str(caffe_case.weights), "--to", "timm-dir", "-o", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    r = CliRunner().invoke(main, args)  # exists: refused, untouched
    assert r.exit_code == 1 and "exists" in r.output and "--force" in r.output
    stamp = (out / "config.json").stat().st_mtime_ns
    r = CliRunner().invoke(main, [*args, "--force"])
    assert r.exit_code == 0, r.output
    assert (out / "config.json").stat().st_mtime_ns != stamp
    r = CliRunner().invoke(main, [*args[:-1], str(tmp_path / "x"), "--fuse-bn"])
    assert r.exit_code == 2 and "--fuse-bn" in r.output and not (tmp_path / "x").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
