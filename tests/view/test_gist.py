"""Secret gists through a fake GitHub API on 127.0.0.1 (the tests never touch the network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from senet_proto.errors import UsageError
from senet_proto.view.gist import GistError, create_gist, token_from_env


class FakeGitHub(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []
    status = 201
    answer: ClassVar[dict] = {"id": "abc123def", "html_url": "https://gist.example/abc123def"}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeGitHub.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        payload = json.dumps(FakeGitHub.answer if FakeGitHub.status == 201 else {"message": "Bad credentials"})
        self.send_response(FakeGitHub.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeGitHub]]:
    FakeGitHub.requests = []
    FakeGitHub.status = 201
    server = HTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SENET_PROTO_GITHUB_API", f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        yield FakeGitHub
    finally:
        server.shutdown()
        server.server_close()


def test_creates_a_secret_gist(github: type[FakeGitHub]) -> None:
    gist = create_gist("SE-ResNet-50.prototxt", 'name: "x"\n', "tok123", description="d")
    assert gist.id == "abc123def"
    assert gist.netscope_url == "https://ethereon.github.io/netscope/#/gist/abc123def"
    (req,) = github.requests
    assert req["path"] == "/gists"
    assert req["headers"]["Authorization"] == "Bearer tok123"
    assert req["body"] == {"description": "d", "public": False,
                           "files": {"SE-ResNet-50.prototxt": {"content": 'name: "x"\n'}}}


def test_rejected_token_is_one_clear_error(github: type[FakeGitHub]) -> None:
    github.status = 401
    with pytest.raises(GistError, match=r"HTTP 401 Bad credentials.*GITHUB_TOKEN"):
        create_gist("a.prototxt", "x", "bad")


def test_unreachable_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SENET_PROTO_GITHUB_API", f"http://127.0.0.1:{port}")
    with pytest.raises(GistError, match="cannot reach GitHub"):
        create_gist("a.prototxt", "x", "t", timeout=5)


def test_answer_without_id(github: type[FakeGitHub], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeGitHub, "answer", {"html_url": "x"})
    with pytest.raises(GistError, match="no gist id"):
        create_gist("a.prototxt", "x", "t")


def test_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(UsageError, match="GITHUB_TOKEN"):
        token_from_env()
    monkeypatch.setenv("GITHUB_TOKEN", " t0k \n")
    assert token_from_env() == "t0k"
