"""`senet-proto export`: real Caffe (and OpenCV's dnn for --se-style scale) run the exported nets with timm's
outputs; a caffemodel -> convert --to timm -> export round trip gives back its blobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from senet_proto.caffe import read_prototxt
from senet_proto.cli import main
from senet_proto.converters import load_caffe

torch = pytest.importorskip("torch")

# each model once; together they cover both SE styles and both squeeze kinds (SENet-154 alone is the costly one)
CASES = [
    ("legacy_seresnet50", "axpy", "conv"),
    ("legacy_seresnet101", "scale", "fc"),
    ("legacy_seresnet152", "axpy", "fc"),
    ("legacy_seresnext50_32x4d", "scale", "conv"),
    ("legacy_seresnext101_32x4d", "axpy", "conv"),
    ("legacy_senet154", "scale", "fc"),
]
SHAPE = (2, 3, 225, 225)  # an odd size: ceil-mode pooling and a global average pool at the end
SCORE_TOL = 1e-4  # of the scores' range


def export(tmp: Path, *args: str) -> tuple[Path, Path]:
    proto, model = tmp / "net.prototxt", tmp / "net.caffemodel"
    result = CliRunner().invoke(main, ["export", *args, "-o", str(proto), "--caffemodel", str(model)])
    assert result.exit_code == 0, result.output
    return proto, model


def assert_scores_close(actual: np.ndarray, expected: np.ndarray) -> None:
    span = float(expected.max() - expected.min())
    np.testing.assert_allclose(actual, expected, rtol=0, atol=SCORE_TOL * span)


def exported(timm_weights, tmp: Path, name: str, style: str, squeeze: str, shape: tuple[int, ...] = SHAPE,
             folder: bool = False):
    """timm's scores on a random x, x, and the exported prototxt and caffemodel (in the test's own folder, removed
    when the test passes: six nets' files kept to the end of the session would take GBs). ``folder``: the weights
    as a timm folder (config.json naming the architecture + model.safetensors) instead of a name and --weights."""
    model, weights = timm_weights(name, tmp)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        scores = model(torch.from_numpy(x)).numpy()
    source = [name, "--weights", str(weights)]
    if folder:
        (tmp / "timm-dir").mkdir()
        weights.rename(tmp / "timm-dir" / "model.safetensors")
        (tmp / "timm-dir" / "config.json").write_text(f'{{"architecture": "{name}"}}')
        source = [str(tmp / "timm-dir")]
    proto, caffemodel = export(tmp, *source, "--se-style", style, "--squeeze", squeeze,
                               "--input-shape", ",".join(map(str, shape)))
    return scores, x, proto, caffemodel


@pytest.mark.parametrize(("name", "style", "squeeze"), CASES)
def test_real_caffe_and_opencv_compute_what_timm_computes(reference, timm_weights, tmp_path, name, style,
                                                          squeeze) -> None:
    """Real Caffe runs the export with timm's scores; so does OpenCV's dnn, where the export has stock layers
    only (--se-style scale)."""
    scores, x, proto, caffemodel = exported(timm_weights, tmp_path, name, style, squeeze)
    check_runs(reference, scores, x, proto, caffemodel, style)


def check_runs(reference, scores: np.ndarray, x: np.ndarray, proto: Path, caffemodel: Path, style: str) -> None:
    """Real Caffe's scores (and OpenCV's, for --se-style scale) equal timm's."""
    assert float(scores.std()) > 0.1  # calibrated: the scores are not all alike
    out = reference.forward(proto, caffemodel, x, blobs=["classifier"])["classifier"]
    assert_scores_close(out, scores)
    assert "those of the PyTorch model" in proto.read_text().splitlines()[1]  # no conventions recorded: as is
    net = read_prototxt(proto)
    assert not any(ly.type == "Axpy" for ly in net.layer) if style == "scale" else \
        any(ly.type == "Axpy" for ly in net.layer)
    if style == "scale":
        import cv2  # opencv-python-headless<5, in the test extra
        assert int(cv2.__version__.split(".")[0]) == 4  # OpenCV 5 has no Caffe importer
        cvnet = cv2.dnn.readNetFromCaffe(str(proto), str(caffemodel))
        cvnet.enableWinograd(False)  # OpenCV's Winograd 3x3 convolutions round differently (see bench/README.md)
        cvnet.setInput(x)
        assert_scores_close(cvnet.forward("classifier").reshape(scores.shape), scores)


# timm's non-legacy SE ResNets, their template read from the timm model: the stride on the 3x3, the stem max pool
# in floor mode (at H = 224 Caffe's ceil-mode pool has a row more, sliced off), a deep stem and average-pool
# shortcuts (the d variant; W = 225 makes its ceil-mode average pools' last windows partial), read from a timm folder
RESNET_CASES = [
    ("seresnet50", "axpy", "conv", SHAPE, False),
    ("seresnext50_32x4d", "scale", "fc", SHAPE, False),
    ("seresnext26d_32x4d", "scale", "conv", (2, 3, 224, 225), True),
]


@pytest.mark.parametrize(("name", "style", "squeeze", "shape", "folder"), RESNET_CASES)
def test_timm_se_resnets_export_with_timms_outputs(reference, timm_weights, tmp_path, name, style, squeeze,
                                                   shape, folder) -> None:
    scores, x, proto, caffemodel = exported(timm_weights, tmp_path, name, style, squeeze, shape, folder)
    check_runs(reference, scores, x, proto, caffemodel, style)
    slices = [ly for ly in read_prototxt(proto).layer if ly.type == "Slice"]
    assert [ly.slice_param.axis for ly in slices] == ([2] if shape[2] == 224 else [])  # only where sizes differ


