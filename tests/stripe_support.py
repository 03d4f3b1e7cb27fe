"""The Stripe stand-in of the local stack, served on a loopback port for the in-process tests.

The application's ``stripe`` SDK talks real HTTP to it (``STRIPE_API_BASE``); its webhooks are delivered
straight into the real webhook handler (``app.api.call("POST", "/webhooks/stripe", ...)``) on the thread
that caused them, so a test sees the effect as soon as its call returns.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from devstack.stack.apigw import HttpRequest
from devstack.stack.stripe import StripeStandIn, sign
from tests.api.conftest import Env, Reply

API_KEY = "sk_test_tests0123456789"
WEBHOOK_SECRET = "whsec_tests0123456789abcdef"


class _Handler(BaseHTTPRequestHandler):
    standin: StripeStandIn
    base_url: str

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            raw_path=parts.path,
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
        )
        response = self.standin.handle(request, self.base_url)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Shop:
    """The stand-in, its server's base URL and helpers to drive a purchase as Stripe would."""

    app: Env
    standin: StripeStandIn
    base_url: str
    deliveries: list[tuple[str, int, str]] = field(default_factory=list)  # (event type, status, outcome)

    def deliver(
        self,
        event: dict[str, Any],
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
        base64_body: bool = False,
    ) -> Reply:
        body = json.dumps(event).encode()
        header = signature if signature is not None else sign(body, secret, timestamp)
        return self.post_raw(body, header, base64_body=base64_body)

    def post_raw(self, body: bytes, signature: str | None, *, base64_body: bool = False) -> Reply:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["stripe-signature"] = signature
        if base64_body:
            return _call_base64(self.app, body, headers)
        return self.app.api.call("POST", "/webhooks/stripe", raw_body=body.decode("utf-8"), headers=headers)

    def buy(self, token: str, pack_id: str = "small", key: str | None = None) -> Reply:
        headers = {"idempotency-key": key} if key else None
        return self.app.api.call(
            "POST", "/shop/checkout", token=token, body={"packId": pack_id}, headers=headers
        )

    def session_id(self, checkout_url: str) -> str:
        return urlsplit(checkout_url).path.rsplit("/", 1)[-1]

    def pay(self, checkout_url: str, outcome: str = "paid", *, shuffle: bool = False) -> int:
        query = f"outcome={outcome}" + ("&shuffle=1" if shuffle else "")
        response = self.standin.handle(
            HttpRequest("GET", urlsplit(checkout_url).path, query, [("accept", "text/html")]), self.base_url
        )
        return response.status

    def reverse(self, purchase_id: str, kind: str = "refund") -> int:
        response = self.standin.handle(
            HttpRequest("POST", f"/_local/stripe/{kind}/{purchase_id}", "", []), self.base_url
        )
        return response.status


def _call_base64(app: Env, body: bytes, headers: dict[str, str]) -> Reply:
    """A POST as API Gateway sends a body it takes for binary: base64 with ``isBase64Encoded``."""
    import base64
    import sys

    # The handlers as app.api loads them: pytest may hold the api conftest under two module names, and
    # a function's module loaded twice would register its router on two resolvers.
    conftest = sys.modules[type(app.api).__module__]
    handler, context = conftest.handler, conftest.LambdaContext

    event = {
        "version": "2.0",
        "routeKey": "POST /webhooks/stripe",
        "rawPath": "/webhooks/stripe",
        "rawQueryString": "",
        "headers": {"host": "api.example.com", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "test",
            "domainName": "api.example.com",
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /webhooks/stripe",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
            "http": {
                "method": "POST",
                "path": "/webhooks/stripe",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    result = handler("stripe_webhook")(event, context(function_name="stripe_webhook"))
    return Reply(result["statusCode"], result.get("headers") or {}, result.get("body") or "")


def checkout_event(
    kind: str,
    purchase: dict[str, Any],
    *,
    payment_status: str = "paid",
    amount: int | None = None,
    currency: str | None = None,
    payment_intent: str | None = "pi_test_1",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Checkout Session event for a purchase of the API (its id, user and session)."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": purchase["checkoutSessionId"],
                "object": "checkout.session",
                "client_reference_id": purchase["id"],
                "metadata": {"purchaseId": purchase["id"], "userId": purchase["userId"]},
                "payment_intent": payment_intent,
                "payment_status": payment_status,
                "amount_total": purchase["amountCents"] if amount is None else amount,
                "currency": currency or purchase["currency"],
            }
        },
    }


def charge_event(
    kind: str, purchase: dict[str, Any], *, payment_intent: str = "pi_test_1", refunded: int | None = None
) -> dict[str, Any]:
    """``charge.refunded`` (fully, unless ``refunded`` says how much) or ``charge.dispute.created``."""
    amount = purchase["amountCents"]
    obj: dict[str, Any] = {
        "id": f"ch_{uuid.uuid4().hex[:12]}" if kind == "charge.refunded" else f"dp_{uuid.uuid4().hex[:12]}",
        "amount": amount,
        "currency": purchase["currency"],
        "payment_intent": payment_intent,
        "metadata": {},
    }
    if kind == "charge.refunded":
        done = amount if refunded is None else refunded
        obj |= {"object": "charge", "amount_refunded": done, "refunded": done >= amount}
    else:
        obj |= {"object": "dispute", "charge": "ch_x", "reason": "fraudulent"}
    return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind, "data": {"object": obj}}


@pytest.fixture
def shop(app: Env, configure: Callable[..., None]) -> Iterator[Shop]:
    """The stand-in on a loopback port, the application pointed at it with the test keys."""
    holder: dict[str, Shop] = {}

    def deliver(body: bytes, signature: str) -> int:
        reply = holder["shop"].post_raw(body, signature)
        outcome = (reply.json or {}).get("outcome", "") if reply.status == 200 else reply.code or ""
        holder["shop"].deliveries.append((json.loads(body)["type"], reply.status, outcome))
        return reply.status

    standin = StripeStandIn(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, deliver=deliver, duplicates=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base_url = f"http://127.0.0.1:{server.server_port}"
    _Handler.standin = standin
    _Handler.base_url = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configure(
        STRIPE_API_BASE=f"{base_url}/_local/stripe",
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    holder["shop"] = Shop(app, standin, base_url)
    try:
        yield holder["shop"]
    finally:
        server.shutdown()
        server.server_close()


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))
