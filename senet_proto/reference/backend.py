"""Where Caffe runs and how a job gets there: always in a subprocess.

A ``caffe`` importable by the current Python (checked in a subprocess, never
imported here: Caffe's generated caffe_pb2 registers ``caffe.proto`` in
protobuf's default pool and would clash with ours) is used when there is one;
otherwise the Debian 11 root (``root.ensure_root``), entered with ``root.enter_command`` (``chroot`` as root,
user and mount namespaces otherwise).
``$SENET_PROTO_CAFFE_BACKEND`` = ``host`` or ``root`` forces a choice.

A job is a temporary directory (inside the root for the root backend) holding
``job.json``, the small stand-alone scripts from ``inroot/`` and the data files;
``inroot/runner.py`` runs there and leaves its results beside them. Job directories are named
``senet-proto-PID-*`` and removed when the job ends, also on Ctrl-C, SIGTERM and SIGHUP.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import CaffeReferenceError
from ..interrupts import signals_held, terminate_as_exception
from . import root as rootmod

INROOT_FILES = ("runner.py", "senet_axpy.py")
ERROR_EXIT = 3


@dataclass(frozen=True)
class Backend:
    kind: str  # "host" or "root"
    root: Path | None  # the chroot for kind == "root"

    def describe(self) -> str:
        if self.kind == "host":
            return f"Caffe importable by {sys.executable}"
        assert self.root is not None
        version = _dpkg_version(self.root, "python3-caffe") or "unknown version"
        return f"Caffe {version} (Debian 11 python3-caffe, CPU) in the root {self.root}"


def _dpkg_version(root: Path, package: str) -> str | None:
    try:
        text = (root / "var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return None
    for block in text.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", block, re.M):
            m = re.search(r"^Version: (\S+)$", block, re.M)
            return m.group(1) if m else None
    return None


@functools.cache
def host_caffe_available() -> bool:
    try:
        proc = subprocess.run([sys.executable, "-c", "import caffe"], capture_output=True, timeout=120,
                              env={**os.environ, "GLOG_minloglevel": "2"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def get_backend() -> Backend:
    choice = os.environ.get("SENET_PROTO_CAFFE_BACKEND", "").strip().lower()
    if choice not in ("", "host", "root"):
        raise CaffeReferenceError(f"SENET_PROTO_CAFFE_BACKEND must be 'host' or 'root', not {choice!r}")
    if choice == "host" or (choice == "" and host_caffe_available()):
        if choice == "host" and not host_caffe_available():
            raise CaffeReferenceError(f"SENET_PROTO_CAFFE_BACKEND=host but {sys.executable} cannot import caffe")
        return Backend("host", None)
    return Backend("root", rootmod.ensure_root())


def backend_info() -> str:
    """Which Caffe runs the reference (creating the Debian 11 root if it is needed and missing)."""
    return get_backend().describe()


class Job:
    """A job directory: ``path`` as seen here, ``inner`` as seen by the Python that runs Caffe."""

    def __init__(self, backend: Backend, path: Path) -> None:
        self.backend = backend
        self.path = path
        if backend.kind == "root":
            assert backend.root is not None
            self.inner = "/" + str(path.relative_to(backend.root))
        else:
            self.inner = str(path)

    def add_file(self, name: str, source: Path) -> None:
        """Put ``source`` into the job as ``name`` (a hard link when possible; a copy otherwise)."""
        dest = self.path / name
        try:
            os.link(source, dest)
        except OSError:
            shutil.copyfile(source, dest)

    def _entered(self, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command prefix and environment that run a program for this job: in the root (entered as this
        user can, ``root.enter_command``) with a clean environment, or on this host with ours plus ``env``."""
        if self.backend.kind != "root":
            return [], {**os.environ, **env}
        assert self.backend.root is not None
        env = {**env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
        for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            if key in os.environ:
                env[key] = os.environ[key]
        return rootmod.enter_command(self.backend.root), env

    def run(self, job: dict[str, Any], on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        (self.path / "job.json").write_text(json.dumps(job))
        extra = os.environ.get("PYTHONPATH") if self.backend.kind != "root" else None
        prefix, env = self._entered({
            "GLOG_minloglevel": "2",
            "PYTHONPATH": self.inner + (os.pathsep + extra if extra else ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
        })
        python = "python3" if self.backend.kind == "root" else sys.executable
        cmd = [*prefix, python, f"{self.inner}/runner.py", self.inner]
        stderr_path = self.path / "stderr.txt"
        with open(stderr_path, "wb") as err:
            try:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
            except OSError as e:
                raise CaffeReferenceError(f"cannot start Caffe ({cmd[0]}): {e.strerror}") from None
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    m = re.match(r"@@progress (\d+) (\d+)", line)
                    if m and on_progress is not None:
                        on_progress(int(m.group(1)), int(m.group(2)))
                rc = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        if rc != 0:
            raise CaffeReferenceError(self._failure(rc, stderr_path.read_text(errors="replace")))
        result = self.path / "result.json"
        if not result.exists():
            raise CaffeReferenceError("Caffe finished without writing its result")
        data: dict[str, Any] = json.loads(result.read_text())
        return data

    def tool(self, argv: list[str], cwd: str = ".") -> str:
        """Run one of Caffe's command-line tools (``caffe train --solver ...``) in folder ``cwd`` of the job
        (Caffe resolves the files' relative paths from there); return its log."""
        prefix, env = self._entered({"GLOG_logtostderr": "1"})
        cmd = [*prefix, "env", "-C", f"{self.inner}/{cwd}", *argv]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        except OSError as e:
            raise CaffeReferenceError(f"cannot start {argv[0]}: {e.strerror}") from None
        if proc.returncode != 0:
            raise CaffeReferenceError(self._failure(proc.returncode, proc.stdout).replace("Caffe", argv[0], 1))
        return proc.stdout

    def _failure(self, rc: int, stderr: str) -> str:
        err = self.path / "error.txt"
        if rc == ERROR_EXIT and err.exists():
            return f"Caffe failed: {caffe_message(stderr) or err.read_text().strip()}"
        msg = caffe_message(stderr)
        if msg:
            return f"Caffe failed: {msg}"
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
        return f"Caffe {how}" + (f": {tail}" if tail else "")


_GLOG = re.compile(r"^[FE]\d{4} [\d:.]+\s+\d+ ([\w.]+:\d+)\] (.*)$")


def caffe_message(stderr: str) -> str | None:
    """The fatal glog line of Caffe's log (``Check failed: ...``), as ``message (file.cpp:123)``."""
    fatal = None
    error = None
    for line in stderr.splitlines():
        m = _GLOG.match(line.strip())
        if m:
            text = f"{m.group(2).strip()} ({m.group(1)})"
            if line.lstrip().startswith("F"):
                fatal = fatal or text
            else:
                error = text
    return fatal or error


@contextlib.contextmanager
def job_dir(backend: Backend | None = None) -> Iterator[Job]:
    """A fresh job directory with the in-root scripts; removed afterwards."""
    backend = backend or get_backend()
    if backend.kind == "root":
        assert backend.root is not None
        base = backend.root / "tmp"
        base.mkdir(exist_ok=True)
    else:
        base = Path(tempfile.gettempdir())
    with terminate_as_exception():
        path: Path | None = None
        try:
            with signals_held():  # a signal right after mkdtemp would leave the directory unnoted
                path = Path(tempfile.mkdtemp(prefix=f"senet-proto-{os.getpid()}-", dir=base))
            pkg = resources.files("senet_proto.reference") / "inroot"
            for name in INROOT_FILES:
                (path / name).write_bytes((pkg / name).read_bytes())
            yield Job(backend, path)
        finally:
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
