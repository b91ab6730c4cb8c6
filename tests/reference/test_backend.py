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
