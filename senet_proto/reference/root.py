"""The Debian 11 root that holds a real Caffe 1.0 (python3-caffe, CPU).

Created on first use with ``debootstrap`` in a cache directory and reused.
Location: ``$SENET_PROTO_CAFFE_ROOT`` if set, else
``$XDG_CACHE_HOME/senet-proto/debian11-caffe`` (``~/.cache/...``).
The Debian mirror is read from this machine's apt configuration at run time
(``$SENET_PROTO_DEBIAN_MIRROR`` overrides it); no mirror host is written here.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import CaffeReferenceError

log = logging.getLogger("senet_proto.reference")

SUITE = "bullseye"
# The BLAS is named: Caffe's float32 rounding depends on it (a deep net's scores move by ~1e-4 of their range
# between OpenBLAS and the reference BLAS), and debootstrap and apt would pick different ones on their own.
# ``caffe`` ships the command-line tools (``caffe train``, ``convert_imageset``) of the same Caffe build.
PACKAGES = ("python3-caffe", "python3-numpy", "libopenblas0-pthread", "caffe")
MARKER = ".senet-proto-root-ok"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "senet-proto"


def root_path() -> Path:
    env = os.environ.get("SENET_PROTO_CAFFE_ROOT")
    return Path(env) if env else cache_dir() / "debian11-caffe"


def _marked_packages(root: Path) -> list[str]:
    """The packages the root's marker says were installed (after the suite name); none without a marker."""
    try:
        return (root / MARKER).read_text().split()[1:]
    except OSError:
        return []


def root_ready(root: Path | None = None) -> bool:
    """A finished root whose marker lists every package of PACKAGES (an older root lacks the newer ones)."""
    root = root or root_path()
    return (root / "usr/bin/python3").exists() and set(PACKAGES) <= set(_marked_packages(root))


def _install_missing(root: Path) -> None:
    """Bring a finished root made with fewer PACKAGES up to date: apt-get inside it, then a new marker."""
    missing = [p for p in PACKAGES if p not in _marked_packages(root)]
    log.warning("adding %s to the Caffe reference root %s", " ".join(missing), root)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
        proc = subprocess.run(["chroot", str(root), *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise CaffeReferenceError(f"cannot add {' '.join(missing)} to {root}: {' '.join(cmd)} "
                                      f"failed (exit {proc.returncode}): {tail}")
    (root / MARKER).write_text(f"{SUITE} {' '.join(PACKAGES)}\n")


def _apt_sources() -> list[str]:
    texts: list[str] = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.is_file() and (p.suffix in (".list", ".sources") or p.name == "sources.list"):
            with contextlib.suppress(OSError):
                texts.append(p.read_text())
    return texts


def debian_mirror() -> str:
    """The Debian archive URI this machine's apt uses (not the security archive)."""
    env = os.environ.get("SENET_PROTO_DEBIAN_MIRROR")
    if env:
        return env
    candidates: list[str] = []
    for text in _apt_sources():
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", line)
            if m:
                candidates.append(m.group(1))
            m = re.match(r"^URIs:\s*(.+)$", line)
            if m:
                candidates.extend(m.group(1).split())
    for uri in candidates:
        if "security" not in uri and uri.rstrip("/").endswith("/debian"):
            return uri
    for uri in candidates:
        if "security" not in uri:
            return uri
    raise CaffeReferenceError(
        "cannot find a Debian mirror in /etc/apt (set SENET_PROTO_DEBIAN_MIRROR to one)"
    )


def _ensure_debootstrap() -> str:
    exe = shutil.which("debootstrap") or ("/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
    if exe:
        return exe
    raise CaffeReferenceError("debootstrap is not installed (on Debian/Ubuntu: apt-get install debootstrap)")


def ensure_root(root: Path | None = None) -> Path:
    """Return a ready Debian 11 root with Caffe, creating it (about 1.5 min, 1 GB) on first use."""
    root = root or root_path()
    if root_ready(root):
        return root
    if os.geteuid() != 0:
        raise CaffeReferenceError(
            f"the Caffe reference root {root} does not exist or lacks packages ({', '.join(PACKAGES)}), "
            "and creating or completing it needs root "
            "(debootstrap and chroot); run once as root or set SENET_PROTO_CAFFE_ROOT to an existing root"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root_ready(root):
            return root
        if (root / MARKER).is_file() and (root / "usr/bin/python3").exists():
            _install_missing(root)
            return root
        exe = _ensure_debootstrap()
        mirror = debian_mirror()
        tmp = root.parent / f".{root.name}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        log.warning("creating the Caffe reference root %s (Debian 11, python3-caffe; about 1.5 min)", root)
        t0 = time.monotonic()
        cmd = [exe, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), mirror]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            shutil.rmtree(tmp, ignore_errors=True)
            raise CaffeReferenceError(f"debootstrap failed (exit {proc.returncode}): {tail}")
        check = subprocess.run(["chroot", str(tmp), "python3", "-c", "import caffe"], capture_output=True, text=True)
        if check.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CaffeReferenceError(f"the new root cannot import caffe: {check.stderr.strip()[-300:]}")
        (tmp / MARKER).write_text(f"{SUITE} {' '.join(PACKAGES)}\n")
        if root.exists():
            shutil.rmtree(root)
        tmp.rename(root)
        log.warning("Caffe reference root ready in %.0f s", time.monotonic() - t0)
    return root
