"""bench/gpu_check.py: the CPU dry run of the GPU proof, and its reference made by real Caffe.

The GPU run happens only on a lent GPU machine; here the same code paths run on the CPU (``--quick``), so that
the run there meets no first-time error, and the committed Caffe reference is checked against a real Caffe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))

import gpu_check  # noqa: E402
from bare_env import checkout_env  # noqa: E402

from senet_proto.generator import ARCHITECTURES  # noqa: E402


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("gpu-check")
    env = checkout_env()
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out), "--device", "cpu", "--quick"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200)
    assert (out / "report.json").is_file(), proc.stdout[-3000:]
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text() + proc.stdout


def test_quick_cpu_run_passes_every_section(quick_report: tuple[dict, str]) -> None:
    report, text = quick_report
    assert report["ok"], text[-3000:]
    assert [r["arch"] for r in report["equivalence"]] == list(ARCHITECTURES)
    assert all(r["ok"] and r["device_vs_cpu"] <= 1e-5 for r in report["equivalence"])
    # timm's legacy models with the same weights agree with the converted module (SE-BN-Inception has none)
    timm_rows = [r for r in report["equivalence"] if r["timm_model"]]
    assert len(timm_rows) == 6 and all(r["timm_vs_cpu"] < 2e-4 for r in timm_rows)
    caffe = report["caffe"]
    assert caffe["ok"] and caffe["weights_identical"] and caffe["scores_vs_caffe"] <= 1e-4, caffe
    variants = {r["variant"] for r in report["speed"] if "ours_ms" in r}
    expected = {"plain", "fuse-bn", "channels_last", "bf16 autocast", "torch.compile (aot_eager)"}
    assert variants == expected, report["speed"]
    assert any(r["variant"] == "CUDA graphs" and "CUDA" in r["note"] for r in report["speed"])
    assert all("timm_ms" in r for r in report["speed"] if "ours_ms" in r)
    assert report["onnx"]["ok"] and report["onnx"]["vs_pytorch_cpu"] <= 1e-4
    assert "Verdict: **PASS**" in text and "| se-bn-inception |" in text


def test_reference_is_what_real_caffe_computes(caffe_root: Path, tmp_path: Path) -> None:
    """The committed blobs are Caffe's for the seeded weights this checkout makes (stale when the generator or
    the seeding changes: then run ``python bench/gpu_check.py --make-reference``)."""
    made = np.load(gpu_check.make_reference(out=tmp_path / "ref.npz"))
    committed = np.load(gpu_check.reference_path())
    assert json.loads(str(made["fingerprint"])) == json.loads(str(committed["fingerprint"]))
    np.testing.assert_array_equal(made["input"], committed["input"])
    scale = float(np.abs(made["scores"]).max())
    np.testing.assert_allclose(committed["scores"], made["scores"], rtol=0, atol=1e-6 * scale)


def test_caffe_check_fails_when_one_weight_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison with Caffe's blobs can fail: two input channels of one mid-net convolution swapped."""
    seeded = gpu_check.seeded_caffenet

    def wrong(arch, shape, seed=gpu_check.SEED):
        caffenet = seeded(arch, shape, seed)
        w = caffenet.weights["conv3_2_1x1_reduce"][0]
        w[:, [0, 1]] = w[:, [1, 0]]
        return caffenet

    monkeypatch.setattr(gpu_check, "seeded_caffenet", wrong)
    row = gpu_check.caffe_check("cpu", lambda msg: None)
    assert not row["ok"] and row["scores_vs_caffe"] > 1e-4 and not row["weights_identical"], row
