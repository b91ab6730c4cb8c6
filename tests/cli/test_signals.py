"""SIGTERM and SIGHUP (``timeout``, ``docker stop``, systemd, batch schedulers, a closed terminal) end a command as
Ctrl-C does: nothing is left beside the output, in the temporary directory, in the Caffe root's job area or in the
weights cache; one line; the shell's exit code for the signal.

Each command runs as a real process; the signal is sent once its output's temporary file has data in it (the
conversions) or once its Caffe job directory exists (weights), looked at while the process is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bare_env import checkout_env

from senet_proto.caffe import write_prototxt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from caffe_nets import small_se_net


@pytest.fixture(scope="module")
def se_resnet50(caffe_root, tmp_path_factory) -> tuple[Path, Path]:
    """SE-ResNet-50's prototxt and Caffe-made weights (about 100 MB: each conversion writes for a while)."""
    from senet_proto.generator import generate
    from senet_proto.reference import cached_weights

    net = generate("se-resnet-50")
    prototxt = tmp_path_factory.mktemp("net") / "se-resnet-50.prototxt"
    write_prototxt(net, prototxt)
    return prototxt, cached_weights(net, seed=0)


def _start(args: list[str], tmp: Path, **env: str) -> subprocess.Popen[str]:
    """The command as its own process, importing this checkout's senet_proto (as the tests do), not an install."""
    (tmp / "tmpdir").mkdir(exist_ok=True)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp,
                            env=checkout_env(TMPDIR=str(tmp / "tmpdir"), **env))


def _stopped(proc: subprocess.Popen[str]) -> bool:
    """True once the process is stopped (SIGSTOP is sent, not awaited: the state in /proc says when it took)."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except OSError:
        return True  # gone
    return stat.rpartition(")")[2].split()[0] in ("T", "t", "Z", "X")


def _signal_when(proc: subprocess.Popen[str], ready: Callable[[], bool], sig: int) -> tuple[str, str]:
    """Send ``sig`` at the first moment ``ready()`` holds. The process is stopped while ``ready()`` looks, so a
    fast command cannot finish between the look and the signal (the signal waits for SIGCONT, then lands)."""
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGSTOP)
        while not _stopped(proc):
            time.sleep(0.0005)
        hit = proc.poll() is None and ready()
        if hit:
            proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)
        if hit:
            return proc.communicate(timeout=300)
        time.sleep(0.002)
    if proc.poll() is None:
        proc.kill()
    _, err = proc.communicate(timeout=300)
    pytest.fail(f"the command ended (exit {proc.returncode}) before the moment to signal it came: {err[-500:]}")


def _writing(folder: Path) -> Callable[[], bool]:
    """True once a temporary output file in ``folder`` holds data."""
    def ready() -> bool:
        return any(p.name.endswith(".part") and p.stat().st_size > 0 for p in folder.iterdir())
    return ready


def _ours(tmpdir: Path) -> list[str]:
    """What is left in the temporary directory, less torch's own compile cache (made when timm imports torch)."""
    return sorted(name for name in os.listdir(tmpdir) if not name.startswith("torchinductor_"))


@pytest.mark.parametrize(("target", "extra", "sig"), [
    ("pytorch", [], signal.SIGTERM),
    ("onnx", [], signal.SIGTERM),
    ("onnx", ["--external-data"], signal.SIGTERM),
    ("timm", [], signal.SIGTERM),
    ("pytorch", [], signal.SIGHUP),
])
def test_convert_killed_while_writing_leaves_nothing(se_resnet50, tmp_path, target, extra, sig):
    prototxt, weights = se_resnet50
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = _start([sys.executable, "-m", "senet_proto", "convert", str(prototxt), str(weights), "--to", target,
                   *extra, "-o", str(out_dir / f"model.{target}")], tmp_path)
    _, err = _signal_when(proc, _writing(out_dir), sig)
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == "senet-proto: terminated" and "Traceback" not in err, err
    assert sorted(os.listdir(out_dir)) == [] and _ours(tmp_path / "tmpdir") == []


@pytest.mark.parametrize("how", ["cli", "cached_weights"])
def test_weights_killed_while_caffe_works_leaves_nothing(caffe_root, tmp_path, how):
    net = tmp_path / "tiny.prototxt"
    write_prototxt(small_se_net(), net)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cache = tmp_path / "cache"
    if how == "cli":
        args = [sys.executable, "-m", "senet_proto", "weights", str(net), "-o", str(out_dir / "w.caffemodel")]
    else:  # the library's weights cache, in a process of its own (no CLI)
        args = [sys.executable, "-c", "import sys; from senet_proto.reference import cached_weights; "
                "cached_weights(sys.argv[1])", str(net)]
    proc = _start(args, tmp_path, XDG_CACHE_HOME=str(cache), SENET_PROTO_CAFFE_ROOT=str(caffe_root))

    def jobs() -> list[Path]:
        return list((caffe_root / "tmp").glob(f"senet-proto-{proc.pid}-*"))

    _, err = _signal_when(proc, lambda: bool(jobs()), signal.SIGTERM)
    assert jobs() == [], "the Caffe job directory was left in the root"
    assert sorted(os.listdir(out_dir)) == [] and _ours(tmp_path / "tmpdir") == []
    if how == "cli":
        assert proc.returncode == 143 and err.strip().splitlines()[-1] == "senet-proto: terminated", err
    else:
        assert proc.returncode != 0 and "Terminated" in err, err
        entries = [p.name for p in (cache / "senet-proto" / "weights").iterdir() if not p.name.endswith("lock")]
        assert entries == [], f"the weights cache holds {entries}"
