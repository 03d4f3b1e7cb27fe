"""A local stand-in for Stripe: the Checkout Session API the ``stripe`` SDK calls, a checkout page, refunds
and disputes, and webhooks signed as Stripe signs them, delivered at least once to the stack's own
``/webhooks/stripe`` through the gateway. Local only: never in the layer, never in the template.

- API (form-encoded as the SDK sends it, ``Authorization: Bearer <key>``, ``Idempotency-Key`` honoured):
  ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
  ``POST /v1/checkout/sessions/{id}/expire``, ``GET /v1/payment_intents/{id}``,
  ``POST /v1/refunds`` (``payment_intent``).
- ``GET /checkout/{sessionId}``: a page with Pay and Cancel; ``?outcome=paid|async_paid|async_failed|cancel``
  settles it without a click and redirects (303) to the session's success or cancel URL.
- ``POST /refund/{purchaseId}``, ``POST /dispute/{purchaseId}``: the reversal events of a paid purchase.
- Each event is delivered ``1 + duplicates`` times (``STRIPE_STANDIN_DUPLICATES``, default 1: twice), from a
  delivery thread, never the request's; ``?shuffle=1`` delivers one action's events in random order. A
  delivery answered with anything but 2xx is retried a few times, as Stripe does.

The signature is ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, computed here by
hand so the application's check through the SDK is tested against an independent implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import queue
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.stack.apigw import HttpRequest, HttpResponse, json_response
from devstack.stack.naming import LocalResources
from devstack.stack.provision import client

BASE_PATH = "/_local/stripe"
OUTCOMES = ("paid", "async_paid", "async_failed", "cancel")
DELIVERY_ATTEMPTS = 4
Deliver = Callable[[bytes, str], int]  # (body, Stripe-Signature) -> HTTP status


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload``: Stripe's v1 scheme."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price_data][currency]=usd``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            node = child if isinstance(child, dict) else {}
        node[parts[-1]] = value
    listed = _listify(root)
    assert isinstance(listed, dict)
    return listed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _id(prefix: str) -> str:
    return f"{prefix}_local{secrets.token_hex(12)}"


@dataclass
class _Session:
    id: str
    amount_total: int
    currency: str
    client_reference_id: str | None
    metadata: dict[str, str]
    intent_metadata: dict[str, str]
    success_url: str
    cancel_url: str
    created: int = field(default_factory=lambda: int(time.time()))
    status: str = "open"
    payment_status: str = "unpaid"
    payment_intent: str | None = None
    charge: str | None = None
    refunded: bool = False
    disputed: bool = False

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "checkout.session",
            "mode": "payment",
            "amount_total": self.amount_total,
            "currency": self.currency,
            "client_reference_id": self.client_reference_id,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent,
            "payment_status": self.payment_status,
            "status": self.status,
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "created": self.created,
            "livemode": False,
            "url": f"{base_url}{BASE_PATH}/checkout/{self.id}" if self.status == "open" else None,
        }

    def charge_json(self) -> dict[str, Any]:
        return {
            "id": self.charge,
            "object": "charge",
            "amount": self.amount_total,
            "amount_refunded": self.amount_total if self.refunded else 0,
            "refunded": self.refunded,
            "currency": self.currency,
            "payment_intent": self.payment_intent,
            # Stripe copies nothing here by default; the stand-in leaves it empty so the application
            # finds the purchase as it must on Stripe: by its PaymentIntent.
            "metadata": {},
        }


class StripeStandIn:
    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        deliver: Deliver | None = None,
        duplicates: int = 1,
        base_path: str = BASE_PATH,
    ) -> None:
        self.base_path = base_path
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.deliver = deliver
        self.duplicates = max(0, duplicates)
        self.base_url = ""
        self._sessions: dict[str, _Session] = {}
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()
        self._outbox: queue.Queue[tuple[list[dict[str, Any]], bool] | None] = queue.Queue()
        self.delivered: list[tuple[str, str, int]] = []  # (event id, type, status): for tests
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    # --- delivery ---

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_loop, name="stripe-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._outbox.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued event was delivered (tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _emit(self, events: list[dict[str, Any]], shuffle: bool) -> None:
        with self._idle:
            self._pending += 1
        if self._thread is None:
            self._send_all(events, shuffle)
            self._done()
        else:
            self._outbox.put((events, shuffle))

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _deliver_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            try:
                self._send_all(*item)
            finally:
                self._done()

    def _send_all(self, events: list[dict[str, Any]], shuffle: bool) -> None:
        deliveries = [event for event in events for _ in range(1 + self.duplicates)]
        if shuffle:
            random.shuffle(deliveries)
        for event in deliveries:
            self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        if self.deliver is None:
            return
        body = json.dumps(event).encode()
        status = 0
        for attempt in range(DELIVERY_ATTEMPTS):
            try:
                status = self.deliver(body, sign(body, self.webhook_secret))
            except OSError:
                status = 0
            if 200 <= status < 300:
                break
            time.sleep(0.2 * (attempt + 1))
        self.delivered.append((event["id"], event["type"], status))

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _id("evt"),
            "object": "event",
            "type": kind,
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": obj},
        }

    # --- dispatch ---

    def handle(self, request: HttpRequest, base_url: str) -> HttpResponse:
        self.base_url = base_url.rstrip("/")
        path = request.raw_path.removeprefix(self.base_path)
        query = dict(parse_qsl(request.raw_query))
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["v1"]:
            return self._api(request, parts[1:])
        if len(parts) == 2 and parts[0] == "checkout":
            session = self._sessions.get(parts[1])
            if session is None:
                return _page(404, "No such checkout session", "<p>This checkout does not exist.</p>")
            outcome = query.get("outcome")
            if request.method == "POST":
                outcome = dict(parse_qsl(request.body.decode("utf-8", "replace"))).get("outcome", outcome)
            if outcome is None and request.method == "GET":
                return self._checkout_page(session)
            if outcome not in OUTCOMES:
                return _page(400, "Unknown outcome", f"<p>outcome must be one of {', '.join(OUTCOMES)}.</p>")
            return self._settle(session, outcome, shuffle=query.get("shuffle") == "1")
        if len(parts) == 2 and parts[0] in ("refund", "dispute") and request.method == "POST":
            return self._reverse(parts[1], parts[0], shuffle=query.get("shuffle") == "1")
        return json_response(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}})

    # --- the API the SDK calls ---

    def _api(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        if request.header("authorization") != f"Bearer {self.api_key}":
            return _api_error(401, "authentication_error", "Invalid API Key provided.")
        if parts == ["checkout", "sessions"] and request.method == "POST":
            return self._create_session(request)
        if len(parts) >= 3 and parts[:2] == ["checkout", "sessions"]:
            session = self._sessions.get(parts[2])
            if session is None:
                return _api_error(404, "invalid_request_error", f"No such checkout.session: '{parts[2]}'")
            if len(parts) == 3 and request.method == "GET":
                return json_response(200, session.to_json(self.base_url))
            if parts[3:] == ["expire"] and request.method == "POST":
                if session.status != "open":
                    return _api_error(400, "invalid_request_error", "Only an open session can be expired.")
                self._expire(session, shuffle=False)
                return json_response(200, session.to_json(self.base_url))
        if len(parts) == 2 and parts[0] == "payment_intents" and request.method == "GET":
            found = next((s for s in self._sessions.values() if s.payment_intent == parts[1]), None)
            if found is None:
                return _api_error(404, "invalid_request_error", f"No such payment_intent: '{parts[1]}'")
            return json_response(200, _intent_json(found))
        if parts == ["refunds"] and request.method == "POST":
            intent = parse_form(request.body).get("payment_intent")
            found = next((s for s in self._sessions.values() if intent and s.payment_intent == intent), None)
            if found is None or found.payment_status != "paid":
                return _api_error(400, "invalid_request_error", "This PaymentIntent has no charge to refund.")
            self._refund(found, shuffle=False)
            return json_response(200, {"id": _id("re"), "object": "refund", "payment_intent": intent})
        return _api_error(404, "invalid_request_error", "Unrecognized request URL.")

    def _create_session(self, request: HttpRequest) -> HttpResponse:
        key = request.header("idempotency-key")
        with self._lock:
            if key and key in self._by_key:
                return json_response(200, self._sessions[self._by_key[key]].to_json(self.base_url))
            form = parse_form(request.body)
            try:
                (item,) = form["line_items"]
                price = item["price_data"]
                amount = int(price["unit_amount"]) * int(item.get("quantity", "1"))
                session = _Session(
                    id=_id("cs_test"),
                    amount_total=amount,
                    currency=str(price["currency"]).lower(),
                    client_reference_id=form.get("client_reference_id"),
                    metadata=dict(form.get("metadata") or {}),
                    intent_metadata=dict((form.get("payment_intent_data") or {}).get("metadata") or {}),
                    success_url=form["success_url"],
                    cancel_url=form["cancel_url"],
                )
            except (KeyError, ValueError, TypeError):
                return _api_error(400, "invalid_request_error", "Missing or invalid line_items or URLs.")
            if form.get("mode") != "payment":
                return _api_error(400, "invalid_request_error", "Only mode=payment is supported here.")
            self._sessions[session.id] = session
            if key:
                self._by_key[key] = session.id
        return json_response(200, session.to_json(self.base_url))

    # --- the checkout page and its outcomes ---

    def _checkout_page(self, session: _Session) -> HttpResponse:
        if session.status != "open":
            return _closed(session)
        price = f"{session.amount_total / 100:.2f} {session.currency.upper()}"
        buttons = "".join(
            f'<button type="submit" name="outcome" value="{value}">{label}</button> '
            for value, label in (("paid", "Pay"), ("cancel", "Cancel"))
        )
        body = f"""<h1>Checkout (local Stripe)</h1>
