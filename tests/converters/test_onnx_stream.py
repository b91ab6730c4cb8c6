"""`convert --to onnx` streams its weights (converters/onnx/stream.py): the file is the in-memory model's bytes
(``build_onnx``, checked against real Caffe in test_onnx.py), the external-data variant loads to the same model,
ONNX Runtime runs both, and a failure leaves no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from arch_helpers import random_input
from click.testing import CliRunner
from conv_cases import combine, write_model
from legacy_nets import v1_net
from test_layers import CASES
from test_loader import v1_model

from senet_proto.caffe import format_prototxt
from senet_proto.cli import main
from senet_proto.converters import load_caffe
from senet_proto.converters.conventions import ConvertOptions, metadata
from senet_proto.converters.onnx import (
    BATCH,
    build_onnx,
    build_parts,
    data_path,
    export_onnx,
    has_dynamic_batch,
    stream,
)
from senet_proto.converters.onnx.layers import ONNX_CONVERTERS
from senet_proto.errors import OutputError, SenetProtoError

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is part of the test extras")
onnx = pytest.importorskip("onnx", reason="onnx is part of the test extras")


def reference_model(caffenet, options: ConvertOptions):
    """What the export held in memory before streaming: ``build_onnx`` plus the metadata (the old export)."""
    model = build_onnx(caffenet, fuse_bn=options.fuse_bn)
    meta = metadata(options, Path(caffenet.source).name if caffenet.source else "")
    meta["batch"] = f"dynamic (input dimension '{BATCH}')" if has_dynamic_batch(model) else "static (the prototxt's)"
    onnx.helper.set_model_props(model, meta)
    return model


def assert_streamed_equals_reference(caffenet, out: Path, options: ConvertOptions):
    """The streamed file is byte for byte the reference model's serialization, and parses to an equal model."""
    export_onnx(caffenet, out, options)
    ref = reference_model(caffenet, options)
    loaded = onnx.load(str(out))
    assert loaded == ref
    assert [(t.name, t.data_type, list(t.dims)) for t in loaded.graph.initializer] == \
        [(t.name, t.data_type, list(t.dims)) for t in ref.graph.initializer]
    assert out.read_bytes() == ref.SerializeToString()
    return ref


def _load_external(out: Path):
    model = onnx.load(str(out), load_external_data=True)
    for t in model.graph.initializer:
        t.ClearField("data_location")  # onnx.load sets it to DEFAULT after reading the data in
    return model


@pytest.mark.parametrize("fuse_bn", [False, True], ids=["plain", "fuse-bn"])
@pytest.mark.parametrize("group", sorted(CASES))
def test_layer_cases_stream_to_the_in_memory_model(tmp_path: Path, group: str, fuse_bn: bool) -> None:
    """Every layer case (every converter, several inputs, static and dynamic batches), weights read from a
    caffemodel file (memory-mapped views)."""
    net, model = combine(CASES[group], group)
    caffenet = load_caffe(net, write_model(model, tmp_path / "w.caffemodel"))
    assert_streamed_equals_reference(caffenet, tmp_path / "m.onnx", ConvertOptions(fuse_bn=fuse_bn))


def test_v1_legacy_net_streams_to_the_in_memory_model(tmp_path: Path) -> None:
    model, _ = v1_model(np.random.default_rng(3))
    caffenet = load_caffe(v1_net(), write_model(model, tmp_path / "v1.caffemodel"))
    ref = assert_streamed_equals_reference(caffenet, tmp_path / "m.onnx", ConvertOptions())
    assert has_dynamic_batch(ref)
    x = np.random.default_rng(4).standard_normal((3, 3, 9, 8)).astype(np.float32)  # the prototxt says batch 2
    (ours,) = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None,
                                                                                                     {"data": x})
    (expected,) = ort.InferenceSession(ref.SerializeToString(), providers=["CPUExecutionProvider"]).run(None,
                                                                                                        {"data": x})
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("options", [ConvertOptions(), ConvertOptions(fuse_bn=True),
                                     ConvertOptions(class_order="imagenet", input="rgb255")],
                         ids=["plain", "fuse-bn", "imagenet-rgb"])
