"""A base install (``pip install senet-proto``, no extras): every command works or names its missing package.

The venv holds only the dependencies pyproject.toml lists outside its extras (linked from this environment,
no download) and this checkout's package; each command then runs once through CliRunner.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from bare_env import extra_packages, link_base_install

from senet_proto.caffe import write_prototxt
from senet_proto.cli import COMMANDS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from caffe_nets import small_se_net

# a 1x1 grey PNG (predict and evaluate need an image to look at before they load anything)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                    "3a7e9b550000000a4944415478da63600000000200015e1d2e9b0000000049454e44ae426082")
MISSING = re.compile(r"^senet-proto: error: .*needs the Python package '([\w.-]+)': "
                     r"pip install 'senet-proto\[(\w+)\]'$")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bare-venv")
    venv.create(root, with_pip=False)
    link_base_install(next((root / "lib").glob("python3*/site-packages")))
    python = root / "bin" / "python"
    optional = ["torch", "safetensors", "onnx", "onnxruntime", "timm", "netron", "pydot"]
    probe = subprocess.run([python, "-c", "import importlib.util as u, sys; "
                            f"print([m for m in {optional!r} if u.find_spec(m)])"],
                           capture_output=True, text=True, env=_env(), check=True)
    assert probe.stdout.strip() == "[]", f"the bare venv can import optional packages: {probe.stdout}"
    return python


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


# command -> cases (name, args, expected): "ok" or "missing" (one line naming a package and its extra)
def _cases(tmp: Path, net: Path, weights: Path) -> dict[str, list[tuple[str, list[str], str]]]:
    images = tmp / "images" / "n01440764"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(PNG)
    return {
        "list": [("list", ["list"], "ok")],
        "generate": [("generate", ["generate", "se-resnet-50", "-o", str(tmp / "g.prototxt")], "ok")],
        "info": [("info", ["info", "se-resnet-50"], "ok")],
        "weights": [("weights", ["weights", str(net), "-o", str(weights)], "ok")],
        "convert": [(f"convert --to {t}", ["convert", str(net), str(weights), "--to", t, "-o", str(tmp / f"c.{t}")],
                     "ok" if t == "pytorch" else "missing") for t in ("pytorch", "onnx", "timm")],
        "export": [("export", ["export", str(tmp / "c.pytorch"), "-o", str(tmp / "e.prototxt"),
                               "--caffemodel", str(tmp / "e.caffemodel")], "missing")],
        "predict": [("predict", ["predict", str(tmp / "c.pytorch"), str(images)], "missing")],
        "evaluate": [("evaluate", ["evaluate", str(tmp / "c.pytorch"), "--data", str(images.parent)], "missing")],
        "verify": [(f"verify --to {t}", ["verify", str(net), str(weights), "--to", t], "missing")
                   for t in ("pytorch", "onnx", "all")],
        "draw": [("draw", ["draw", "se-resnet-50", "-o", str(tmp / "d.svg")], "missing")],
        "view": [("view --netron", ["view", "se-resnet-50"], "missing"),
                 ("view --netscope", ["view", "se-resnet-50", "--netscope", "--no-clipboard",
                                      "-o", str(tmp / "v.prototxt")], "ok")],
    }


def test_every_command_works_or_names_its_extra(bare_python, caffe_root, tmp_path):
    net = tmp_path / "tiny.prototxt"
    write_prototxt(small_se_net(), net)
    weights = tmp_path / "tiny.caffemodel"
    cases = _cases(tmp_path, net, weights)
    assert set(COMMANDS) <= set(cases), f"commands without a no-extras case: {sorted(set(COMMANDS) - set(cases))}"
    flat = [case for group in cases.values() for case in group]
    runs = [[name, args] for name, args, _ in flat] + [["--help", ["--help"]]]
    proc = subprocess.run([bare_python, str(Path(__file__).with_name("no_extras_runner.py")), json.dumps(runs),
                           str(tmp_path / "c.pytorch")],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, _args, expected in [*flat, ("--help", ["--help"], "ok")]:
        code, output, _ = results[name]
        if expected == "ok":
            assert code == 0, f"{name}: exit {code}: {output}"
            continue
        lines = output.strip().splitlines()
        assert code == 1 and len(lines) == 1, f"{name}: exit {code}, expected one line and exit 1: {output}"
        m = MISSING.match(lines[0])
        assert m, f"{name}: the line does not name a package and an extra: {lines[0]}"
        package, extra = m.groups()
        assert package.lower() in extra_packages(extra), f"{name}: extra [{extra}] does not bring {package}"
    for fn in ("load_pytorch", "build_module"):
        code, message, kind = results[f"senet_proto.{fn}"]
        assert kind == "MissingDependencyError", f"senet_proto.{fn}: {kind}: {message}"
        package, extra = re.search(r"'([\w.-]+)': pip install 'senet-proto\[(\w+)\]'", message).groups()
        assert package.lower() in extra_packages(extra)
    assert weights.is_file()  # made by real Caffe in the root, without the extras
