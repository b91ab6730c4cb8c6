"""The Debian 11 root that holds a real Caffe 1.0 (python3-caffe, CPU).

Created on first use in a cache directory and reused: as root with ``debootstrap`` and entered with ``chroot``;
as any other user with ``mmdebstrap --mode=unshare`` (a tarball unpacked as that user) and entered with user and
mount namespaces (``unshare --map-root-user --mount``, the host's /dev bind-mounted, then ``chroot``).
Location: ``$SENET_PROTO_CAFFE_ROOT`` if set, else
``$XDG_CACHE_HOME/senet-proto/debian11-caffe`` (``~/.cache/...``).
The Debian mirror is read from this machine's apt configuration at run time
(``$SENET_PROTO_DEBIAN_MIRROR`` overrides it); no mirror host is written here.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CaffeReferenceError
from ..interrupts import terminate_as_exception

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


def mark_ready(root: Path) -> None:
    """Write the marker of a finished root: the suite and every package of PACKAGES (read by ``root_ready``)."""
    (root / MARKER).write_text(f"{SUITE} {' '.join(PACKAGES)}\n")


def root_ready(root: Path | None = None) -> bool:
    """A finished root whose marker lists every package of PACKAGES (an older root lacks the newer ones)."""
    root = root or root_path()
    return (root / "usr/bin/python3").exists() and set(PACKAGES) <= set(_marked_packages(root))


def _install_missing(root: Path) -> None:
    """Bring a finished root made with fewer PACKAGES up to date: apt-get inside it, then a new marker."""
    missing = [p for p in PACKAGES if p not in _marked_packages(root)]
    log.warning("adding %s to the Caffe reference root %s", " ".join(missing), root)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    apt = ["apt-get", "-o", "APT::Sandbox::User=root"]  # without root only one uid is mapped: no _apt user
    for cmd in ([*apt, "update"], [*apt, "install", "-y", "--no-install-recommends", *missing]):
        proc = _run([*enter_command(root), *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    env=env)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise CaffeReferenceError(f"cannot add {' '.join(missing)} to {root}: {' '.join(cmd)} "
                                      f"failed (exit {proc.returncode}): {tail}")
    mark_ready(root)


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


def _sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    return None


@functools.cache
def userns_problem() -> str | None:
    """Why an unprivileged user cannot enter the root here (None: ``unshare --map-root-user --mount`` works)."""
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare is not installed (util-linux: apt install util-linux)"
    try:
        proc = subprocess.run([exe, "--map-root-user", "--mount", "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare cannot run: {e}"
    if proc.returncode == 0:
        return None
    if _sysctl("kernel.unprivileged_userns_clone") == "0":
        return "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=0)"
    if _sysctl("user.max_user_namespaces") == "0":
        return "user namespaces are disabled (sysctl user.max_user_namespaces=0)"
    if _sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor restricts unprivileged user namespaces "
                "(sysctl kernel.apparmor_restrict_unprivileged_userns=1)")
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return f"user namespaces do not work here (unshare --map-root-user --mount: {tail[0]})"


def _subordinate_range(path: Path, user: str, uid: int) -> bool:
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            fields = line.strip().split(":")
            if len(fields) == 3 and fields[0] in (user, str(uid)) and fields[2].isdigit() and int(fields[2]) > 0:
                return True
    return False


def rootless_create_problem() -> str | None:
    """Why this (unprivileged) user cannot create the root here; None when mmdebstrap's unshare mode can."""
    if shutil.which("mmdebstrap") is None:
        return "mmdebstrap is not installed: apt install mmdebstrap uidmap"
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool) is None and not Path("/usr/bin", tool).exists():
            return f"{tool} is not installed: apt install uidmap"
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    for kind, path in (("uid", Path("/etc/subuid")), ("gid", Path("/etc/subgid"))):
        if not _subordinate_range(path, user, uid):
            return f"no subordinate {kind} range for user {user}: see {path} (usermod --add-sub{kind}s)"
    return userns_problem()


ENTER_SCRIPT = 'mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"'


def enter_command(root: Path) -> list[str]:
    """The command prefix that runs a program in ``root``: ``chroot`` as root; otherwise a user namespace that
    maps this user to root and a mount namespace holding the host's /dev (nothing needs privileges)."""
    if os.geteuid() == 0:
        return ["chroot", str(root)]
    problem = userns_problem()
    if problem:
        raise CaffeReferenceError(f"cannot enter the Caffe reference root {root} without root: {problem}")
    return ["unshare", "--map-root-user", "--mount", "sh", "-c", ENTER_SCRIPT, str(root)]


def _rmtree(path: Path) -> None:
    """Remove a tree, also where a directory was made read-only (unpacked as a user, a root keeps modes)."""

    def retry(func: Callable[[str], object], p: str, exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, ignore_errors=True)
            else:
                func(p)

    if path.exists() or path.is_symlink():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=retry)
        else:
            shutil.rmtree(path, onerror=retry)


