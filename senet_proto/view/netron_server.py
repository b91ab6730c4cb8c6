"""Serve a net with Netron's web app (the ``netron`` package ships it) on 127.0.0.1 only.

Our own small HTTP server, not ``netron.serve``: it answers only Netron's static files and the one net
(``/data/NAME``), never other files on disk, and it runs Netron offline and private:

- the page gets ``version 0.0.0``, which Netron reads as "not a released package" and so starts no
  usage telemetry (Google Analytics);
- with no telemetry there is nothing to consent to: a ``consent`` cookie is set so that Netron neither
  shows its cookie dialog nor looks up the visitor's country at ipinfo.io;
- the build ``date`` is left out, so Netron's "please update" lock (180 days after its build) never
  blocks a local viewer.
"""

from __future__ import annotations

import errno
import logging
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import SenetProtoError, UsageError
from ..optional import import_optional

HOST = "127.0.0.1"
log = logging.getLogger("senet_proto.view")

MIME = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
    ".ico": "image/x-icon", ".json": "application/json", ".svg": "image/svg+xml", ".woff": "font/woff",
    ".woff2": "font/woff2", ".ttf": "font/ttf",
}


def netron_dir() -> Path:
    netron = import_optional("netron", what="view --netron")
    folder = Path(str(netron.__file__)).resolve().parent
    if not (folder / "index.html").is_file():
        raise SenetProtoError(f"the netron package at {folder} has no index.html (a broken install?)")
    return folder


def _index(folder: Path, name: str) -> bytes:
    page = (folder / "index.html").read_text(encoding="utf-8")
    page = re.sub(r'<meta name="date" content="[^"]*">\s*', "", page)
    meta = "\n".join([
        '<meta name="type" content="Python">',
        '<meta name="version" content="0.0.0">',
        f'<meta name="file" content="/data/{escape(urllib.parse.quote(name))}">',
        f'<meta name="name" content="{escape(name)}">',
        f'<meta name="identifier" content="{escape(name)}">',
    ])
    page, n = re.subn(r'<meta name="version" content="[^"]*">', lambda _: meta, page, count=1)
    if n != 1:
        raise SenetProtoError("this netron version's index.html has no version meta tag; cannot serve it")
    return page.encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        srv = self.server
        path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
        body: bytes | None = None
        ctype = "application/octet-stream"
        cookie = False
        if path in ("/", "/index.html"):
            body, ctype, cookie = srv.index, MIME[".html"], True
        elif path == f"/data/{srv.name}":
            body = srv.data
        elif not path.startswith("/data/"):
            rel = path.lstrip("/")
            target = (srv.folder / rel).resolve()
            if target.parent == srv.folder and target.suffix in MIME and target.is_file():
                body, ctype = target.read_bytes(), MIME[target.suffix]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if cookie:
            self.send_header("Set-Cookie", f"consent={int(time.time() * 1000)}; Path=/; SameSite=Strict")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("netron: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], folder: Path, name: str, data: bytes) -> None:
        self.folder = folder
        self.name = name
        self.data = data
        self.index = _index(folder, name)
        super().__init__(address, _Handler)


@dataclass
class NetronServer:
    url: str
    address: tuple[str, int]
    _server: _Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        """Stop serving; the port is closed when this returns (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> NetronServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(name: str, data: bytes, port: int = 0, browse: bool = False) -> NetronServer:
    """Serve ``data`` (a .prototxt or .caffemodel called ``name``) with Netron at http://127.0.0.1:PORT/.

    ``port`` 0 picks a free port. The server runs in a daemon thread until ``stop()``.
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is out of range (0-65535)")
    name = Path(name).name or "net.prototxt"
    folder = netron_dir()
    try:
        server = _Server((HOST, port), folder, name, data)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {HOST} is already in use (choose another with --port)") from None
        raise SenetProtoError(f"cannot listen on {HOST}:{port}: {e.strerror or e}") from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="senet-proto-netron")
    thread.start()
    real_port = int(server.server_address[1])
    url = f"http://{HOST}:{real_port}/"
    log.info("Netron serves %s at %s", name, url)
    if browse:
        import webbrowser

        try:
            webbrowser.open(url)
        except Exception as e:  # a missing browser must not stop the server
            log.warning("cannot open a browser: %s", e)
    return NetronServer(url=url, address=(HOST, real_port), _server=server, _thread=thread)
