"""The Caffe reference root made and used by a user without privileges (mmdebstrap --mode=unshare, then user and
mount namespaces), as on a laptop or a shared server: a Caffe forward and ``senet-proto weights`` in it. A first
attempt, stopped with SIGTERM while mmdebstrap installs packages, must leave no half-made root behind.

Where the tests run as root, a throwaway user with a subordinate id range does it. The root (about 1 GB, about
1 min) goes to a temporary directory removed afterwards; the shared root is not touched.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bare_env import link_base_install

from senet_proto.caffe import caffe_pb2, write_prototxt

pytestmark = [pytest.mark.slow, pytest.mark.caffe]

SCRIPT = """
import json, sys
import numpy as np
from senet_proto.caffe import read_prototxt
from senet_proto.reference import backend_info, forward
from senet_proto.reference.backend import job_dir
from senet_proto.reference.root import ensure_root
root = ensure_root()
x = np.load(sys.argv[2])
y = forward(read_prototxt(sys.argv[1]), inputs=x)["y"]
np.save(sys.argv[3], y)
with job_dir() as job:  # Caffe's command-line tools (caffe train in the training tests), entered the same way
    tool = job.tool(["caffe", "--version"])
print(json.dumps({"root": str(root), "backend": backend_info(), "tool": tool}))
"""


def _power_net() -> caffe_pb2.NetParameter:
    """y = (1 + 2x)^2, computed by Caffe's Power layer."""
    net = caffe_pb2.NetParameter()
    net.name = "power"
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add().dim.extend([2, 3, 4, 4])
    power = net.layer.add(name="y", type="Power", bottom=["data"], top=["y"])
    power.power_param.power, power.power_param.scale, power.power_param.shift = 2.0, 2.0, 1.0
    return net


def _runnable_python(run_as: list[str]) -> str:
    """A Python of our version that ``run_as`` can execute (ours may live in a private home directory)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if candidate and subprocess.run([*run_as, candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    pytest.fail(f"no {version} that an unprivileged user can run (ours is {sys.executable})", pytrace=False)


@pytest.fixture
def unprivileged(tmp_path_factory) -> Iterator[tuple[list[str], Path]]:
    """(command prefix that runs as an unprivileged user, a directory of that user's, removed afterwards)."""
    if os.environ.get("SENET_PROTO_SKIP_CAFFE") == "1":
        pytest.skip("real-Caffe tests skipped: SENET_PROTO_SKIP_CAFFE=1 was set by the user")
    if os.geteuid() != 0:
        work = Path(tempfile.mkdtemp(prefix="senet-proto-rootless-"))
        yield [], work
        shutil.rmtree(work, ignore_errors=True)
        return
    user = f"sp{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh",
                    "--user-group", user], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="senet-proto-rootless-"))
    try:
        pw = pwd.getpwnam(user)
        for kind in ("uid", "gid"):  # useradd gives a range where login.defs says so; make sure
            if user not in Path(f"/etc/sub{kind}").read_text():
                subprocess.run(["usermod", f"--add-sub{kind}s", "3000000000-3000065535", user], check=True)
        os.chown(work, pw.pw_uid, pw.pw_gid)
        yield ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"], work
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
        subprocess.run(["userdel", user], check=False, capture_output=True)
        for kind in ("uid", "gid"):  # userdel of older shadow versions leaves the ranges
            path = Path(f"/etc/sub{kind}")
            lines = path.read_text().splitlines(keepends=True)
            if any(line.startswith(f"{user}:") for line in lines):
                path.write_text("".join(line for line in lines if not line.startswith(f"{user}:")))


PROBE = """
import json
from senet_proto.reference.root import rootless_create_problem, userns_problem
print(json.dumps([userns_problem(), rootless_create_problem()]))
"""


def test_an_unprivileged_user_creates_the_root_and_runs_caffe(unprivileged):
    run_as, work = unprivileged
    site = work / "site"
    site.mkdir()
    link_base_install(site, copy=True)  # the user may not reach this checkout (a private clone) or our venv
    python = _runnable_python(run_as)
    subprocess.run(["chown", "-R", f"{work.stat().st_uid}:{work.stat().st_gid}", str(site)], check=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(work), "XDG_CACHE_HOME": str(work / "cache"),
           "SENET_PROTO_CAFFE_ROOT": str(work / "root"), "PYTHONPATH": str(site), "LANG": "C.UTF-8"}
    for key in ("SENET_PROTO_DEBIAN_MIRROR", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if key in os.environ:
            env[key] = os.environ[key]
    probe = subprocess.run([*run_as, python, "-c", PROBE], capture_output=True, text=True, env=env, cwd=work)
    assert probe.returncode == 0, probe.stderr[-2000:]
    enter, create = json.loads(probe.stdout)
    if enter and "not installed" not in enter:
        pytest.skip(f"user namespaces are not available to unprivileged users on this machine: {enter}")
    assert create is None, create  # e.g. mmdebstrap missing: scripts/test.sh installs it
    net = work / "power.prototxt"
    write_prototxt(_power_net(), net)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    np.save(work / "x.npy", x)
    (work / "tmpdir").mkdir()
    for path in (net, work / "x.npy", work / "tmpdir"):
        os.chown(path, work.stat().st_uid, work.stat().st_gid, follow_symlinks=False)
    # where mmdebstrap keeps its work: like /tmp, reachable by the namespace's subordinate ids
    work.chmod(0o755)
    (work / "tmpdir").chmod(0o1777)
    env["TMPDIR"] = str(work / "tmpdir")

    # SIGTERM while mmdebstrap installs packages: no half-made root, no mmdebstrap directory, no process left
    stopped = subprocess.Popen([*run_as, python, "-c", "from senet_proto.reference.root import ensure_root; "
                                "ensure_root()"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=work)
    deadline = time.monotonic() + 900
    while stopped.poll() is None and time.monotonic() < deadline and not any(
            (d / "var/lib/dpkg").is_dir() for d in (work / "tmpdir").glob("*/mmdebstrap.*")):
        time.sleep(0.5)
    assert stopped.poll() is None, f"creating the root ended before it could be stopped: {stopped.stderr.read()}"
    stopped.send_signal(signal.SIGTERM)
    _, err = stopped.communicate(timeout=300)
    assert stopped.returncode != 0 and "Terminated" in err, err
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".root")) == [".root.lock"]
    assert list((work / "tmpdir").iterdir()) == [], err

    proc = subprocess.run([*run_as, python, "-c", SCRIPT, str(net), str(work / "x.npy"), str(work / "y.npy")],
                          capture_output=True, text=True, env=env, cwd=work, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["root"] == str(work / "root") and str(work / "root") in info["backend"]
    assert "caffe version 1.0.0" in info["tool"]
    assert (work / "root" / "usr/bin/python3").stat().st_uid == work.stat().st_uid  # made by that user
    np.testing.assert_allclose(np.load(work / "y.npy"), (1 + 2 * x) ** 2, rtol=1e-6, atol=1e-6)
    # the README's command, as that user
    out = work / "w.caffemodel"
    cli = subprocess.run([*run_as, python, "-m", "senet_proto", "weights", str(net), "-o", str(out)],
                         capture_output=True, text=True, env=env, cwd=work, timeout=600)
    assert cli.returncode == 0 and out.stat().st_size > 0, cli.stderr[-2000:]
