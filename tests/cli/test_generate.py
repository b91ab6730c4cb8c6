"""`senet-proto list` and `senet-proto generate` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.cli import main
from senet_proto.generator import ARCH_IDS, GenerateOptions, generate


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list(runner: CliRunner) -> None:
    result = runner.invoke(main, ["list"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(ARCH_IDS)
    data = json.loads(runner.invoke(main, ["list", "--json"]).output)
    assert [d["id"] for d in data] == list(ARCH_IDS) and all(d["description"] for d in data)


def test_generate_to_stdout_and_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["generate", "se-resnet-50"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# mean_value: 104, 117, 123\n")
    assert parse_prototxt(result.output) == generate("se-resnet-50")
    out = tmp_path / "net.prototxt"
    result = runner.invoke(main, ["generate", "se-resnext-50", "--se-style", "scale", "--squeeze", "fc",
                                  "--reduction", "8", "--input-shape", "2,3,193,193", "--num-classes", "10",
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    expected = generate("se-resnext-50", GenerateOptions(se_style="scale", squeeze="fc", reduction=8,
                                                         input_shape=(2, 3, 193, 193), num_classes=10))
    assert parse_prototxt(out.read_text()) == expected


def test_generate_train_with_solver(runner: CliRunner, tmp_path: Path) -> None:
    """Every path in both files is relative to the solver's folder (where `caffe train` runs)."""
    (tmp_path / "nets").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "w.caffemodel").write_bytes(b"")
    net, solver = tmp_path / "nets" / "train_val.prototxt", tmp_path / "run" / "solver.prototxt"
    result = runner.invoke(main, ["generate", "se-resnet-50", "--phase", "train", "-o", str(net),
                                  "--solver", str(solver), "--train-source", str(tmp_path / "train_lmdb"),
                                  "--finetune", str(tmp_path / "w.caffemodel"), "--num-classes", "10"])
    assert result.exit_code == 0, result.output
    s = parse_prototxt(solver.read_text(), message=caffe_pb2.SolverParameter)
    assert s.net == "../nets/train_val.prototxt" and s.momentum == pytest.approx(0.9)
    assert list(s.weights) == ["../w.caffemodel"] and s.solver_mode == caffe_pb2.SolverParameter.GPU
    assert (tmp_path / "run" / s.snapshot_prefix).parent.is_dir(), "the snapshot folder is created"
    layers = parse_prototxt(net.read_text()).layer
    assert any(ly.type == "SoftmaxWithLoss" for ly in layers)
    assert next(ly for ly in layers if ly.type == "Data").data_param.source == "../train_lmdb"


def test_generate_from_template(runner: CliRunner, tmp_path: Path) -> None:
    from senet_proto.generator import ARCHITECTURES

    t = tmp_path / "t.toml"
    t.write_text(ARCHITECTURES["se-resnet-50"].template.read_text().replace("[3, 4, 6, 3]", "[1, 1, 1, 1]"))
    result = runner.invoke(main, ["generate", "--template", str(t)])
    assert result.exit_code == 0, result.output
    assert sum(ly.type == "Axpy" for ly in parse_prototxt(result.output).layer) == 4


def _one_error_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["generate", "se-resnet-51"], 2, "unknown architecture 'se-resnet-51' (known: se-bn-inception"),
        (["generate"], 2, "exactly one of ARCH or --template"),
        (["generate", "se-resnet-50", "--input-shape", "1,3,224"], 2, "four dimensions"),
        (["generate", "se-resnet-50", "--input-shape", "a,b,c,d"], 2, "N,C,H,W integers"),
        (["generate", "se-resnet-50", "--input-shape", "1,3,2,2"], 2, "too small"),
        (["generate", "se-resnet-50", "--reduction", "0"], 2, "--reduction"),
        (["generate", "se-resnet-50", "--num-classes", "-1"], 2, "--num-classes"),
        (["generate", "se-resnet-50", "--solver", "s.prototxt"], 2, "--solver needs --phase train"),
        (["generate", "se-resnet-50", "--data", "dummy"], 2, "--data need --phase train"),
        (["generate", "se-resnet-50", "--batch-size", "8", "--train-source", "x"], 2,
         "--train-source, --batch-size need --phase train"),
        (["generate", "se-resnet-50", "--phase", "train", "--solver-mode", "cpu"], 2, "--solver-mode set the solver"),
        (["generate", "se-resnet-50", "--se-style", "none", "--squeeze", "fc"], 2,
         "--squeeze shape SE blocks: --se-style none has none"),
        (["generate", "se-resnet-50", "--reduction", "1000"], 2,
         "--reduction 1000 is larger than the 256 channels of SE block 'conv2_1'"),
        (["generate", "se-resnet-50", "--num-classes", "1"], 2, "softmax over one class"),
        (["generate", "se-resnet-50", "--phase", "train", "--input-shape", "1,3,224,160"], 2, "crops squares"),
        (["generate", "se-resnet-50", "--phase", "train", "-o", "n.prototxt", "--solver", "s.prototxt",
          "--finetune", "missing.caffemodel"], 2, "--finetune missing.caffemodel: no such file"),
        (["generate", "--template", "missing.toml"], 1, "no such template"),
    ],
)
def test_generate_errors(runner: CliRunner, args: list[str], code: int, words: str) -> None:
    line = _one_error_line(runner.invoke(main, args), code)
    assert line.startswith("senet-proto: error: ") and words in line, line


