"""The urllib transport against a real HTTP server on loopback (no outside network)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from imagegen.auth.transport import TransportError, UrllibTransport


class _Handler(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, str]]] = []

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may have given up first (the timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/certs":
            self._answer(200, b'{"keys": []}')
        elif self.path == "/broken":
            self._answer(500, b'{"error": "boom"}')
        elif self.path == "/html":
            self._answer(200, b"<html></html>", "text/html")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, b"{}")
        else:
            self._answer(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.received.append((self.path, self.headers.get("Content-Type", ""), form))
        if form.get("code") == "good":
            self._answer(200, json.dumps({"id_token": "t"}).encode())
        else:
            self._answer(400, b'{"error": "invalid_grant"}')


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_post_form_sends_a_urlencoded_form_and_parses_json(server: str) -> None:
    status, body = UrllibTransport().post_form(
        f"{server}/token", {"code": "good", "redirect_uri": "https://x/cb?a=1"}
    )
    assert (status, body) == (200, {"id_token": "t"})
    path, content_type, form = _Handler.received[-1]
    assert path == "/token"
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {"code": "good", "redirect_uri": "https://x/cb?a=1"}


def test_post_form_returns_error_statuses_instead_of_raising(server: str) -> None:
    assert UrllibTransport().post_form(f"{server}/token", {"code": "bad"}) == (
        400,
        {"error": "invalid_grant"},
    )


def test_get_json(server: str) -> None:
    assert UrllibTransport().get_json(f"{server}/certs") == {"keys": []}


@pytest.mark.parametrize("path", ["/broken", "/html", "/missing"])
def test_get_json_raises_on_error_status_or_non_json(server: str, path: str) -> None:
    with pytest.raises(TransportError):
        UrllibTransport().get_json(f"{server}{path}")


def test_timeout_is_a_transport_error(server: str) -> None:
    with pytest.raises(TransportError):
        UrllibTransport(timeout=0.2).get_json(f"{server}/slow")


def test_unreachable_host_is_a_transport_error() -> None:
    with pytest.raises(TransportError):
        UrllibTransport(timeout=1).get_json("http://127.0.0.1:9/certs")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "/relative"])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(TransportError):
        UrllibTransport().get_json(url)
    with pytest.raises(TransportError):
        UrllibTransport().post_form(url, {})