<p>Amount: <strong data-testid="amount">{html.escape(price)}</strong></p>
<form method="post" action="{html.escape(self.base_path)}/checkout/{html.escape(session.id)}">{buttons}</form>
<p><small>Or add <code>?outcome=paid|async_paid|async_failed|cancel</code> to this page's URL.</small></p>"""
        return _page(200, "Checkout (local Stripe)", body)

    def _settle(self, session: _Session, outcome: str, *, shuffle: bool) -> HttpResponse:
        with self._lock:
            if session.status != "open":
                return _closed(session)
            if outcome == "cancel":
                self._expire(session, shuffle=shuffle)
                return _redirect(session.cancel_url)
            session.status = "complete"
            session.payment_intent = _id("pi")
            events: list[dict[str, Any]] = []
            if outcome == "paid":
                self._paid(session)
                events.append(self._event("checkout.session.completed", session.to_json(self.base_url)))
            else:
                events.append(self._event("checkout.session.completed", session.to_json(self.base_url)))
                if outcome == "async_paid":
                    self._paid(session)
                    kind = "checkout.session.async_payment_succeeded"
                else:
                    session.payment_status = "unpaid"
                    kind = "checkout.session.async_payment_failed"
                events.append(self._event(kind, session.to_json(self.base_url)))
        self._emit(events, shuffle)
        return _redirect(session.success_url)

    @staticmethod
    def _paid(session: _Session) -> None:
        session.payment_status = "paid"
        session.charge = _id("ch")

    def _expire(self, session: _Session, *, shuffle: bool) -> None:
        session.status = "expired"
        self._emit([self._event("checkout.session.expired", session.to_json(self.base_url))], shuffle)

    # --- reversals ---

    def _reverse(self, purchase_id: str, kind: str, *, shuffle: bool) -> HttpResponse:
        with self._lock:
            session = next(
                (s for s in self._sessions.values() if s.client_reference_id == purchase_id and s.charge),
                None,
            )
            if session is None:
                return json_response(404, {"error": "no paid checkout for this purchase"})
        if kind == "refund":
            event = self._refund(session, shuffle=shuffle)
        else:
            session.disputed = True
            dispute = {
                "id": _id("dp"),
                "object": "dispute",
                "amount": session.amount_total,
                "currency": session.currency,
                "charge": session.charge,
                "payment_intent": session.payment_intent,
                "reason": "fraudulent",
                "status": "needs_response",
                "metadata": {},
            }
            event = self._event("charge.dispute.created", dispute)
            self._emit([event], shuffle)
        return json_response(200, {"event": event["id"], "type": event["type"]})

    def _refund(self, session: _Session, *, shuffle: bool) -> dict[str, Any]:
        session.refunded = True
        event = self._event("charge.refunded", session.charge_json())
        self._emit([event], shuffle)
        return event


