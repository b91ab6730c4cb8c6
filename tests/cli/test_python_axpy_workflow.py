"""Axpy spelled as a Caffe Python layer, end to end with real Caffe, and no user module ever imported.

Real Caffe runs the Python-layer spelling of a small SE-ResNet (Axpy as its Python layer) and saves the
caffemodel (`senet-proto weights`): its Axpy layers have type Python. Both spellings of the prototxt then
convert with it (Caffe matches weights by name, so the official Axpy spelling loads these Python-typed
layers) and match Caffe. The Python layers name a module that fails the test if anything imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from senet_proto import load_pytorch
from senet_proto.caffe import caffe_pb2, read_caffemodel_proto, write_prototxt
from senet_proto.cli import main
from senet_proto.generator import ARCHITECTURES, GenerateOptions, generate

TRAP = "senet_proto_i12_trap"  # the module the nets' Python layers name; importing it writes MARKER and raises
SAID = "4 Python layers named Axpy read as Axpy: a·x + y"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def trap(tmp_path_factory) -> Path:
    """A module on sys.path whose import leaves a marker file (and fails); returns the marker's path."""
    d = tmp_path_factory.mktemp("trap")
    marker = d / "imported"
    (d / f"{TRAP}.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n"
                                  "raise RuntimeError('a module named in a prototxt was imported')\n")
    sys.path.insert(0, str(d))
    yield marker
    sys.path.remove(str(d))
    assert not marker.exists() and TRAP not in sys.modules, "a module named in a user's prototxt was imported"


