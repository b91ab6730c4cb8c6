"""What every command shares (cli/common.py): output names and targets, `-o -`, `-q`, swapped arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_view_helpers import one_error_line, run
from legacy_nets import v1_net

from senet_proto.caffe import caffe_pb2, parse_prototxt, write_prototxt
from senet_proto.generator import generate

HERE = Path(__file__).resolve().parent.parent / "robustness"
PROTO, MODEL = str(HERE / "conv.prototxt"), str(HERE / "conv.caffemodel")


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["m.onnx", "m.safetensors"])
def test_convert_target_follows_the_output_suffix(cwd: Path, name: str) -> None:
    r = run("convert", PROTO, MODEL, "-o", name)
    assert r.exit_code == 0, r.output
    if name.endswith(".onnx"):
        import onnx

        onnx.checker.check_model(onnx.load(name), full_check=True)  # an ONNX file, not safetensors named .onnx
        assert "(onnx;" in r.stderr
    else:
        from senet_proto import load_pytorch

        assert load_pytorch(name).metadata["senet_proto.format"] == "pytorch-module"
        assert "(pytorch;" in r.stderr
    assert [p.name for p in cwd.iterdir()] == [name]


@pytest.mark.parametrize(("args", "words"), [
    (["convert", PROTO, MODEL, "--to", "timm", "-o", "t.onnx"], "the name says an ONNX model"),
    (["convert", PROTO, MODEL, "--to", "onnx", "-o", "m.safetensors"], "name it OUT.onnx"),
    (["convert", PROTO, MODEL, "--to", "pytorch", "-o", "m.pt"], "a PyTorch pickle"),
    (["convert", PROTO, MODEL, "-o", "m.bin"], "does not say which target; give --to"),
    (["convert", PROTO, MODEL, "--to", "onnx", "-o", "adir/"], "a directory, but --to onnx"),
    (["generate", "se-resnet-50", "-o", "net.onnx"], "but this writes prototxt text"),
    (["generate", "se-resnet-50", "--phase", "train", "-o", "n.prototxt", "--solver", "s.caffemodel"],
     "--solver s.caffemodel"),
    (["weights", "se-resnet-50", "-o", "w.prototxt"], "but this writes a caffemodel; name it OUT.caffemodel"),
    (["view", "se-resnet-50", "--netscope", "-o", "n.svg", "--no-clipboard"], "the name says an SVG image"),
])
def test_an_output_name_that_contradicts_the_output_is_a_usage_error(cwd: Path, args: list[str],
                                                                      words: str) -> None:
    (cwd / "adir").mkdir()
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert words in one_error_line(r)
    assert [p.name for p in cwd.iterdir()] == ["adir"] and not any((cwd / "adir").iterdir())


def test_dash_writes_text_outputs_to_stdout(cwd: Path) -> None:
    r = run("generate", "se-resnet-50", "-o", "-")
    assert r.exit_code == 0 and parse_prototxt(r.stdout) == generate("se-resnet-50")
    r = run("generate", "se-resnet-50", "--phase", "train", "-o", "tv.prototxt", "--solver", "-")
    assert r.exit_code == 0, r.output
    solver = parse_prototxt(r.stdout, message=caffe_pb2.SolverParameter)
    assert solver.net == "tv.prototxt" and (cwd / "tv.prototxt").is_file()
    r = run("view", "se-resnet-50", "--netscope", "-o", "-", "--no-clipboard")
    assert r.exit_code == 0 and parse_prototxt(r.stdout) == generate("se-resnet-50")
    assert "netscope/#/editor" in r.stderr  # the steps go to stderr when stdout holds the prototxt
    r = run("draw", "se-resnet-50", "--stage", "conv5_x", "-o", "-")
    assert r.exit_code == 0 and "<svg" in r.stdout and "conv5_3" in r.stdout
    # no file named '-'; a solver on stdout runs from here, so its snapshot folder is made here
    assert sorted(p.name for p in cwd.iterdir()) == ["snapshots", "tv.prototxt"]


@pytest.mark.parametrize("args", [["convert", PROTO, MODEL, "-o", "-"], ["weights", PROTO, "-o", "-"]])
def test_dash_for_a_binary_output_is_a_usage_error(cwd: Path, args: list[str]) -> None:
    r = run(*args)
    assert r.exit_code == 2 and "give a file name" in one_error_line(r)
    assert not any(cwd.iterdir())


def test_quiet_prints_nothing_but_errors(cwd: Path) -> None:
    r = run("convert", PROTO, MODEL, "-o", "m.onnx", "-q")
    assert r.exit_code == 0 and r.output == "" and (cwd / "m.onnx").is_file()
    r = run("convert", PROTO, MODEL, "-o", "m.onnx", "-q")
    assert r.exit_code == 1 and "exists" in one_error_line(r)
    write_prototxt(v1_net(), cwd / "v1.prototxt")
    r = run("view", "v1.prototxt", "--netscope", "-o", "v1-netscope.prototxt", "--no-clipboard", "-q")
    assert r.exit_code == 0 and r.output == "" and (cwd / "v1-netscope.prototxt").is_file()
    r = run("view", "v1.prototxt", "--netscope", "-o", "v1-again.prototxt", "--no-clipboard")
    assert "upgraded" in r.stderr and "netscope/#/editor" in r.stdout  # what -q silenced


def test_quiet_weights(caffe_root, cwd: Path) -> None:
    r = run("weights", PROTO, "-o", "w.caffemodel", "-q")
    assert r.exit_code == 0 and r.output == "" and (cwd / "w.caffemodel").stat().st_size > 0
    r = run("weights", PROTO, "-o", "w2.caffemodel")
    assert r.exit_code == 0 and r.stderr.startswith("wrote w2.caffemodel")


def _solverstate(path: Path) -> None:
    """A .solverstate as Caffe's SGDSolver::SnapshotSolverStateToBinaryProto writes it (a SolverState message)."""
    state = caffe_pb2.SolverState(iter=100, learned_net="snap_iter_100.caffemodel", current_step=0)
    blob = state.history.add()
    blob.shape.dim.extend([4, 3, 3, 3])
    blob.data.extend([0.25] * 108)
    path.write_bytes(state.SerializeToString())


