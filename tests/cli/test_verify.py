"""`senet-proto verify` through CliRunner: real Caffe against the converted models, blob by blob."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from senet_proto.caffe import caffe_pb2, format_prototxt
from senet_proto.cli import main
from senet_proto.generator import GenerateOptions, generate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from caffe_nets import conv, input_layer


@pytest.fixture(scope="module")
def small_pair(caffe_root, tmp_path_factory) -> tuple[Path, Path]:
    from senet_proto.reference import cached_weights

    net = generate("se-resnext-50", GenerateOptions(input_shape=(2, 3, 96, 96), num_classes=10))
    d = tmp_path_factory.mktemp("verify")
    proto = d / "net.prototxt"
    proto.write_text(format_prototxt(net))
    return proto, cached_weights(net, seed=0)


def test_verify_passes_with_a_table_of_every_blob(small_pair) -> None:
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [ln for ln in lines if ln.startswith(("pytorch ", "onnx "))]
    n_blobs = len({ln.split()[1] for ln in rows})
    assert n_blobs > 100 and len(rows) == 2 * n_blobs
    assert all(ln.rstrip().endswith("yes") for ln in rows)
    # the one-line verdicts come first, before the table
    assert lines[0].startswith("pytorch: exact up to float32 rounding: SE-ResNeXt-50 (32 x 4d) scores (classifier) ")
    assert lines[1].startswith("onnx: exact up to float32 rounding: SE-ResNeXt-50 (32 x 4d) scores (classifier) ")
    assert "Caffe's own rounding" in lines[0] and lines.index(rows[0]) > 1


def test_a_fixed_tolerance_still_judges_and_names_the_failed_blob(small_pair, monkeypatch) -> None:
    """--tolerance judges by the fixed bounds; the summary names the first blob past its limit, and with
    --worst-only (no table) the error does not point at a table."""
    from senet_proto.converters import graph

    def wrong_stats(node):  # the classic bug: BatchNorm's blobs 0 and 1 read as mean and variance
        return node.blobs[0].reshape(-1), node.blobs[1].reshape(-1)

    monkeypatch.setattr(graph, "batchnorm_stats", wrong_stats)
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "pytorch", "--worst-only",
                                       "--tolerance", "1e-4"])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("pytorch: DIFFERS from Caffe from blob 'conv1/7x7_s2' on: rel err ")
    assert "past the fixed limit 0.001" in lines[0]
    assert lines[-1] == "senet-proto: error: the conversion differs from Caffe: pytorch at blob 'conv1/7x7_s2'"
    assert "table" not in result.output


@pytest.mark.parametrize("option", ["--tolerance", "--blob-tolerance"])
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_a_negative_or_meaningless_tolerance_is_a_usage_error(tmp_path: Path, option: str, value: str) -> None:
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "a.prototxt"), str(tmp_path / "b.caffemodel"),
                                       option, value])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"senet-proto: error: {option} must be a finite number >= 0, got {value}"


@pytest.mark.parametrize("broken", [False, True])
def test_optimize_verifies_the_prepacked_module(small_pair, monkeypatch, broken: bool) -> None:
    """--optimize runs the prepacked convolutions: they pass, and a wrong packed weight does not."""
    import torch

    from senet_proto.converters.layers.conv import Conv2d

    calls = []
    real = Conv2d.packed_weight

    def packed_weight(self, input_shape):
        calls.append(self)
        packed = real(self, input_shape)
        if broken and self.kernel_size == (3, 3):  # every 3x3 (the grouped ones), weight scaled by 1.01
            self._packed = None
            with torch.no_grad():
                w = self.weight.detach() * 1.01
                packed = torch.ops.mkldnn._reorder_convolution_weight(
                    w, list(self.padding), list(self.stride), list(self.dilation), self.groups, input_shape)
        return packed

    monkeypatch.setattr(Conv2d, "packed_weight", packed_weight)
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "pytorch", "--fuse-bn",
                                       "--optimize", "--worst-only"])
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN (mkldnn): --optimize changes nothing")
    assert len(calls) > 50, "the packed convolutions were not used"
    assert result.exit_code == (3 if broken else 0), result.output
    assert ("DIFFERS" in result.output) == broken
    if broken:  # our float32 run parts from its own float64 run (the same function without the packing)
        assert "our float32 result is" in result.output


@pytest.mark.parametrize(("options", "limits"), [
    ({}, {None}), ({"fuse_bn": True, "optimize": True}, {None}), ({"tolerance": 3e-5}, {3e-5, 1e-3}),
    ({"fuse_bn": True, "blob_tolerance": 1e-2}, {2e-4, 1e-2}),
    ({"optimize": True, "blob_tolerance": 1e-2}, {2e-4, 1e-2})])
def test_fixed_tolerances_only_when_asked(small_pair, options: dict, limits: set) -> None:
    """By default every blob is judged against float32 rounding (no fixed limit); a --tolerance or
    --blob-tolerance switches to fixed limits (the other one at its default: 1e-4, 2e-4 folded or optimized,
    1e-3 for intermediate blobs). The float64 comparison is reported either way."""
    from senet_proto.verify import verify

    proto, weights = small_pair
    report = verify(proto, weights, targets=("pytorch",), **options)
    assert {r.limit for r in report.rows} == limits
    assert all(r.rounding is not None for r in report.rows)
    assert report.ok


@pytest.mark.parametrize("arch", ["se-resnet-50", "se-bn-inception"])
def test_scores_are_the_pre_softmax_blobs(arch: str) -> None:
    """The score bound (the issue's 1e-4 on pre-softmax scores) is not applied to the probabilities."""
    from senet_proto.converters import load_caffe
    from senet_proto.converters.graph import build_graph
    from senet_proto.verify import score_blobs

    net = generate(arch)
    softmax = next(ly for ly in net.layer if ly.type == "Softmax")
    outputs = build_graph(load_caffe(net, None)).outputs
    assert list(outputs) == list(softmax.top)
    assert score_blobs(net, outputs) == set(softmax.bottom)
    no_softmax = type(net)()
    no_softmax.CopyFrom(net)
    del no_softmax.layer[-1]  # the scores are then the output itself
    assert score_blobs(no_softmax, list(softmax.bottom)) == set(softmax.bottom)


def test_optimize_needs_the_pytorch_target(small_pair) -> None:
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "onnx", "--optimize"])
    assert result.exit_code == 2, result.output
    assert "--optimize applies to the PyTorch module" in result.output


