"""`senet-proto view`: Netscope editor files, clipboard, gists (fake API), Netron (served, then Ctrl-C)."""

from __future__ import annotations

import json
import socket
import stat
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cli_view_helpers import official, one_error_line, run

from senet_proto.caffe import parse_prototxt, read_prototxt
from senet_proto.view.netscope import check_netscope_safe

UNSAFE_GRAPH = ('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
                'layer { name: "a" type: "ReLU" bottom: "data" top: "x" }\n'
                'layer { name: "a" type: "Sigmoid" bottom: "x" top: "y" }\n')


def test_netscope_writes_file_and_prints_the_two_steps(tmp_path: Path) -> None:
    out = tmp_path / "r50.prototxt"
    r = run("view", official("SE-ResNet-50"), "--netscope", "-o", str(out), "--no-clipboard")
    assert r.exit_code == 0, r.output
    assert out.read_text() == Path(official("SE-ResNet-50")).read_text()  # a safe file is sent as written
    assert "https://ethereon.github.io/netscope/#/editor" in r.stdout
    assert "Shift+Enter" in r.stdout and str(out) in r.stdout


def test_netscope_reprints_text_netscope_cannot_parse(tmp_path: Path) -> None:
    src = tmp_path / "odd.prototxt"
    src.write_bytes(b"\xef\xbb\xbf" + b'name: "odd";\nlayer { name: "data" type: "Input" top: "data" '
                    b'input_param { shape { dim: 1, dim: 3 } } }\n'
                    b'layer { name: "d" type: "Dropout" bottom: "data" top: "o"\n'
                    b'        dropout_param { dropout_ratio: .5 } }\n')
    assert check_netscope_safe(src.read_bytes())
    out = tmp_path / "fixed.prototxt"
    r = run("view", str(src), "--netscope", "-o", str(out), "--no-clipboard")
    assert r.exit_code == 0
    assert check_netscope_safe(out.read_bytes()) == []
    assert read_prototxt(out) == read_prototxt(src)  # same net, safe text
    assert "0.5" in out.read_text()


def test_netscope_refuses_a_graph_it_would_misdraw(tmp_path: Path) -> None:
    src = tmp_path / "dup.prototxt"
    src.write_text(UNSAFE_GRAPH)
    out = tmp_path / "out.prototxt"
    r = run("view", str(src), "--netscope", "-o", str(out), "--no-clipboard")
    assert r.exit_code == 1
    assert "layer name 'a' is used twice" in one_error_line(r)
    assert not out.exists()
    r = run("view", str(src), "--netscope", "-o", str(out), "--no-clipboard", "--allow-unsafe")
    assert r.exit_code == 0 and out.read_text() == UNSAFE_GRAPH


def test_netscope_copies_to_the_clipboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sink = tmp_path / "clipboard.txt"
    tool = bin_dir / "xclip"
    tool.write_text(f"#!/bin/sh\n/bin/cat > {sink}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = tmp_path / "n.prototxt"
    r = run("view", official("SE-BN-Inception"), "--netscope", "-o", str(out))
    assert r.exit_code == 0
    assert "copied to the clipboard (xclip)" in r.stdout
    assert sink.read_text() == out.read_text()


def test_output_option_only_with_netscope(tmp_path: Path) -> None:
    r = run("view", official("SE-ResNet-50"), "-o", str(tmp_path / "x.prototxt"))
    assert r.exit_code == 2 and "--netscope" in r.stderr


class _FakeGitHub(BaseHTTPRequestHandler):
    bodies: list[dict] = []  # noqa: RUF012

    def do_POST(self) -> None:
        _FakeGitHub.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(201)
        self.end_headers()
        self.wfile.write(json.dumps({"id": "0123abcd", "html_url": "https://gist.example/0123abcd"}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    _FakeGitHub.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SENET_PROTO_GITHUB_API", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield _FakeGitHub.bodies
    finally:
        server.shutdown()
        server.server_close()


def test_gist_prints_the_netscope_url(fake_github: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    r = run("view", official("SE-ResNeXt-50"), "--gist")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "https://ethereon.github.io/netscope/#/gist/0123abcd"
    (body,) = fake_github
    assert body["public"] is False
    (name, file), = body["files"].items()
    assert name == "SE-ResNeXt-50.prototxt"
    assert parse_prototxt(file["content"]) == read_prototxt(official("SE-ResNeXt-50"))


def test_gist_without_token(fake_github: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    r = run("view", official("SE-ResNeXt-50"), "--gist")
    assert r.exit_code == 2 and "GITHUB_TOKEN" in one_error_line(r)
    assert fake_github == []


def test_netron_serves_until_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command prints the URL, serves the net on 127.0.0.1, and stops on KeyboardInterrupt (Ctrl-C)."""
    import senet_proto.cli.view as view_cli

    seen: dict[str, bytes] = {}
    real_sleep = view_cli.time.sleep

    def fake_sleep(seconds: float) -> None:
        url = printed[0]
        with urllib.request.urlopen(url + "data/SE-ResNet-50.prototxt", timeout=10) as resp:
            seen["net"] = resp.read()
        raise KeyboardInterrupt

    printed: list[str] = []
    real_echo = view_cli.click.echo

    def spy_echo(message: object = None, *a: object, **k: object) -> None:
        if isinstance(message, str) and message.startswith("http://"):
            printed.append(message)
        real_echo(message, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(view_cli.time, "sleep", fake_sleep)
    monkeypatch.setattr(view_cli.click, "echo", spy_echo)
    try:
        r = run("view", official("SE-ResNet-50"))
    finally:
        monkeypatch.setattr(view_cli.time, "sleep", real_sleep)
    assert r.exit_code == 0, r.output
    assert printed and printed[0].startswith("http://127.0.0.1:")
    assert seen["net"] == Path(official("SE-ResNet-50")).read_bytes()
    assert "stopped" in r.stderr
    port = int(printed[0].rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_netron_busy_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run("view", official("SE-ResNet-50"), "--port", str(port))
    assert r.exit_code == 2 and "in use" in one_error_line(r)


def test_netscope_for_an_architecture_is_what_generate_writes(tmp_path: Path) -> None:
    from senet_proto.generator import generate_prototxt

    out = tmp_path / "a.prototxt"
    assert run("view", "se-resnet-50", "--netscope", "-o", str(out), "--no-clipboard").exit_code == 0
    assert out.read_text() == generate_prototxt("se-resnet-50")
    assert check_netscope_safe(out.read_text()) == []


def test_netscope_gets_a_legacy_v1_net_upgraded(tmp_path: Path) -> None:
    """Netscope reads only 'layer': a V1 net ('layers', enum types) is sent upgraded, as info/draw read it."""
    from cli_view_helpers import v1_net_file

    from senet_proto.nets import resolve_current_net

    src, out = v1_net_file(tmp_path / "v1.prototxt"), tmp_path / "netscope.prototxt"
    r = run("view", src, "--netscope", "-o", str(out), "--no-clipboard")
    assert r.exit_code == 0, r.output
    assert "legacy V1 net" in r.stderr and "netscope/#/editor" in r.stdout
    sent = read_prototxt(out)
    assert not len(sent.layers) and [ly.type for ly in sent.layer] == [
        "Input", "Convolution", "ReLU", "Pooling", "InnerProduct", "Softmax"]
    assert sent == resolve_current_net(src) and check_netscope_safe(out.read_text()) == []
