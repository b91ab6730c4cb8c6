"""A real browser: headless Chromium opens what `senet-proto view` serves and Netron draws the graph.

Runs whenever Chromium is installed; without it the test FAILS (the README's test command installs it)
unless the user opts out with SENET_PROTO_SKIP_BROWSER=1.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from bare_env import checkout_env
from view_cdp import Chromium
from view_helpers import decode_png, official

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def _chromium() -> str:
    if os.environ.get("SENET_PROTO_SKIP_BROWSER") == "1":
        pytest.skip("browser test skipped: SENET_PROTO_SKIP_BROWSER=1 was set by the user")
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.fail("headless Chromium is not installed (apt-get install chromium; bash scripts/test.sh does it), "
                "or set SENET_PROTO_SKIP_BROWSER=1 to skip this test", pytrace=False)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"`senet-proto view` printed no URL within {timeout} s")
    return proc.stdout.readline().strip()


def test_netron_page_shows_the_graph(tmp_path: Path) -> None:
    exe = _chromium()
    spec = str(official("SE-ResNet-50"))
    env = checkout_env()
    server = subprocess.Popen([sys.executable, "-c", "from senet_proto.cli import main; main()", "view", spec],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    browser = None
    try:
        url = _read_line(server, 60)
        assert url.startswith("http://127.0.0.1:"), url
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        browser = Chromium(exe)
        page = browser.page(url)
        ready = page.wait_for("document.body && document.body.classList.contains('default') && "
                              "document.querySelectorAll('#canvas g.node').length", timeout=180)
        error = page.evaluate("document.getElementById('message-text') && "
                              "document.getElementById('message-text').textContent")
        assert ready, f"Netron did not draw the graph (body: {page.evaluate('document.body.className')!r}, {error!r})"
        # one box per ordinary layer: Netron, like Netscope, folds in-place layers into their producer's box
        from senet_proto.nets import resolve_net

        net = resolve_net(spec)
        assert ready == sum(1 for ly in net.layer if list(ly.top) != list(ly.bottom)), ready
        text = page.evaluate("document.getElementById('canvas').textContent")
        assert "Convolution" in text and "Axpy" in text and "Pooling" in text
        # offline: every resource the page loaded came from our server (no CDN, no ipinfo.io lookup)
        loaded = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(u.startswith(url) for u in loaded), [u for u in loaded if not u.startswith(url)]
        assert page.evaluate("document.cookie").startswith("consent=")
        png = page.screenshot()
        (tmp_path / "netron.png").write_bytes(png)
        width, channels, rows = decode_png(png)
        pixels = Counter(row[i : i + 3] for row in rows[:: 2] for i in range(0, width * channels, channels * 2))
        _background, count = pixels.most_common(1)[0]
        drawn = sum(pixels.values()) - count
        assert drawn > 0.005 * sum(pixels.values()), f"screenshot nearly blank: {drawn} drawn pixels"
        assert len(pixels) > 20  # coloured boxes, text and edges, not a flat page
        print(f"screenshot: {tmp_path / 'netron.png'} ({drawn} non-background samples)")
    finally:
        if browser is not None:
            browser.close()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            _out, err = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            raise AssertionError("`senet-proto view` did not stop on Ctrl-C") from None
    assert server.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    time.sleep(0.1)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