def test_an_onnx_converter_that_drops_the_se_gate_fails_with_exit_3(small_pair, monkeypatch) -> None:
    """Axpy exported as X + Y (the SE gate lost): the ONNX rows of the blocks' outputs must show it."""
    from senet_proto.converters.onnx.layers import ONNX_CONVERTERS

    def no_gate(node, b) -> None:
        _, x, y = node.bottoms
        b.add("Add", [b.input(x), b.input(y)], [b.output(node, node.tops[0])], node)

    monkeypatch.setitem(ONNX_CONVERTERS._fns, "Axpy", no_gate)
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--to", "onnx"])
    assert result.exit_code == 3, result.output
    rows = [ln.split() for ln in result.output.splitlines() if ln.startswith("onnx ")]
    bad = {r[1] for r in rows if r[-1] == "NO"}
    assert "conv2_1" in bad and "classifier" in bad  # the first block's output and the scores
    assert all(r[-1] == "yes" for r in rows if r[1] == "conv1/7x7_s2")  # before the first block: still exact
    assert "onnx: DIFFERS from Caffe from blob 'conv2_1' on: our float32 result is " in result.output
    assert "onnx at blob 'conv2_1' (see the table above)" in result.output


def test_an_input_overwritten_in_place_is_compared(caffe_root, tmp_path: Path) -> None:
    """A ReLU in place on the net's input: Caffe's 'data' then holds the ReLU's output, and so must ours."""
    from senet_proto.reference import cached_weights

    net = caffe_pb2.NetParameter(name="tiny")
    input_layer(net, "data", [2, 3, 8, 8])
    net.layer.add(name="relu", type="ReLU", bottom=["data"], top=["data"])
    conv(net, "conv", "data", "conv", 4, 3)
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(format_prototxt(net))
    result = CliRunner().invoke(main, ["verify", str(proto), str(cached_weights(net, seed=0))])
    assert result.exit_code == 0, result.output
    rows = [ln.split() for ln in result.output.splitlines() if ln.startswith(("pytorch ", "onnx "))]
    assert sorted((r[0], r[1]) for r in rows) == [("onnx", "conv"), ("onnx", "data"), ("pytorch", "conv"),
                                                   ("pytorch", "data")]


def test_input_file_and_its_errors(small_pair, tmp_path: Path) -> None:
    proto, weights = small_pair
    good = tmp_path / "x.npy"
    np.save(good, np.random.default_rng(0).normal(0, 50, size=(3, 3, 96, 96)).astype(np.float32))
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--input", str(good), "--to", "onnx",
                                       "--worst-only"])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((1, 3, 32, 32), np.float32))
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--input", str(bad)])
    assert result.exit_code == 2 and "does not fit the net's input" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "a.prototxt"), str(tmp_path / "b.caffemodel")])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_cuda_is_refused_clearly_without_a_gpu(small_pair) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: test_verify_on_cuda covers this machine")
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--device", "cuda", "--to", "pytorch"])
    assert result.exit_code == 2 and "no CUDA device" in result.output


@pytest.mark.gpu
def test_verify_on_cuda(small_pair) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine (GPU tests run where one is present)")
    proto, weights = small_pair
    result = CliRunner().invoke(main, ["verify", str(proto), str(weights), "--device", "cuda", "--to", "pytorch"])
    assert result.exit_code == 0, result.output


def test_an_architecture_id_is_accepted_as_the_net(tmp_path: Path) -> None:
    """`verify se-resnet-50 W` reads the generated net (as convert, weights and info do): here W is another
    net's caffemodel, so it fails on the pair, naming a layer of SE-ResNet-50's, before Caffe is needed."""
    model = Path(__file__).resolve().parent.parent / "robustness" / "conv.caffemodel"
    result = CliRunner().invoke(main, ["verify", "se-resnet-50", str(model)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "senet-proto: error: conv.caffemodel: layer 'conv1/7x7_s2' (Convolution) needs weights but the caffemodel "
        "has none for it (mismatched prototxt/caffemodel pair? it has weights for 'conv' (Convolution, 1 blob), "
        "which the prototxt lacks)")
