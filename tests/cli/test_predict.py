"""`senet-proto predict`: every kind of model gives real Caffe's top classes on real image files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from image_cases import BGR_MEAN, timm_crops

from senet_proto.cli import main

pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
pytest.importorskip("PIL", reason="Pillow is part of the predict extra")

PROB_RTOL = 1e-3


def model_args(kind: str, case, timm_folder: Path, tmp_path: Path) -> list[str]:
    """The MODEL argument(s) of one kind, converted from the Caffe pair."""
    from senet_proto.converters.targets import convert

    if kind == "caffe":
        return [str(case.prototxt), str(case.weights)]
    if kind == "timm-dir":
        return [str(timm_folder)]
    out = tmp_path / ("model.onnx" if kind == "onnx" else "model.safetensors")
    return [str(convert(case.net, case.weights, out, kind))]


def run_predict(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["predict", *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("kind", ["caffe", "pytorch", "onnx", "timm-dir"])
def test_predict_gives_caffes_top_classes(kind: str, caffe_case, timm_dir: Path, tmp_path: Path) -> None:
    folder = caffe_case.files[0].parent
    code, out, err = run_predict([*model_args(kind, caffe_case, timm_dir, tmp_path), str(folder), "--json",
                                  "--top", "5"])
    assert code == 0, out + err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["file"]).name for r in rows] == [f.name for f in caffe_case.files]
    ref = caffe_case.standard(caffe_case.probs)
    from senet_proto.inference.labels import imagenet_classes

    classes = imagenet_classes()
    for row, probs in zip(rows, ref, strict=True):
        expect = np.argsort(-probs)[:5]
        assert [t["index"] for t in row["top"]] == expect.tolist(), row["file"]
        assert [t["synset"] for t in row["top"]] == [classes[i][0] for i in expect]
        np.testing.assert_allclose([t["prob"] for t in row["top"]], probs[expect], rtol=PROB_RTOL, atol=0)
        assert all(t["label"] and t["label"] in classes[t["index"]][1] for t in row["top"])


def test_predict_text_and_a_class_count_other_than_1000(tiny10_pair, image_files: list[Path]) -> None:
    """A 10-class net: class indices (no names), in the net's own order, from Caffe's probabilities."""
    from senet_proto import reference

    net, proto, weights = tiny10_pair
    bgr = np.ascontiguousarray(timm_crops(image_files, 16)[:, ::-1] - BGR_MEAN)
    ref = reference.forward(net, weights, {"data": bgr}, blobs=["prob"])["prob"].reshape(len(bgr), -1)
    code, out, err = run_predict([str(proto), str(weights), *map(str, image_files), "--top", "3"])
    assert code == 0, out + err
    blocks = out.split("\n" + str(image_files[0].parent))  # one block per file: name, then 3 lines
    assert len(blocks) == len(image_files)
    for block, probs in zip(blocks, ref, strict=True):
        lines = block.strip().splitlines()[1:]
        assert [int(ln.split()[-1]) for ln in lines] == np.argsort(-probs)[:3].tolist()
        assert all(ln.split()[1] == "class" for ln in lines)
    code, out, _ = run_predict([str(proto), str(weights), str(image_files[0]), "--json", "--top", "2"])
    top = json.loads(out)["top"]
    assert code == 0 and [t["synset"] for t in top] == [None, None] and [t["label"] for t in top] == [None, None]


def test_predict_bad_inputs(timm_dir: Path, caffe_case, image_files: list[Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_predict([str(timm_dir), str(empty)])
    assert code == 1 and err.count("\n") == 1 and "no image files" in err and "Traceback" not in out + err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    code, out, err = run_predict([str(timm_dir), str(broken), str(image_files[0])])
    assert code == 1 and err.count("\n") == 1 and "broken.jpg" in err and "--skip-bad" not in out
    code, out, err = run_predict([str(timm_dir), str(broken), str(image_files[0]), "--skip-bad", "--json"])
    assert code == 0 and [json.loads(ln)["file"] for ln in out.splitlines()] == [str(image_files[0])]
    assert "broken.jpg" in err and "1 unreadable image(s) skipped" in err
    code, out, err = run_predict([str(tmp_path / "net.prototxt"), str(image_files[0])])
    assert code == 2 and "needs its .caffemodel" in err
    onnx_file = model_args("onnx", caffe_case, timm_dir, tmp_path)[0]  # a fixed 64x64 input: --size 48 fails
    code, out, err = run_predict([onnx_file, str(image_files[0]), "--size", "48"])
    assert code == 1 and err.count("\n") == 1 and "cannot run on input (1, 3, 48, 48)" in err