def test_arch_streams_and_runs_in_onnxruntime(reference, arch_weights, tmp_path: Path,
                                              options: ConvertOptions) -> None:
    """A whole net (dynamic batch, megabyte weights) as one file and as external data: both are the in-memory
    model, and ONNX Runtime running either file reproduces Caffe's scores."""
    net, weights = arch_weights("se-bn-inception")
    caffenet = load_caffe(net, weights)
    from senet_proto.converters.conventions import apply_conventions

    caffenet = apply_conventions(caffenet, options)
    single = tmp_path / "single.onnx"
    ref = assert_streamed_equals_reference(caffenet, single, options)
    split = tmp_path / "split.onnx"
    export_onnx(caffenet, split, ConvertOptions(**{**options.__dict__, "external_data": True}))
    assert _load_external(split) == ref
    assert split.stat().st_size < 2**20 < data_path(split).stat().st_size

    x = random_input((2, 3, 224, 224), seed=8)
    outs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"data": x})[0]
            for p in (single, split)]
    np.testing.assert_array_equal(outs[0], outs[1])
    if options == ConvertOptions():  # conventions change what Caffe's scores mean; test_onnx checks --fuse-bn too
        caffe = reference.forward(net, weights, x, blobs=["prob"])["prob"]
        np.testing.assert_allclose(outs[0], caffe, rtol=0, atol=1e-4 * float(np.abs(caffe).max()))


def test_external_data_layout(arch_weights, tmp_path: Path) -> None:
    """Large initializers refer to OUT.data (aligned as onnx.save_model aligns them), small ones stay inline, and
    the referenced bytes are the arrays'."""
    net, weights = arch_weights("se-bn-inception")
    caffenet = load_caffe(net, weights)
    out = tmp_path / "m.onnx"
    export_onnx(caffenet, out, ConvertOptions(external_data=True))
    model = onnx.load(str(out), load_external_data=False)
    ref = {t.name: t for t in build_onnx(caffenet).graph.initializer}
    data = data_path(out).read_bytes()
    external = 0
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            assert len(t.raw_data) < stream.EXTERNAL_MIN and t.raw_data == ref[t.name].raw_data
            continue
        external += 1
        info = {e.key: e.value for e in t.external_data}
        assert info["location"] == "m.onnx.data" and not t.HasField("raw_data")
        offset, length = int(info["offset"]), int(info["length"])
        assert length >= stream.EXTERNAL_MIN
        if length >= stream.ALIGN_MIN:
            assert offset % stream.ALIGN == 0
        assert data[offset:offset + length] == ref[t.name].raw_data, t.name
    assert external > 100


def test_a_model_over_two_gib_asks_for_external_data(tmp_path: Path, monkeypatch) -> None:
    net, model = combine(CASES["Convolution"], "Convolution")
    caffenet = load_caffe(net, write_model(model, tmp_path / "w.caffemodel"))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(stream, "MAX_SINGLE_FILE", 1000)
    with pytest.raises(OutputError, match=r"over the 2 GiB protobuf allows.*--external-data"):
        export_onnx(caffenet, out / "m.onnx", ConvertOptions())
    assert not list(out.iterdir())
    export_onnx(caffenet, out / "m.onnx", ConvertOptions(external_data=True))
    assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "m.onnx.data"]


@pytest.mark.parametrize("external", [False, True], ids=["single", "external"])
def test_a_failure_while_writing_leaves_no_file(tmp_path: Path, monkeypatch, external: bool) -> None:
    net, model = combine(CASES["Convolution"], "Convolution")
    caffenet = load_caffe(net, write_model(model, tmp_path / "w.caffemodel"))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(stream, "EXTERNAL_MIN", 16)  # tiny weights: some go to the external data too
    calls = []
    real = stream._write_array

    def fail_on_third(f, e):
        calls.append(e)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(f, e)

    monkeypatch.setattr(stream, "_write_array", fail_on_third)
    with pytest.raises(OSError, match="No space"):
        export_onnx(caffenet, out / "m.onnx", ConvertOptions(external_data=external))
    assert len(calls) == 3 and not list(out.iterdir())


