"""`senet-proto convert --to pytorch`: the safetensors artifact, load_pytorch, conventions, and errors.

Conventions are checked against real Caffe on the unchanged official-order BGR net:
--class-order imagenet must give Caffe's score of class `official` at standard index
`standard`; --input rgb255 must give on RGB input what Caffe gives on the same image in BGR.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from official_nets import shared_file

from senet_proto import load_pytorch
from senet_proto.caffe import caffe_pb2, parse_prototxt, write_prototxt
from senet_proto.cli import main
from senet_proto.converters import load_caffe
from senet_proto.converters.conventions import label_map
from senet_proto.converters.pytorch import build_module
from senet_proto.generator import generate

SHARED_LABEL_MAP = shared_file("label_map.csv")
RELEASE_LABEL_MAP_SHA256 = "a8471574f672188797cb6cd365875fe4f675a37a4a91a02be0a3b219b305913a"
"""SHA-256 of the release's label_map.csv (../shared/official), computed from that file itself."""
ARCH = "se-resnet-50"


@pytest.fixture(scope="module")
def r50(reference, tmp_path_factory):
    """SE-ResNet-50: prototxt file, Caffe-made weights, an input and Caffe's blobs for it."""
    net = generate(ARCH)
    d = Path(tmp_path_factory.mktemp("r50"))
    proto = d / "net.prototxt"
    write_prototxt(net, proto)
    weights = reference.cached_weights(net, seed=0)
    x = (np.random.default_rng(11).standard_normal((2, 3, 224, 224)) * 50).astype(np.float32)
    caffe = reference.forward(net, weights, x, blobs=["classifier", "prob"])
    return proto, weights, x, caffe


def run(args: list[str]):
    return CliRunner().invoke(main, ["convert", *args])


def converted(r50, tmp_path: Path, *extra: str) -> Path:
    proto, weights, _, _ = r50
    out = tmp_path / "out.safetensors"
    result = run([str(proto), str(weights), "--to", "pytorch", "-o", str(out), *extra])
    assert result.exit_code == 0, result.output + result.stderr
    assert "wrote" in result.output
    return out


def scores(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.forward_blobs(torch.from_numpy(x))["classifier"].numpy()


def assert_scores(ours: np.ndarray, ref: np.ndarray) -> None:
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * float(np.abs(ref).max()))


@pytest.mark.parametrize("fuse", [False, True])
def test_safetensors_roundtrip_matches_caffe(r50, tmp_path: Path, fuse: bool) -> None:
    out = converted(r50, tmp_path, *(["--fuse-bn"] if fuse else []))
    data = out.read_bytes()
    assert not zipfile.is_zipfile(out) and data[:1] != b"\x80", "not a pickle/torch.save file"
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__")
    assert meta["senet_proto.format"] == "pytorch-module" and meta["fuse_bn"] == str(fuse).lower()
    assert meta["input_channel_order"] == "BGR" and meta["input_mean"] == "104,117,123"
    assert meta["class_order"] == "official"
    assert {v["dtype"] for v in header.values()} <= {"F32", "I64"}
    module = load_pytorch(out)
    in_memory = build_module(load_caffe(r50[0], r50[1]), fuse_bn=fuse)
    assert set(module.state_dict()) == set(in_memory.state_dict())
    x, caffe = r50[2], r50[3]
    np.testing.assert_array_equal(scores(module, x), scores(in_memory, x))
    assert_scores(scores(module, x), caffe["classifier"])
    with torch.no_grad():
        prob = module(torch.from_numpy(x)).numpy()  # forward() returns the net's output blob
    np.testing.assert_allclose(prob, caffe["prob"], rtol=0, atol=1e-5)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())
    assert has_bn != fuse


def test_class_order_imagenet(r50, tmp_path: Path) -> None:
    module = load_pytorch(converted(r50, tmp_path, "--class-order", "imagenet"))
    assert module.metadata["class_order"] == "imagenet"
    ours = scores(module, r50[2])
    ref = r50[3]["classifier"]
    if SHARED_LABEL_MAP is not None:  # the release's own file; else the shipped copy (checked against it below)
        rows = [(int(a), int(b)) for a, b in csv.reader(SHARED_LABEL_MAP.read_text().splitlines())]
    else:
        rows = [(int(o), s) for s, o in enumerate(label_map())]
    assert len(rows) == 1000
    for official, standard in rows:
        np.testing.assert_allclose(ours[:, standard], ref[:, official], rtol=0, atol=1e-4 * float(np.abs(ref).max()))


def test_shipped_label_map_equals_the_release() -> None:
    """The shipped CSV's rows are the release's file byte for byte (its committed digest; the file itself when
    ../shared is here), and label_map() reads them into a permutation."""
    shipped = resources.files("senet_proto.data").joinpath("label_map.csv").read_text()
    rows = "".join(line + "\n" for line in shipped.splitlines() if line.strip() and not line.startswith("#"))
    assert hashlib.sha256(rows.encode()).hexdigest() == RELEASE_LABEL_MAP_SHA256
    if SHARED_LABEL_MAP is not None:
        release = SHARED_LABEL_MAP.read_bytes()
        assert hashlib.sha256(release).hexdigest() == RELEASE_LABEL_MAP_SHA256
        assert rows.encode() == release
    official_of = label_map()
    for line in rows.splitlines():
        official, standard = map(int, line.split(","))
        assert official_of[standard] == official
    assert sorted(official_of) == list(range(1000))


def test_input_rgb255(r50, tmp_path: Path) -> None:
    module = load_pytorch(converted(r50, tmp_path, "--input", "rgb255"))
    assert module.metadata["input_channel_order"] == "RGB" and module.metadata["input_mean"] == "123,117,104"
    x_bgr = r50[2]
    x_rgb = np.ascontiguousarray(x_bgr[:, ::-1])
    assert_scores(scores(module, x_rgb), r50[3]["classifier"])