def _stop(procs: Sequence[subprocess.Popen[Any]], grace: float = 120) -> None:
    """Stop children (each started in a process group of its own) as Ctrl-C stops a terminal's job: SIGTERM to
    the whole group (debootstrap then unmounts what it mounted), SIGKILL to the group after ``grace`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` in a process group of its own, stopped with ``_stop`` when this process is interrupted."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate()
    except BaseException:
        _stop([proc])
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _debootstrap(tmp: Path, mirror: str) -> None:
    exe = _ensure_debootstrap()
    cmd = [exe, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), mirror]
    proc = _run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
        raise CaffeReferenceError(f"debootstrap failed (exit {proc.returncode}): {tail}")


def _remove_mmdebstrap_work(work: Path) -> None:
    """Remove mmdebstrap's working directory. What its namespace made belongs to this user's subordinate ids:
    only a process in such a namespace (``mmdebstrap --unshare-helper``) can remove that."""
    shutil.rmtree(work, ignore_errors=True)
    if work.exists():
        leftovers = [str(p) for p in work.iterdir()]
        if leftovers:
            subprocess.run(["mmdebstrap", "--unshare-helper", "rm", "-rf", *leftovers], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _mmdebstrap(tmp: Path, mirror: str) -> None:
    """mmdebstrap in unshare mode writes the root as a tarball to a pipe; tar unpacks it as this user (device
    nodes left out: the host's /dev is bind-mounted when the root is entered).

    mmdebstrap works in a directory of ours: when it is stopped, its namespace's first process may ignore
    SIGTERM (it is the init of a PID namespace, without a handler) and go on, so after a short grace period it
    is killed and its directory removed here."""
    tmp.mkdir()
    work = Path(tempfile.mkdtemp(prefix="senet-proto-mmdebstrap-"))
    work.chmod(0o1777)  # like /tmp: the namespace's root (a subordinate id) makes its directory here
    cmd = ["mmdebstrap", "--mode=unshare", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, "-", mirror]
    try:
        with tempfile.TemporaryFile() as log_file:
            maker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, start_new_session=True,
                                     env={**os.environ, "TMPDIR": str(work)})
            assert maker.stdout is not None
            unpack = subprocess.Popen(["tar", "-x", "-C", str(tmp), "--no-same-owner", "--exclude=./dev/*"],
                                      stdin=maker.stdout, stderr=subprocess.PIPE, start_new_session=True)
            maker.stdout.close()
            try:
                _, tar_err = unpack.communicate()
                maker.wait()
            except BaseException:
                _stop([maker, unpack], grace=20)
                raise
            log_file.seek(0)
            text = log_file.read().decode(errors="replace")
    finally:
        _remove_mmdebstrap_work(work)
    if maker.returncode != 0:
        tail = " | ".join(text.strip().splitlines()[-3:])
        raise CaffeReferenceError(f"mmdebstrap failed (exit {maker.returncode}): {tail}")
    if unpack.returncode != 0:
        raise CaffeReferenceError(f"unpacking mmdebstrap's root failed: {tar_err.decode(errors='replace')[-300:]}")
    (tmp / "dev").mkdir(exist_ok=True)


def ensure_root(root: Path | None = None) -> Path:
    """Return a ready Debian 11 root with Caffe, creating it (about 1.5 min, 1 GB) on first use.

    As root: debootstrap. Otherwise: mmdebstrap in unshare mode, when this machine allows it (else one line
    says what is missing). Interrupted (Ctrl-C, SIGTERM, SIGHUP), it leaves no half-made root behind."""
    root = root or root_path()
    if root_ready(root):
        return root
    rootless = os.geteuid() != 0
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as lock, terminate_as_exception():
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root_ready(root):
            return root
        if (root / MARKER).is_file() and (root / "usr/bin/python3").exists():
            _install_missing(root)  # needs only to enter the root (enter_command says what is missing)
            return root
        problem = rootless_create_problem() if rootless else None
        if problem:
            raise CaffeReferenceError(
                f"the Caffe reference root {root} does not exist and cannot be made without root here: {problem} "
                "(or run once as root, or set SENET_PROTO_CAFFE_ROOT to an existing root)")
        mirror = debian_mirror()
        tmp = root.parent / f".{root.name}.partial"
        _rmtree(tmp)
        how = "mmdebstrap --mode=unshare, without root" if rootless else "debootstrap"
        log.warning("creating the Caffe reference root %s (Debian 11, python3-caffe, %s; about 1.5 min)", root, how)
        t0 = time.monotonic()
        try:
            (_mmdebstrap if rootless else _debootstrap)(tmp, mirror)
            check = _run([*enter_command(tmp), "python3", "-c", "import caffe"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
            if check.returncode != 0:
                raise CaffeReferenceError(f"the new root cannot import caffe: {check.stderr.strip()[-300:]}")
            mark_ready(tmp)
            _rmtree(root)
            tmp.rename(root)
        except BaseException:
            _rmtree(tmp)
            raise
        log.warning("Caffe reference root ready in %.0f s", time.monotonic() - t0)
    return root