def python_spelling(net: caffe_pb2.NetParameter, layer: str = "Axpy") -> caffe_pb2.NetParameter:
    """``net`` with every Axpy written as users of stock Caffe write it (a Python layer of module TRAP)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for ly in out.layer:
        if ly.type == "Axpy":
            ly.type = "Python"
            ly.python_param.module = TRAP
            ly.python_param.layer = layer
    return out


@pytest.fixture(scope="module")
def nets(caffe_root, trap, tmp_path_factory) -> dict[str, Path]:
    """spelling -> prototxt of a small SE-ResNet (one block per stage, narrow, 64x64 input, batch 2, 10 classes),
    and "model" -> the caffemodel real Caffe saved while running the Python spelling."""
    d = tmp_path_factory.mktemp("pyaxpy")
    text = (ARCHITECTURES["se-resnet-50"].template.read_text()
            .replace("blocks = [3, 4, 6, 3]", "blocks = [1, 1, 1, 1]").replace('"SE-ResNet-50"', '"SE-ResNet-tiny"')
            .replace("num_output = 64", "num_output = 16")
            .replace("[64, 128, 256, 512]", "[16, 32, 64, 128]")
            .replace("[256, 512, 1024, 2048]", "[64, 128, 256, 512]"))
    (d / "tiny.toml").write_text(text)
    official = generate(d / "tiny.toml", GenerateOptions(input_shape=(2, 3, 64, 64), num_classes=10))
    assert sum(ly.type == "Axpy" for ly in official.layer) == 4
    paths = {"official": d / "official.prototxt", "python": d / "python.prototxt", "model": d / "tiny.caffemodel"}
    write_prototxt(official, paths["official"])
    write_prototxt(python_spelling(official), paths["python"])
    result = invoke("weights", str(paths["python"]), "-o", str(paths["model"]))
    assert result.exit_code == 0, result.output
    assert result.output.count(SAID) == 1, result.output
    return paths


@pytest.fixture(scope="module")
def caffe_outputs(nets) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """spelling -> (input batch, Caffe's classifier and prob for it), Caffe running that spelling."""
    from senet_proto.reference import forward

    x = (np.random.default_rng(3).standard_normal((2, 3, 64, 64)) * 50).astype(np.float32)
    return {s: (x, forward(nets[s], nets["model"], x, blobs=["classifier", "prob"])) for s in ("official", "python")}


def test_caffe_saves_the_axpy_layers_as_python_layers(nets) -> None:
    saved = {ly.name: ly for ly in read_caffemodel_proto(nets["model"]).layer}
    axpy = [ly for ly in saved.values() if ly.type == "Python"]
    assert len(axpy) == 4 and "conv2_1" in saved and saved["conv2_1"].type == "Python"
    assert all(ly.python_param.module == TRAP and ly.python_param.layer == "Axpy" and not ly.blobs for ly in axpy)


@pytest.mark.parametrize("spelling", ["official", "python"])
@pytest.mark.parametrize("target", ["pytorch", "onnx"])
def test_both_spellings_convert_and_match_caffe(nets, caffe_outputs, tmp_path: Path, spelling: str,
                                                target: str) -> None:
    out = tmp_path / ("net.onnx" if target == "onnx" else "net.safetensors")
    result = invoke("convert", str(nets[spelling]), str(nets["model"]), "--to", target, "-o", str(out), "-v")
    assert result.exit_code == 0, result.output
    assert result.output.count(SAID) == (1 if spelling == "python" else 0), result.output
    retyped = "4 layer(s) Axpy in the prototxt are Python in the caffemodel"
    assert (retyped in result.output) == (spelling == "official"), result.output  # the -v line of a type change
    x, caffe = caffe_outputs[spelling]
    if target == "onnx":
        import onnxruntime as ort

        (prob,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["prob"], {"data": x})
    else:
        with torch.no_grad():
            blobs = load_pytorch(out).forward_blobs(torch.from_numpy(x))
        prob = blobs["prob"].numpy()
        np.testing.assert_allclose(blobs["classifier"].numpy(), caffe["classifier"], rtol=0,
                                   atol=1e-4 * float(np.abs(caffe["classifier"]).max()))
    np.testing.assert_allclose(prob, caffe["prob"], rtol=0, atol=1e-4 * float(np.abs(caffe["prob"]).max()))


@pytest.mark.parametrize("spelling", ["official", "python"])
def test_verify_passes_on_both_spellings(nets, spelling: str) -> None:
    result = invoke("verify", str(nets[spelling]), str(nets["model"]), "--worst-only")
    assert result.exit_code == 0, result.output
    assert result.output.count(SAID) == (1 if spelling == "python" else 0), result.output
    for target in ("pytorch", "onnx"):
        assert any(ln.startswith(f"{target}: exact up to float32 rounding") for ln in result.output.splitlines()), \
            result.output


def test_info_draw_and_view_read_the_python_spelling_as_axpy(nets, tmp_path: Path) -> None:
    official, python = (invoke("info", str(nets[s])) for s in ("official", "python"))
    assert official.exit_code == 0 and python.exit_code == 0, python.output
    assert python.output.count(SAID) == 1
    assert python.output.replace(f"senet-proto: {SAID} (their modules are not imported)\n", "") == official.output
    result = invoke("draw", str(nets["python"]), "-o", str(tmp_path / "net.svg"))
    assert result.exit_code == 0 and result.output.count(SAID) == 1, result.output
    result = invoke("view", str(nets["python"]), "--netscope", "--no-clipboard", "-o", str(tmp_path / "n.prototxt"))
    assert result.exit_code == 0 and result.output.count(SAID) == 1, result.output


COMMANDS = {
    "info": lambda net, model, d: ["info", net],
    "draw": lambda net, model, d: ["draw", net, "-o", str(d / "o.svg")],
    "convert-pytorch": lambda net, model, d: ["convert", net, model, "--to", "pytorch", "-o", str(d / "o.st")],
    "convert-onnx": lambda net, model, d: ["convert", net, model, "--to", "onnx", "-o", str(d / "o.onnx")],
    "verify": lambda net, model, d: ["verify", net, model],
    "weights": lambda net, model, d: ["weights", net, "-o", str(d / "o.caffemodel")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_other_python_layers_are_refused_and_never_imported(nets, trap, tmp_path: Path, command: str) -> None:
    from senet_proto.caffe import read_prototxt

    net = python_spelling(read_prototxt(nets["official"]), layer="SEGate")
    path = tmp_path / "other.prototxt"
    write_prototxt(net, path)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(*COMMANDS[command](str(path), str(nets["model"]), out))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("senet-proto: error: ") and "Python" in lines[0], lines
    assert "read as Axpy" not in result.output
    assert not list(out.iterdir()), "output left behind"
    assert not trap.exists() and TRAP not in sys.modules, "a module named in a user's prototxt was imported"