def _blobs(prototxt: Path | object, caffemodel: Path) -> dict[str, list[np.ndarray]]:
    """Each layer's blobs, BatchNorm's mean and variance divided by its factor (a factor 0 meaning 0)."""
    caffenet = load_caffe(prototxt, caffemodel)
    out = {}
    for layer in caffenet.layers():
        blobs = caffenet.weights.get(layer.name)
        if not blobs:
            continue
        if layer.type == "BatchNorm":
            f = float(blobs[2].reshape(-1)[0])
            k = 0.0 if f == 0 else 1.0 / f
            blobs = [blobs[0] * np.float32(k), blobs[1] * np.float32(k)]
        out[layer.name] = list(blobs)
    return out


def _converted(net, weights, tmp_path: Path, kind: str, conventions: tuple[str, ...]) -> Path:
    """The release net's weights converted --to timm (a file, or a timm folder around it) or --to pytorch."""
    from senet_proto.caffe import format_prototxt

    proto = tmp_path / "release.prototxt"
    proto.write_text(format_prototxt(net))
    out = tmp_path / f"{kind}.safetensors"
    target = "pytorch" if kind == "pytorch" else "timm"
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", target, "-o", str(out),
                                       *conventions])
    assert result.exit_code == 0, result.output
    if kind != "timm-dir":
        return out
    folder = tmp_path / "timm-dir"
    folder.mkdir()
    out.rename(folder / "model.safetensors")
    (folder / "config.json").write_text('{"architecture": "legacy_seresnet50", "num_classes": 1000}')
    return folder


@pytest.mark.parametrize(("kind", "conventions"), [
    ("timm", ()),
    ("timm", ("--input", "rgb255", "--class-order", "imagenet")),
    ("pytorch", ("--input", "rgb255", "--class-order", "imagenet")),
    ("timm-dir", ()),
])
def test_caffemodel_to_pytorch_and_back_gives_the_same_blobs(arch_weights, tmp_path, kind, conventions) -> None:
    """convert, then export with the defaults: the release's blobs and conventions, whatever the file records."""
    net, weights = arch_weights("se-resnet-50")  # the release's default net and Caffe-made weights
    out_proto, out_model = export(tmp_path, str(_converted(net, weights, tmp_path, kind, conventions)))
    original, back = _blobs(net, weights), _blobs(out_proto, out_model)
    assert set(back) == set(original)
    for name, blobs in original.items():
        assert len(back[name]) == len(blobs), name
        for a, b in zip(back[name], blobs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=0, err_msg=name)
    assert "# input: bgr255" in out_proto.read_text().splitlines()[1]


def test_recorded_conventions_can_be_kept(arch_weights, tmp_path) -> None:
    """--input rgb255 --class-order imagenet on export of a file that records them changes nothing."""
    _, weights = arch_weights("se-resnet-50")  # the release's default net and Caffe-made weights
    timm_file = tmp_path / "timm.safetensors"
    CliRunner().invoke(main, ["convert", "se-resnet-50", str(weights), "--to", "timm", "-o", str(timm_file),
                              "--input", "rgb255", "--class-order", "imagenet"])
    out_proto, out_model = export(tmp_path, str(timm_file), "--input", "rgb255", "--class-order", "imagenet")
    from safetensors.numpy import load_file

    sd = load_file(str(timm_file))
    back = _blobs(out_proto, out_model)
    np.testing.assert_array_equal(back["conv1/7x7_s2"][0], sd["layer0.conv1.weight"])
    np.testing.assert_array_equal(back["classifier"][0], sd["last_linear.weight"])
    header = out_proto.read_text().splitlines()[1]
    assert "rgb255" in header and "imagenet" in header


def test_a_pytorch_file_with_folded_batchnorm_is_refused(arch_weights, tmp_path) -> None:
    net, weights = arch_weights("se-resnet-50")  # the release's default net and Caffe-made weights
    from senet_proto.caffe import format_prototxt

    (tmp_path / "net.prototxt").write_text(format_prototxt(net))
    fused = tmp_path / "fused.safetensors"
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "net.prototxt"), str(weights), "--fuse-bn",
                                       "-o", str(fused)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["export", str(fused), "-o", str(tmp_path / "out.prototxt"),
                                       "--caffemodel", str(tmp_path / "out.caffemodel")])
    assert result.exit_code == 2 and "--fuse-bn" in result.output
    assert not (tmp_path / "out.prototxt").exists() and not (tmp_path / "out.caffemodel").exists()


def test_the_class_count_follows_the_weights(tmp_path) -> None:
    """A 10-class state dict (torch.save): a 10-output classifier; our strict reader loads the pair."""
    timm = pytest.importorskip("timm")
    model = timm.create_model("legacy_seresnet50", pretrained=False, num_classes=10)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    proto, caffemodel = export(tmp_path, "legacy_seresnet50", "--weights", str(tmp_path / "w.pth"))
    caffenet = load_caffe(proto, caffemodel)
    np.testing.assert_array_equal(caffenet.weights["classifier"][0], model.last_linear.weight.detach().numpy())
    np.testing.assert_array_equal(caffenet.weights["conv2_1_1x1_up"][0], model.layer1[0].se_module.fc2.weight
                                  .detach().numpy())
    assert [list(b.shape) for b in caffenet.weights["conv1/7x7_s2/bn"]] == [[64], [64], [1]]
