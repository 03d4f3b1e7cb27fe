"""Live updates through the real handlers: the WebSocket routes (functions/live) and the notifier
(functions/notifier) fed with the stream records the emulator captured, pushing to a stand-in of API
Gateway's management API (a real HTTP server: the real boto3 client talks to it)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from devstack import moto_fixes
from devstack.stack.naming import LocalResources
from devstack.stack.sam import build_application
from devstack.stack.streams import matches
from devstack.template import open_template
from tests.api.conftest import Env, LambdaContext, handler

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


class Management:
    """What API Gateway's management API was asked: messages by connection; ``open`` ones accept."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: list[str] = []


@pytest.fixture
def management(configure: Callable[..., None]) -> Iterator[Management]:
    state = Management()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            connection_id = unquote(self.path).rsplit("/@connections/", 1)[-1]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if connection_id in state.open:
                state.sent.setdefault(connection_id, []).append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.gone.append(connection_id)
            payload = json.dumps({"message": "Gone"}).encode()
            self.send_response(410)
            self.send_header("x-amzn-ErrorType", "GoneException")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configure(WEBSOCKET_MANAGEMENT_URL=f"http://127.0.0.1:{server.server_port}/dev")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stream(table: str) -> Iterator[list[dict[str, Any]]]:
    """The table's changes that pass the notifier's FilterCriteria in template.yaml, as Lambda gets them."""
    template = open_template(ROOT / "template.yaml", {})
    app = build_application(
        template, LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
    )
    [subscription] = [s for s in app.streams if s.function == "NotifierFunction"]
    records: list[dict[str, Any]] = []

    def offer(record: dict[str, Any]) -> None:
        if any(matches(pattern, record) for pattern in subscription.filters):
            records.append(record)

    stop = moto_fixes.listen(table, offer)
    try:
        yield records
    finally:
        stop()


def _ws_event(name: str, connection_id: str, token: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "live" / name).read_text()))
    event["requestContext"]["connectionId"] = connection_id
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    return event


def _connect(connection_id: str, token: str | None) -> dict[str, Any]:
    result: dict[str, Any] = handler("live")(_ws_event("connect.json", connection_id, token), LambdaContext())
    return result


def test_connect_accepts_a_session_token_and_refuses_anything_else(app: Env, management: Management) -> None:
    _, token = app.user(coins=0)
    assert _connect("c-ok", token)["statusCode"] == 200
    for bad in (None, "", "not-a-token", token + "x"):
        assert _connect("c-bad", bad)["statusCode"] == 401, bad
    assert app.api.call("POST", "/auth/logout", token=token).status == 204
    assert _connect("c-out", token)["statusCode"] == 401  # signed out


def test_ping_pong_and_disconnect(app: Env, management: Management) -> None:
    ping = handler("live")(_ws_event("ping.json", "c-1"), LambdaContext())
    assert ping == {"statusCode": 200, "body": json.dumps({"type": "pong"})}
    assert handler("live")(_ws_event("disconnect.json", "never-connected"), LambdaContext()) == {
        "statusCode": 200
    }


def test_the_notifier_pushes_a_generation_to_its_owner_and_forgets_gone_sockets(
    app: Env, management: Management, stream: list[dict[str, Any]]
) -> None:
    user, token = app.user(coins=100)
    _, other_token = app.user(coins=100)
    for connection_id, session in (("mine", token), ("mine-gone", token), ("theirs", other_token)):
        assert _connect(connection_id, session)["statusCode"] == 200
    management.open |= {"mine", "theirs"}
    stream.clear()
    created = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "a fox", "width": 256, "height": 256}
    )
    assert created.status == 202
    app.pipeline.drain()

    notifier = handler("notifier")
    assert notifier({"Records": list(stream)}, LambdaContext()) == {"batchItemFailures": []}
    mine = management.sent["mine"]
    statuses = [m["image"]["status"] for m in mine if m["type"] == "image.updated"]
    assert statuses[0] == "PENDING" and statuses[-1] == "COMPLETED", statuses
    [charge] = [m for m in mine if m["type"] == "balance.changed"]
    assert (charge["coins"], charge["entry"]["amount"], charge["entry"]["imageId"]) == (
        50,
        -50,
        created.json["id"],
    )
    assert "theirs" not in management.sent
    assert management.gone == ["mine-gone"]
    # The gone socket was forgotten: the next batch does not try it again.
    management.gone.clear()
    notifier({"Records": list(stream)}, LambdaContext())
    assert management.gone == [] and user.id