def test_output_exists_needs_force(r50, tmp_path: Path) -> None:
    out = converted(r50, tmp_path)
    before = out.read_bytes()
    result = run([str(r50[0]), str(r50[1]), "-o", str(out)])
    assert result.exit_code == 1 and "exists" in result.stderr and "--force" in result.stderr
    assert out.read_bytes() == before
    result = run([str(r50[0]), str(r50[1]), "-o", str(out), "--force", "--fuse-bn"])
    assert result.exit_code == 0, result.stderr


def assert_one_line_error(result, tmp_path: Path, *words: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("senet-proto: error:"), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*")), "an output file was left behind"


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_truncated_caffemodel(r50, tmp_path: Path, keep: float) -> None:
    data = Path(r50[1]).read_bytes()
    bad = tmp_path / "cut.caffemodel"
    bad.write_bytes(data[: int(len(data) * keep)])
    result = run([str(r50[0]), str(bad), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "cut.caffemodel")


def test_mismatched_pair(reference, r50, tmp_path: Path) -> None:
    other = reference.cached_weights(generate("se-bn-inception"), seed=0)
    result = run([str(r50[0]), str(other), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "layer", "needs weights", "mismatched prototxt/caffemodel pair")


def test_extra_caffemodel_layers_warn_once(tmp_path: Path) -> None:
    """Caffemodel layers the prototxt lacks are ignored, as Caffe does, in one warning line (real Caffe does the
    same: test_loader's test_extra_weighted_layer_loads_as_in_real_caffe)."""
    proto = tmp_path / "net.prototxt"
    write_prototxt(parse_prototxt(
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }'
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"'
        '        convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }'), proto)
    model = caffe_pb2.NetParameter()
    for name, type_, shape in (("conv", "Convolution", [2, 3, 1, 1]), ("classifier_old", "InnerProduct", [1]),
                               ("relu_renamed", "ReLU", None)):
        ly = model.layer.add(name=name, type=type_)
        if shape:
            ly.blobs.add().shape.dim.extend(shape)
            ly.blobs[0].data.extend([1.0] * int(np.prod(shape)))
    weights = tmp_path / "extra.caffemodel"
    weights.write_bytes(model.SerializeToString())
    for flag, count in (([], 2), (["--allow-extra"], 1)):
        out = tmp_path / f"out{count}.safetensors"
        result = run([str(proto), str(weights), "-o", str(out), *flag])
        assert result.exit_code == 0 and out.is_file(), result.stderr
        lines = [ln for ln in result.stderr.strip().splitlines() if not ln.startswith("wrote ")]
        assert len(lines) == 1 and lines[0].startswith(
            f"senet-proto: extra.caffemodel: ignoring {count} caffemodel layer(s)"), lines
        assert "'classifier_old' (InnerProduct, 1 blob)" in lines[0] and ("relu_renamed" in lines[0]) == (count == 2)


def test_same_names_wrong_shapes(reference, r50, tmp_path: Path) -> None:
    other = reference.cached_weights(generate("se-resnext-50"), seed=0)  # same layer names, other widths
    result = run([str(r50[0]), str(other), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "layer 'conv2_1_1x1_reduce'", "shape")


@pytest.mark.parametrize(("layer_type", "words"), [
    ("Foo", ["'Foo'", "unknown layer type", "known types:", "Convolution"]),
    ("Python", ["'Python'", "Python layers"]),
    ("Data", ["'Data'", "deploy prototxt"]),
])
def test_unsupported_layer_type(r50, tmp_path: Path, layer_type: str, words: list[str]) -> None:
    net = generate(ARCH)
    ly = net.layer.add(name="odd", type=layer_type)
    ly.bottom.append("prob")
    ly.top.append("odd")
    if layer_type == "Python":
        ly.python_param.module = "should_never_be_imported"
    proto = tmp_path / "net.prototxt"
    write_prototxt(net, proto)
    result = run([str(proto), str(r50[1]), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "layer 'odd'", *words)


def test_bad_prototxt_and_missing_files(r50, tmp_path: Path) -> None:
    proto = tmp_path / "bad.prototxt"
    proto.write_text("layer { name: 'x' type: \n")
    result = run([str(proto), str(r50[1]), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "bad.prototxt:")
    result = run([str(r50[0]), str(tmp_path / "nope.caffemodel"), "-o", str(tmp_path / "out.safetensors")])
    assert_one_line_error(result, tmp_path, "nope.caffemodel", "no such file")
    result = run([str(r50[0]), str(r50[1]), "-o", str(tmp_path / "missing_dir" / "out.safetensors")])
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_load_pytorch_rejects_other_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from senet_proto.errors import CaffemodelError

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CaffemodelError, match="not a senet-proto PyTorch file"):
        load_pytorch(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(CaffemodelError, match=r"junk\.safetensors"):
        load_pytorch(junk)


def test_unused_phase_layers_are_dropped(r50, tmp_path: Path) -> None:
    """A TRAIN-only layer is not part of the deploy conversion (and not embedded)."""
    net = generate(ARCH)
    ly = net.layer.add(name="train_only", type="SoftmaxWithLoss")
    ly.bottom.extend(["classifier", "label"])
    ly.top.append("loss")
    ly.include.add(phase=caffe_pb2.TRAIN)
    proto = tmp_path / "net.prototxt"
    write_prototxt(net, proto)
    out = tmp_path / "out.safetensors"
    result = run([str(proto), str(r50[1]), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    module = load_pytorch(out)
    assert "train_only" not in module.layer_names.values()
    assert_scores(scores(module, r50[2]), r50[3]["classifier"])
