"""The bad-input corpus: every entry point ends in one clear line, a documented exit code, no traceback,
and no output file left behind. Exit codes: 1 bad input, 2 usage error."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from senet_proto.cli import COMMANDS, main

CORPUS = Path(__file__).resolve().parent / "corpus"
CANARY = "senet_proto_canary_module"
MODEL = CORPUS.parent / "conv.caffemodel"  # weights of conv.prototxt; the prototxt under test is what is broken
IMAGE = CORPUS.parent / "tiny.png"  # an 8x8 image for predict, also as the one image of an evaluate set (val/)

# Broken for every command: the file is not a usable net at all.
STRUCTURAL = [
    "empty.prototxt",
    "bom_only.prototxt",
    "binary_garbage.prototxt",
    "syntax_unclosed_brace.prototxt",
    "syntax_unknown_field.prototxt",
    "undefined_bottom.prototxt",
    "cycle.prototxt",
    "duplicate_top.prototxt",
    "negative_dim.prototxt",
    "enormous_dim.prototxt",
]
# A well-formed graph that cannot be computed: rejected by commands that need shapes or numbers.
SEMANTIC = ["unknown_layer_type.prototxt", "python_layer.prototxt", "kernel_larger_than_input.prototxt"]

# command -> argv builder (FILE, out_dir) -> argv with an output path under out_dir
Builder = Callable[[Path, Path], list[str]]
COMMAND_ARGS: dict[str, Builder] = {
    "info": lambda f, d: ["info", str(f)],
    "draw": lambda f, d: ["draw", str(f), "-o", str(d / "out.svg")],
    "view": lambda f, d: ["view", str(f), "--netscope", "-o", str(d / "out.prototxt")],
    "weights": lambda f, d: ["weights", str(f), "-o", str(d / "out.caffemodel")],
    "convert": lambda f, d: ["convert", str(f), str(MODEL), "--to", "pytorch", "-o", str(d / "out.safetensors")],
    "convert-onnx": lambda f, d: ["convert", str(f), str(MODEL), "--to", "onnx", "-o", str(d / "out.onnx")],
    "verify": lambda f, d: ["verify", str(f), str(MODEL)],
    "predict": lambda f, d: ["predict", str(f), str(MODEL), str(IMAGE)],
    "evaluate": lambda f, d: ["evaluate", str(f), str(MODEL), "--data", str(CORPUS.parent / "val")],
}
NEEDS_NUMBERS = {"info", "weights", "convert", "convert-onnx", "verify", "predict", "evaluate"}


def _check_clean_failure(result: Result, out_dir: Path, codes: tuple[int, ...] = (1,)) -> str:
    text = result.output
    assert result.exit_code in codes, f"exit {result.exit_code}, expected {codes}: {text!r}"
    assert "Traceback" not in text and not isinstance(result.exception, AssertionError), text
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {lines}"
    assert lines[0].startswith("senet-proto: error: "), lines[0]
    leftovers = [p.name for p in out_dir.iterdir()]
    assert not leftovers, f"output left behind: {leftovers}"
    return lines[0]


def _cases(files: list[str], commands: set[str] | None = None) -> list[tuple[str, str]]:
    names = sorted(c for c in COMMAND_ARGS if c.split("-")[0] in COMMANDS)
    return [(c, f) for c in names for f in files if commands is None or c in commands]


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.mark.parametrize(("command", "name"), _cases(STRUCTURAL))
def test_structurally_broken_files(command: str, name: str, out_dir: Path) -> None:
    result = CliRunner().invoke(main, COMMAND_ARGS[command](CORPUS / name, out_dir))
    line = _check_clean_failure(result, out_dir)
    assert len(line) < 400


@pytest.mark.parametrize(("command", "name"), _cases(SEMANTIC, NEEDS_NUMBERS))
def test_uncomputable_nets(command: str, name: str, out_dir: Path) -> None:
    result = CliRunner().invoke(main, COMMAND_ARGS[command](CORPUS / name, out_dir))
    line = _check_clean_failure(result, out_dir)
    if name == "unknown_layer_type.prototxt":
        assert "Frobnicate" in line
    assert CANARY not in sys.modules, "a module named in a user's prototxt was imported"


def test_syntax_errors_name_line_and_column(out_dir: Path) -> None:
    result = CliRunner().invoke(main, ["info", str(CORPUS / "syntax_unknown_field.prototxt")])
    line = _check_clean_failure(result, out_dir)
    assert "syntax_unknown_field.prototxt:3:" in line and "kernal_size" in line


@pytest.mark.parametrize("command", sorted(c for c in COMMAND_ARGS if c.split("-")[0] in COMMANDS))
def test_missing_file_and_directory_instead_of_file(command: str, tmp_path: Path, out_dir: Path) -> None:
    for target in (tmp_path / "missing.prototxt", tmp_path):
        result = CliRunner().invoke(main, COMMAND_ARGS[command](target, out_dir))
        _check_clean_failure(result, out_dir, codes=(1, 2))


@pytest.mark.parametrize("command", sorted({"draw", "view", "weights", "convert"} & set(COMMANDS)))
def test_unwritable_output_paths(command: str, tmp_path: Path) -> None:
    good = CORPUS.parent / "ok.prototxt"
    for bad_out in (tmp_path / "no" / "such" / "dir", tmp_path / "adir"):
        (tmp_path / "adir").mkdir(exist_ok=True)
        argv = COMMAND_ARGS[command](good, bad_out)
        if bad_out.name == "adir":
            argv[argv.index("-o") + 1] = str(bad_out)
        result = CliRunner().invoke(main, argv)
        assert result.exit_code in (1, 2), result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_unknown_command_and_option_are_usage_errors() -> None:
    assert CliRunner().invoke(main, ["frobnicate"]).exit_code == 2
    assert CliRunner().invoke(main, ["generate", "se-resnet-50", "--no-such-option"]).exit_code == 2


def test_non_finite_weights_warn_but_convert(tmp_path: Path, out_dir: Path) -> None:
    """NaN/inf weights are reported (they make every output NaN) but are data, not an error."""
    import numpy as np

    from senet_proto.caffe import read_prototxt

    net = read_prototxt(CORPUS.parent / "conv.prototxt")
    model = type(net)()
    model.CopyFrom(net)
    conv = next(ly for ly in model.layer if ly.name == "conv")
    w = np.ones((4, 3, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.nan
    w[1, 0, 0, 0] = np.inf
    blob = conv.blobs.add()
    blob.shape.dim.extend(w.shape)
    blob.data.extend(w.reshape(-1).tolist())
    caffemodel = tmp_path / "nan.caffemodel"
    caffemodel.write_bytes(model.SerializeToString())
    out = out_dir / "m.onnx"
    result = CliRunner().invoke(main, ["convert", str(CORPUS.parent / "conv.prototxt"), str(caffemodel),
                                       "--to", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "layer 'conv' has non-finite weights (NaN or inf: [2] per blob)" in result.output
    assert out.is_file()


@pytest.mark.parametrize("damage", ["empty", "truncated", "bitflip", "garbage", "directory"])
def test_damaged_caffemodels(damage: str, tmp_path: Path, out_dir: Path) -> None:
    raw = MODEL.read_bytes()
    bad = tmp_path / "bad.caffemodel"
    if damage == "directory":
        bad.mkdir()
    else:
        data = {"empty": b"", "truncated": raw[: len(raw) - 37], "garbage": bytes(range(256)) * 4,
                "bitflip": raw[:20] + bytes([raw[20] ^ 0x80]) + raw[21:]}[damage]
        bad.write_bytes(data)
    for target, out in (("pytorch", "m.safetensors"), ("onnx", "m.onnx")):
        result = CliRunner().invoke(main, ["convert", str(CORPUS.parent / "conv.prototxt"), str(bad), "--to", target,
                                           "-o", str(out_dir / out)])
        if damage == "bitflip" and result.exit_code == 0:
            (out_dir / out).unlink()  # a flip inside float data is still a valid caffemodel
            continue
        _check_clean_failure(result, out_dir, codes=(1, 2))
