"""Netron serves the net on 127.0.0.1 only, from a private copy, and stops cleanly."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from senet_proto.errors import UsageError
from senet_proto.view.netron_server import serve

TEXT = b'name: "tiny"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_serves_page_and_net_on_loopback_then_stops() -> None:
    server = serve("tiny.prototxt", TEXT)
    try:
        host, port = server.address
        assert host == "127.0.0.1" and server.url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(server.url, timeout=10) as r:
            page = r.read().decode()
            assert r.headers["Set-Cookie"].startswith("consent=")
        assert '<meta name="file" content="/data/tiny.prototxt">' in page
        assert '<meta name="version" content="0.0.0">' in page  # Netron starts no telemetry for 0.0.0
        assert '<meta name="date"' not in page
        assert _get(server.url + "data/tiny.prototxt") == TEXT
        assert len(_get(server.url + "view.js")) > 10000
        # nothing else on disk is served
        for path in ("data/../../etc/passwd", "server.py", "..%2f..%2fetc%2fpasswd", "data/other.prototxt",
                     "%2e%2e/%2e%2e/etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as e:
                _get(server.url + path)
            assert e.value.code == 404
        ip = _non_loopback_ip()
        if ip is not None:
            with pytest.raises(OSError), socket.create_connection((ip, port), timeout=2):
                pass
    finally:
        server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    server.stop()  # idempotent


def test_busy_port_is_a_usage_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} .*in use"):
            serve("tiny.prototxt", TEXT, port=port)