def _intent_json(session: _Session) -> dict[str, Any]:
    return {
        "id": session.payment_intent,
        "object": "payment_intent",
        "amount": session.amount_total,
        "currency": session.currency,
        "metadata": dict(session.intent_metadata),
        "status": "succeeded" if session.payment_status == "paid" else "processing",
        "latest_charge": session.charge,
    }


def _api_error(status: int, kind: str, message: str) -> HttpResponse:
    return json_response(status, {"error": {"type": kind, "message": message}})


def _redirect(location: str) -> HttpResponse:
    return HttpResponse(303, [("Location", location), ("Cache-Control", "no-store")])


def _page(status: int, title: str, body: str) -> HttpResponse:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem">
{body}</body></html>"""
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
    return HttpResponse(status, headers, document.encode())


def _closed(session: _Session) -> HttpResponse:
    return _page(410, "Checkout closed", f"<p>This checkout is {html.escape(session.status)}.</p>")


def http_deliverer(url: str, timeout: float = 30.0) -> Deliver:
    """POST each signed event to ``url`` (the stack's own ``/webhooks/stripe``, through the gateway)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an HTTP URL: {url}")

    def deliver(body: bytes, signature: str) -> int:
        request = urllib.request.Request(  # noqa: S310 - the stack's own loopback URL
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    return deliver


STRIPE_SECRETS = ("StripeSecretKey", "StripeWebhookSecret")


def local_stripe_secrets(resources: LocalResources) -> tuple[str, str] | None:
    """Give the template's Stripe secrets local values in the emulator (``sk_test_local...``,
    ``whsec_local...``) and return them: the functions read them from Secrets Manager as on AWS, and the
    stand-in checks the one and signs with the other. None when the template declares no such secrets."""
    declared = resources.template.resources
    if not all(name in declared and resources.template.is_active(name) for name in STRIPE_SECRETS):
        return None
    values = (f"sk_test_local{secrets.token_hex(16)}", f"whsec_local{secrets.token_hex(16)}")
    secretsmanager = client("secretsmanager", resources.endpoint_url)
    for logical_id, value in zip(STRIPE_SECRETS, values, strict=True):
        secretsmanager.put_secret_value(SecretId=resources.name(logical_id), SecretString=value)
    return values