def test_existing_output_needs_force(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "net.prototxt"
    out.write_text("keep me")
    line = _one_error_line(runner.invoke(main, ["generate", "se-resnet-50", "-o", str(out)]), 1)
    assert "exists" in line and "--force" in line
    assert out.read_text() == "keep me"
    assert runner.invoke(main, ["generate", "se-resnet-50", "-o", str(out), "--force"]).exit_code == 0
    assert parse_prototxt(out.read_text()) == generate("se-resnet-50")


def test_output_into_missing_directory_leaves_nothing(runner: CliRunner, tmp_path: Path) -> None:
    line = _one_error_line(runner.invoke(main, ["generate", "se-resnet-50", "-o", str(tmp_path / "no/x.prototxt")]), 1)
    assert "does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_help_has_examples(runner: CliRunner) -> None:
    for cmd in (["--help"], ["generate", "--help"], ["list", "--help"]):
        result = runner.invoke(main, cmd)
        assert result.exit_code == 0 and "Examples" in result.output


@pytest.mark.parametrize("force", [False, True])
def test_net_and_solver_in_the_same_file_is_a_usage_error_before_writing(runner: CliRunner, tmp_path: Path,
                                                                        force: bool) -> None:
    out = tmp_path / "same.prototxt"
    args = ["generate", "se-resnet-50", "--phase", "train", "-o", str(out), "--solver",
            str(tmp_path / "." / "same.prototxt"), *(["--force"] if force else [])]
    line = _one_error_line(runner.invoke(main, args), 2)
    assert "-o and --solver are the same file" in line, line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_template_with_a_byte_order_mark(runner: CliRunner, tmp_path: Path) -> None:
    from senet_proto.generator import ARCHITECTURES

    t = tmp_path / "bom.toml"
    t.write_bytes(b"\xef\xbb\xbf" + ARCHITECTURES["se-bn-inception"].template.read_bytes())
    out = tmp_path / "net.prototxt"
    result = runner.invoke(main, ["generate", "--template", str(t), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert parse_prototxt(out.read_text()) == generate("se-bn-inception")


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: t.replace('name = "inception_3b"', 'name = "inception_3a"'),
     "key 'modules[1].name': 'inception_3a' is already the name of 'modules[0].name'"),
    (lambda t: t.replace('name = "conv2/3x3_reduce"', 'name = "inception_3a/1x1"'),
     "the generated net breaks Caffe's rules: Top blob 'inception_3a/1x1' produced by multiple sources "
     "(layer 'inception_3a/1x1' (Convolution)) (written by the template entries stem[2].name, modules[0].name)"),
])
def test_template_whose_net_caffe_would_refuse(runner: CliRunner, tmp_path: Path, edit, words: str) -> None:
    from senet_proto.generator import ARCHITECTURES

    text = ARCHITECTURES["se-bn-inception"].template.read_text()
    t = tmp_path / "mine.toml"
    t.write_text(edit(text))
    assert t.read_text() != text
    out = tmp_path / "net.prototxt"
    result = runner.invoke(main, ["generate", "--template", str(t), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"senet-proto: error: {t}: {words}" + result.stderr.split(words, 1)[1]
    assert len(result.stderr.splitlines()) == 1 and not out.exists()
