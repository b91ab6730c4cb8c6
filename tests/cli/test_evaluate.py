"""`senet-proto evaluate`: top-1/top-5 error from real Caffe's outputs; under torchrun (2 CPU processes,
gloo) the same numbers; bad data sets refused with one line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from senet_proto.cli import main

pytest.importorskip("timm", reason="timm is part of the test extras (pip install '.[all,test]')")
pytest.importorskip("PIL", reason="Pillow is part of the predict extra")

# ground truth of image i: the class Caffe ranks RANKS[i] (1 = its top class): hits and misses of both measures
RANKS = [1, 2, 4, 9, 1, 30, 3]


def expected_errors(probs: np.ndarray, labels: list[int]) -> tuple[float, float]:
    """Top-1/top-5 error in percent from Caffe's probabilities (standard order)."""
    order = np.argsort(-probs, axis=1)
    top1 = np.mean([order[i, 0] != y for i, y in enumerate(labels)]) * 100
    top5 = np.mean([y not in order[i, :5] for i, y in enumerate(labels)]) * 100
    return float(top1), float(top5)


@pytest.fixture(scope="module")
def val_set(caffe_case, tmp_path_factory):
    """(class-folder set, flat set with val.txt, labels, Caffe's standard-order probabilities)."""
    from senet_proto.inference.labels import wnids

    probs = caffe_case.standard(caffe_case.probs)
    labels = [int(np.argsort(-p)[r - 1]) for p, r in zip(probs, RANKS, strict=True)]
    for p, r in zip(probs, RANKS, strict=True):  # Caffe's ranking around each label is clear of float noise
        s = np.sort(p)[::-1]
        assert s[r - 1] - s[r] > 1e-5 * s[0] and (r == 1 or s[r - 2] - s[r - 1] > 1e-5 * s[0])
    root = tmp_path_factory.mktemp("val")
    folders, flat = root / "by_class", root / "flat"
    flat.mkdir()
    lines = []
    for f, y in zip(caffe_case.files, labels, strict=True):
        d = folders / wnids()[y]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, d / f.name)
        shutil.copy(f, flat / f.name)
        lines.append(f"{f.name} {wnids()[y] if len(lines) % 2 else y}")  # ids and indices both
    (flat / "val.txt").write_text("\n".join(lines) + "\n")
    return folders, flat, labels, probs


def evaluate_json(*args: str) -> dict:
    r = CliRunner().invoke(main, ["evaluate", *args, "--json", "--workers", "0", "--batch-size", "3"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_evaluate_gives_caffes_errors(val_set, caffe_case, timm_dir: Path) -> None:
    folders, flat, labels, probs = val_set
    top1, top5 = expected_errors(probs, labels)
    assert 0 < top1 < 100 and 0 < top5 < 100  # the set has hits and misses of both
    got = evaluate_json(str(timm_dir), "--data", str(folders))
    assert got["images"] == len(labels) and got["bad_images"] == 0
    assert (got["top1_err"], got["top5_err"]) == pytest.approx((top1, top5), abs=1e-9)
    assert got["release"] == {"net": "se-resnet-50", "top1_err": 22.37, "top5_err": 6.36}
    got = evaluate_json(str(timm_dir), "--data", str(flat), "--limit", "4")  # flat files + val.txt
    assert got["images"] == 4
    assert (got["top1_err"], got["top5_err"]) == pytest.approx(expected_errors(probs[:4], labels[:4]), abs=1e-9)
    pair = [str(caffe_case.prototxt), str(caffe_case.weights)]  # the Caffe pair, the text report
    r = CliRunner().invoke(main, ["evaluate", *pair, "--data", str(folders), "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert f"images      {len(labels)}\n" in r.stdout
    assert f"top-1 error {top1:6.2f} %   (release, se-resnet-50: 22.37 %)" in r.stdout
    assert f"top-5 error {top5:6.2f} %   (release, se-resnet-50: 6.36 %)" in r.stdout


def test_torchrun_two_cpu_processes_give_the_same_numbers(val_set, timm_dir: Path) -> None:
    folders, _, labels, _ = val_set
    single = evaluate_json(str(timm_dir), "--data", str(folders))
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    with socket.socket() as s:  # a free loopback port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # one node on 127.0.0.1 (--standalone advertises the host name, which a container may not resolve)
    cmd = [str(torchrun), "--nnodes=1", "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={port}",
           "-m", "senet_proto", "evaluate", str(timm_dir),
           "--data", str(folders), "--json", "--workers", "0", "--batch-size", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 reports, once
    got = json.loads(lines[0])
    assert got == {k: single[k] for k in got}
    assert got["images"] == len(labels) == 7  # 4 + 3 over two ranks: each image counted once


def test_evaluate_bad_inputs(val_set, caffe_case, timm_dir: Path, tmp_path: Path) -> None:
    folders, _, labels, probs = val_set
    data = tmp_path / "val"
    shutil.copytree(folders, data)
    wnid = sorted(p.name for p in data.iterdir())[0]
    (data / wnid / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    r = CliRunner().invoke(main, ["evaluate", str(timm_dir), "--data", str(data), "--workers", "1"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "zz_broken.jpg" in r.stderr, r.output
    got = evaluate_json(str(timm_dir), "--data", str(data), "--skip-bad")  # counted apart, not in the errors
    assert got["bad_images"] == 1 and got["images"] == len(labels)
    assert (got["top1_err"], got["top5_err"]) == pytest.approx(expected_errors(probs, labels), abs=1e-9)
    (data / "cats").mkdir()
    r = CliRunner().invoke(main, ["evaluate", str(timm_dir), "--data", str(data)])
    assert r.exit_code == 1 and "cats: sub-folder name is not an ImageNet-1k WordNet id" in r.stderr
    empty = tmp_path / "empty"
    (empty / wnid).mkdir(parents=True)
    r = CliRunner().invoke(main, ["evaluate", str(timm_dir), "--data", str(empty)])
    assert r.exit_code == 1 and "no image files" in r.stderr


def test_evaluate_refuses_a_class_count_other_than_1000(tiny10_pair, val_set) -> None:
    _, proto, weights = tiny10_pair
    r = CliRunner().invoke(main, ["evaluate", str(proto), str(weights), "--data", str(val_set[0])])
    assert r.exit_code == 2 and "10 classes" in r.stderr and "Traceback" not in r.output
