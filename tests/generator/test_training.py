"""Generated train_val nets and solvers train in real Caffe: `caffe train --solver` runs them as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from senet_proto.caffe import caffe_pb2, parse_prototxt
from senet_proto.cli import main
from senet_proto.generator import ARCHITECTURES

SIZE = 32


def _small_template(folder: Path) -> Path:
    """SE-ResNet with one narrow bottleneck per stage: learns a 32x32 task in seconds on a CPU."""
    text = ARCHITECTURES["se-resnet-50"].template.read_text()
    for old, new in (("[3, 4, 6, 3]", "[1, 1, 1, 1]"), ("[64, 128, 256, 512]", "[8, 16, 32, 64]"),
                     ("[256, 512, 1024, 2048]", "[32, 64, 128, 256]"), ("num_output = 64", "num_output = 16")):
        assert old in text
        text = text.replace(old, new)
    path = folder / "small.toml"
    path.write_text(text)
    return path


def _write_ppm(path: Path, image: np.ndarray) -> None:
    h, w, _ = image.shape
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + image.astype(np.uint8).tobytes())


def _image_set(folder: Path, name: str, count: int, rng: np.random.Generator) -> Path:
    """Two classes that differ in colour (reddish vs bluish), under noise and random brightness."""
    lines = []
    for i in range(count):
        label = i % 2
        base = np.array([70.0, 70.0, 150.0]) if label == 0 else np.array([150.0, 70.0, 70.0])
        image = base * rng.uniform(0.6, 1.4) + rng.normal(0, 40, (SIZE, SIZE, 3))
        _write_ppm(folder / f"{name}_{i:03d}.ppm", np.clip(image, 0, 255))
        lines.append(f"{name}_{i:03d}.ppm {label}")
    path = folder / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _generate(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["generate", *args])
    assert result.exit_code == 0, result.output


def _test_outputs(log: str, name: str) -> list[float]:
    """The values Caffe's solver logs for test output ``name``, one per test pass."""
    return [float(v) for v in re.findall(rf"Test net output #\d+: {re.escape(name)} = ([-\d.eE+naif]+)", log)]


def _strip_fillers(path: Path) -> None:
    net = parse_prototxt(path.read_text())
    for layer in net.layer:
        for param in (layer.convolution_param, layer.inner_product_param):
            param.ClearField("weight_filler")
            param.ClearField("bias_filler")
    from senet_proto.caffe import format_prototxt

    path.write_text(format_prototxt(net))


def _train_small_net(folder: Path, with_fillers: bool) -> tuple[float, str]:
    """Generate train_val + solver for the small net on an image set; `caffe train` them; final val accuracy."""
    from senet_proto.reference.backend import job_dir

    with job_dir() as job:
        run = job.path / "run"
        run.mkdir()
        rng = np.random.default_rng(0)
        train_list = _image_set(run, "train", 128, rng)
        val_list = _image_set(run, "val", 64, rng)
        _generate(["--template", str(_small_template(folder)), "--se-style", "scale", "--phase", "train",
                   "--input-shape", f"1,3,{SIZE},{SIZE}", "--num-classes", "2", "--data", "images",
                   "--train-source", str(train_list), "--val-source", str(val_list), "--batch-size", "16",
                   "--iter-size", "1", "--train-size", "128", "--val-size", "64", "--epochs", "10",
                   "--solver-mode", "cpu", "--seed", "1", "-o", str(run / "train_val.prototxt"),
                   "--solver", str(run / "solver.prototxt")])
        if not with_fillers:
            _strip_fillers(run / "train_val.prototxt")
        log = job.tool(["caffe", "train", "--solver", "solver.prototxt"], cwd="run")
        solver = parse_prototxt((run / "solver.prototxt").read_text(), message=caffe_pb2.SolverParameter)
        snapshot = run / f"{solver.snapshot_prefix}_iter_{solver.max_iter}.caffemodel"
        assert snapshot.is_file(), f"no snapshot where the solver says: {snapshot}"
        accuracy = _test_outputs(log, "accuracy_top1")
        assert accuracy, log[-2000:]
        return accuracy[-1], log


def test_generated_solver_and_train_val_learn_in_caffe(caffe_root: Path, tmp_path: Path) -> None:
    """`caffe train --solver` (CPU) from the solver's folder learns a visible two-class task: the msra fillers
    make that possible; the same run with the fillers removed (Caffe's constant 0) stays at chance."""
    accuracy, log = _train_small_net(tmp_path, with_fillers=True)
    assert accuracy >= 0.9, log[-3000:]
    accuracy, log = _train_small_net(tmp_path, with_fillers=False)
    assert accuracy <= 0.6, log[-3000:]


def test_finetune_workflow_starts_from_official_weights_and_its_snapshot_converts(caffe_root: Path,
                                                                                  tmp_path: Path) -> None:
    """The README's fine-tuning commands: official-shaped SE-ResNet-50 weights (those `senet-proto weights`
    makes), a 10-class fine-tune net and solver, `caffe train --solver` (the solver's `weights:` loads them,
    the renamed classifier starts afresh), a falling loss, and the snapshot converts with the deploy net."""
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights
    from senet_proto.reference.backend import job_dir

    official = cached_weights(generate("se-resnet-50"), seed=0)
    with job_dir() as job:
        run = job.path / "run"
        run.mkdir()
        job.add_file("official.caffemodel", official)
        weights = job.path / "official.caffemodel"
        # stock Caffe has no Axpy layer: the scale style (same layer names and blobs) takes the official weights
        common = ["se-resnet-50", "--se-style", "scale", "--num-classes", "10", "--finetune", str(weights)]
        _generate([*common, "--phase", "train", "--data", "dummy", "--input-shape", "1,3,64,64",
                   "--batch-size", "2", "--iter-size", "1", "--train-size", "2", "--val-size", "2", "--epochs", "6",
                   "--lr-policy", "fixed", "--solver-mode", "cpu", "--seed", "0",
                   "-o", str(run / "train_val.prototxt"), "--solver", str(run / "solver.prototxt")])
        solver = parse_prototxt((run / "solver.prototxt").read_text(), message=caffe_pb2.SolverParameter)
        assert list(solver.weights) == ["../official.caffemodel"]
        log = job.tool(["caffe", "train", "--solver", "solver.prototxt"], cwd="run")
        assert "Ignoring source layer classifier" in log, "the official classifier must not be copied"
        losses = [float(v) for v in re.findall(r"Train net output #\d+: loss = ([-\d.eE+naif]+)", log)]
        assert len(losses) == solver.max_iter and np.isfinite(losses).all(), log[-2000:]
        assert losses[-1] < losses[0], losses
        snapshot = run / f"{solver.snapshot_prefix}_iter_{solver.max_iter}.caffemodel"
        assert snapshot.is_file(), log[-2000:]
        deploy, out = tmp_path / "deploy.prototxt", tmp_path / "finetuned.safetensors"
        _generate([*common, "-o", str(deploy)])
        result = CliRunner().invoke(main, ["convert", str(deploy), str(snapshot), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0