@pytest.mark.parametrize("command", ["convert", "verify"])
def test_swapped_arguments_say_so(cwd: Path, command: str) -> None:
    out = ["-o", "m.onnx"] if command == "convert" else []
    r = run(command, MODEL, PROTO, *out)
    assert r.exit_code == 1
    line = one_error_line(r)
    assert "conv.caffemodel: looks like a binary caffemodel (Caffe weights), not a net prototxt" in line
    assert "the arguments may be swapped" in line
    _solverstate(cwd / "snap.solverstate")
    r = run(command, PROTO, "snap.solverstate", *out)
    line = one_error_line(r)
    assert r.exit_code == 1 and "snap.solverstate: looks like a Caffe solver state" in line
    assert "not a caffemodel (its weights are in snap_iter_100.caffemodel)" in line
    r = run(command, "snap.solverstate", MODEL, *out)
    assert r.exit_code == 1 and "the arguments may be swapped" in one_error_line(r)
    assert sorted(p.name for p in cwd.iterdir()) == ["snap.solverstate"]


def test_a_solver_prototxt_where_a_net_belongs(cwd: Path) -> None:
    assert run("generate", "se-resnet-50", "--phase", "train", "-o", "tv.prototxt", "--solver",
               "solver.prototxt").exit_code == 0
    for args in (["info", "solver.prototxt"], ["convert", "solver.prototxt", MODEL, "-o", "m.onnx"]):
        r = run(*args)
        assert r.exit_code == 1
        line = one_error_line(r)
        assert "solver.prototxt: looks like a Caffe solver prototxt, not a net prototxt (its net is tv.prototxt)" \
            in line and "swapped" not in line
    assert not (cwd / "m.onnx").exists()
