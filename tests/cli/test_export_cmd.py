"""`senet-proto export` on bad input: one line, a non-zero exit code, nothing half-written left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from senet_proto.cli import main

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")


def run(tmp: Path, *args: str, out: tuple[str, str] = ("net.prototxt", "net.caffemodel")):
    result = CliRunner().invoke(main, ["export", *args, "-o", str(tmp / out[0]), "--caffemodel", str(tmp / out[1])])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return result.exit_code, lines[0]


def assert_nothing_written(tmp: Path, *keep: str) -> None:
    assert sorted(p.name for p in tmp.iterdir()) == sorted(keep)


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory) -> Path:
    """A state dict of another architecture (timm's resnet18, no SE), as a torch.save file."""
    path = tmp_path_factory.mktemp("other") / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    return path


@pytest.mark.parametrize(("name", "says"), [("legacy_seresnet51", "legacy_seresnext50_32x4d"),
                                            ("seresnet51", "timm's SE ResNets (e.g. seresnet50")])
def test_an_unknown_timm_model_is_refused(tmp_path, name, says) -> None:
    code, line = run(tmp_path, name, "--weights", "w.safetensors")
    assert code == 2 and f"unknown timm model '{name}'" in line and says in line
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(("name", "says"), [
    ("ecaresnet50d", "the attention layer layer1.0.se is EcaModule, not SE"),
    ("seresnetaa50d", "the stem pool is AvgPool2d(kernel_size=2"),
    ("seresnet18", "layer1.0 is a BasicBlock"),
    ("resnet50", "layer1.0.se has no attention layer"),
    ("efficientnet_b0", "a timm EfficientNet, not a ResNet"),
])
def test_a_timm_model_caffe_cannot_express_is_refused_naming_the_part(tmp_path, name, says) -> None:
    """timm models other than the legacy SENets and the SE ResNets whose every part Caffe computes exactly."""
    code, line = run(tmp_path, name, "--weights", "w.safetensors")
    assert code == 2 and f"{name}: " in line and says in line, line
    assert_nothing_written(tmp_path)


def test_weights_of_another_architecture_name_missing_and_extra_keys(tmp_path, resnet18_weights) -> None:
    code, line = run(tmp_path, "legacy_seresnet50", "--weights", str(resnet18_weights))
    assert code == 1 and "keys differ from legacy_seresnet50" in line
    assert "missing 270" in line and "'last_linear.weight'" in line  # legacy SENet keys the file lacks
    assert "unexpected 8" in line and "'bn1.weight'" in line  # resnet18 keys the SENet has not
    assert_nothing_written(tmp_path)


class _Runs:
    """Unpickling this would run a shell command (what weights_only exists to refuse)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_weights_only_refuses_is_not_run(tmp_path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    torch.save({"layer0.conv1.weight": _Runs(marker)}, evil)
    code, line = run(tmp_path, "legacy_seresnet50", "--weights", str(evil))
    assert not marker.exists(), "the pickle ran"
    assert code == 1 and "torch.load(weights_only=True)" in line
    assert_nothing_written(tmp_path, "evil.pth")


@pytest.mark.parametrize("out", [("no/net.prototxt", "net.caffemodel"), ("net.prototxt", "no/net.caffemodel")])
def test_an_output_that_cannot_be_written_leaves_neither_file(tmp_path, out) -> None:
    code, line = run(tmp_path, "legacy_seresnet50", "--weights", "w.safetensors", out=out)
    assert code == 1 and "does not exist" in line
    assert_nothing_written(tmp_path)


def test_a_failure_while_writing_leaves_neither_file(tmp_path, monkeypatch) -> None:
    """The caffemodel fails half-way (a full disk): neither output nor a temporary file remains."""
    from safetensors.torch import save_file

    from senet_proto.errors import OutputError
    from senet_proto.export import caffemodel

    weights = tmp_path / "w.safetensors"
    save_file(timm.create_model("legacy_seresnet50", pretrained=False).state_dict(), str(weights))
    written = []
    real = caffemodel.write_layer

    def write_layer(f, name, type_, blobs):
        if len(written) == 20:
            raise OutputError("cannot write net.caffemodel: No space left on device")
        written.append(name)
        real(f, name, type_, blobs)

    monkeypatch.setattr(caffemodel, "write_layer", write_layer)
    code, line = run(tmp_path, "legacy_seresnet50", "--weights", str(weights))
    assert code == 1 and "No space left" in line and len(written) == 20
    assert_nothing_written(tmp_path, "w.safetensors")


@pytest.mark.parametrize(("args", "says"), [
    (("legacy_seresnet50",), "give its weights with --weights FILE"),
    (("net.prototxt.txt",), "not a safetensors file"),
    (("legacy_seresnet50", "--weights", "absent.safetensors"), "no such file"),
])
def test_a_model_without_usable_weights_is_refused(tmp_path, monkeypatch, args, says) -> None:
    monkeypatch.chdir(tmp_path)
    Path("net.prototxt.txt").write_text("name: 'x'\n")
    code, line = run(tmp_path, *args)
    assert code in (1, 2) and says in line
    assert_nothing_written(tmp_path, "net.prototxt.txt")
