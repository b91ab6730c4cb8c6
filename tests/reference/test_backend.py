"""Choosing where Caffe runs (an importable caffe or the Debian 11 root)."""

from __future__ import annotations

import pytest

from senet_proto.errors import CaffeReferenceError
from senet_proto.reference import backend


def test_backend_choice_must_be_known(monkeypatch):
    monkeypatch.setenv("SENET_PROTO_CAFFE_BACKEND", "gpu-please")
    with pytest.raises(CaffeReferenceError, match="'host' or 'root'"):
        backend.get_backend()


def test_forcing_the_host_backend_needs_an_importable_caffe(monkeypatch):
    monkeypatch.setenv("SENET_PROTO_CAFFE_BACKEND", "host")
    if backend.host_caffe_available():  # a user's own Caffe: then it is used
        assert backend.get_backend().kind == "host"
    else:
        with pytest.raises(CaffeReferenceError, match="cannot import caffe"):
            backend.get_backend()


def test_the_root_backend_runs_jobs_inside_the_root(caffe_root, monkeypatch):
    monkeypatch.setenv("SENET_PROTO_CAFFE_BACKEND", "root")
    b = backend.get_backend()
    assert b.kind == "root" and b.root == caffe_root
    with backend.job_dir(b) as job:
        assert job.path.is_relative_to(caffe_root / "tmp")
        assert job.inner.startswith("/tmp/senet-proto-")
        assert (job.path / "runner.py").is_file() and (job.path / "senet_axpy.py").is_file()
        kept = job.path
    assert not kept.exists()  # the temporary directory is cleaned up


def test_the_root_holds_every_package_and_caffe_uses_openblas(caffe_root):
    """The reference's float32 rounding depends on its BLAS: the root must have the one PACKAGES names."""
    import subprocess

    from senet_proto.reference.root import PACKAGES, enter_command

    status = subprocess.run([*enter_command(caffe_root), "dpkg-query", "-W", "-f", "${Package} ${Status}\n",
                             *PACKAGES], capture_output=True, text=True)
    installed = {line.split()[0] for line in status.stdout.splitlines() if line.endswith("install ok installed")}
    assert installed == set(PACKAGES), status.stdout + status.stderr
    blas = subprocess.run([*enter_command(caffe_root), "update-alternatives", "--query",
                           "libblas.so.3-x86_64-linux-gnu"], capture_output=True, text=True).stdout
    assert "Value: /usr/lib/x86_64-linux-gnu/openblas" in blas, blas


def test_the_docker_caffe_stage_installs_the_roots_packages():
    """docker/Dockerfile's Caffe root must be the root debootstrap makes: the same packages."""
    import re
    from pathlib import Path

    from senet_proto.reference.root import PACKAGES

    dockerfile = (Path(__file__).resolve().parents[2] / "docker" / "Dockerfile").read_text()
    stage = dockerfile.split("AS caffe", 1)[1].split("\nFROM ", 1)[0]
    m = re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", stage)
    assert m, stage
    assert m.group(1).split() == list(PACKAGES)


def test_a_root_whose_marker_lacks_a_package_is_not_ready(tmp_path):
    """Roots made before a package joined PACKAGES get it added (ensure_root), so they must not count as ready."""
    from senet_proto.reference.root import MARKER, PACKAGES, SUITE, root_ready

    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/python3").write_text("")
    assert not root_ready(tmp_path)
    (tmp_path / MARKER).write_text(f"{SUITE} {' '.join(PACKAGES[:-1])}\n")
    assert not root_ready(tmp_path)
    (tmp_path / MARKER).write_text(f"{SUITE} {' '.join(PACKAGES)}\n")
    assert root_ready(tmp_path)
