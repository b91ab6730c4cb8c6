"""Serve a net with Netron (the ``netron`` package, which ships its web app) on 127.0.0.1 only.

The prototxt is copied into a fresh temporary folder and served from there, so Netron's file server
(which answers any file beside the served one) sees nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SenetProtoError, UsageError

HOST = "127.0.0.1"
log = logging.getLogger("senet_proto.view")


@dataclass
class NetronServer:
    url: str
    address: tuple[str, int]
    folder: Path
    file: Path
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop serving and delete the temporary copy (idempotent)."""
        if self._stopped:
            return
        import netron

        netron.stop(self.address)
        deadline = time.monotonic() + 5
        while netron.status(self.address) and time.monotonic() < deadline:  # its thread polls every 0.25 s
            time.sleep(0.05)
        shutil.rmtree(self.folder, ignore_errors=True)
        self._stopped = True

    def __enter__(self) -> NetronServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _quiet_netron() -> None:
    # netron.serve() calls logging.basicConfig() when the root logger has no handler; keep its INFO lines out.
    root = logging.getLogger()
    if not root.hasHandlers():
        root.addHandler(logging.NullHandler())
    logging.getLogger("netron").setLevel(logging.WARNING)
    logging.getLogger("netron.server").setLevel(logging.WARNING)


def serve(name: str, data: bytes, port: int = 0, browse: bool = False) -> NetronServer:
    """Serve ``data`` (a .prototxt or .caffemodel named ``name``) with Netron at http://127.0.0.1:PORT/.

    ``port`` 0 picks a free port. The server runs in a daemon thread until ``stop()``.
    """
    try:
        import netron
    except ImportError:
        raise SenetProtoError("Netron is not installed: pip install 'senet-proto[view]' (or pip install netron)") \
            from None
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range (0-65535)")
    _quiet_netron()
    folder = Path(tempfile.mkdtemp(prefix="senet-proto-netron-"))
    path = folder / Path(name).name
    path.write_bytes(data)
    try:
        address = netron.serve(str(path), None, (HOST, port), browse=False)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {HOST} is already in use (choose another with --port)") from None
        raise SenetProtoError(f"cannot start Netron on {HOST}:{port}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    url = f"http://{address[0]}:{address[1]}/"
    log.info("Netron serves %s at %s", path.name, url)
    server = NetronServer(url=url, address=(address[0], int(address[1])), folder=folder, file=path)
    if browse:
        import webbrowser

        with contextlib.suppress(Exception):
            webbrowser.open(url)
    return server