def test_an_invalid_graph_is_caught_before_writing(tmp_path: Path, monkeypatch) -> None:
    """The skeleton gets the full checker: a node reading a value nothing produces is a bug, and no file."""
    net, model = combine(CASES["Activation"], "Activation")
    caffenet = load_caffe(net, write_model(model, tmp_path / "w.caffemodel"))

    def broken_relu(node, b) -> None:
        b.add("Relu", ["nowhere"], [b.output(node, node.tops[0])], node)

    monkeypatch.setitem(ONNX_CONVERTERS._fns, "ReLU", broken_relu)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SenetProtoError, match=r"invalid \(a bug\)"):
        export_onnx(caffenet, out / "m.onnx", ConvertOptions())
    assert not list(out.iterdir())


def test_the_skeleton_check_sees_initializer_types(tmp_path: Path) -> None:
    """Initializers left external in the skeleton still take part in typed shape inference."""
    net, model = combine(CASES["Convolution"], "Convolution")
    caffenet = load_caffe(net, write_model(model, tmp_path / "w.caffemodel"))
    skeleton, tensors = build_parts(caffenet)
    entries = stream._entries(tensors)
    entries[0].offset = 0  # external in the skeleton
    stream.check_skeleton(stream._skeleton(skeleton, entries, "w.bin"), "w.bin")
    entries[0].header.data_type = onnx.TensorProto.DOUBLE  # a float64 weight for a float32 Conv
    with pytest.raises(SenetProtoError, match=r"invalid \(a bug\).*(?i:type)"):
        stream.check_skeleton(stream._skeleton(skeleton, entries, "w.bin"), "w.bin")


# -- CLI ------------------------------------------------------------------------------------------------------


@pytest.fixture
def conv_pair(tmp_path: Path) -> tuple[Path, Path]:
    net, model = combine(CASES["Convolution"], "Convolution")
    proto = tmp_path / "conv.prototxt"
    proto.write_text(format_prototxt(net))
    return proto, write_model(model, tmp_path / "conv.caffemodel")


def test_cli_external_data_writes_both_files(conv_pair, tmp_path: Path) -> None:
    proto, weights = conv_pair
    out = tmp_path / "cli.onnx"
    args = ["convert", str(proto), str(weights), "--to", "onnx", "--external-data", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert data_path(out).is_file()
    assert _load_external(out) == reference_model(load_caffe(proto_net(proto), weights), ConvertOptions())
    # the data file obeys --force like the model file
    out.unlink()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "cli.onnx.data exists (use --force" in result.output, result.output
    assert not out.exists()
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0


def proto_net(proto: Path):
    from senet_proto.caffe import read_prototxt

    return read_prototxt(proto)


def test_cli_single_file_is_the_reference(conv_pair, tmp_path: Path) -> None:
    proto, weights = conv_pair
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    ref = reference_model(load_caffe(proto_net(proto), weights), ConvertOptions())
    assert out.read_bytes() == ref.SerializeToString()
    assert not data_path(out).exists()


def test_cli_external_data_is_for_onnx_only(conv_pair, tmp_path: Path) -> None:
    proto, weights = conv_pair
    out = tmp_path / "m.safetensors"
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "pytorch", "--external-data",
                                       "-o", str(out)])
    assert result.exit_code == 2 and "--external-data applies to --to onnx only" in result.output
    assert not out.exists()


def test_cli_over_two_gib_is_one_clear_line(conv_pair, tmp_path: Path, monkeypatch) -> None:
    proto, weights = conv_pair
    monkeypatch.setattr(stream, "MAX_SINGLE_FILE", 1000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = CliRunner().invoke(main, ["convert", str(proto), str(weights), "--to", "onnx", "-o",
                                       str(out_dir / "m.onnx")])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--external-data" in lines[0] and "Traceback" not in result.output
    assert not os.listdir(out_dir)
