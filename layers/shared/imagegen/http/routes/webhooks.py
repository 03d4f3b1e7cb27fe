"""``POST /webhooks/stripe``: public, authenticated by the ``Stripe-Signature`` over the raw body."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from imagegen.errors import InvalidSignature, PayloadTooLarge
from imagegen.http.api import RouteSpec, header, new_router, route, services

router = new_router()
MAX_WEBHOOK_BODY = 256 * 1024  # Stripe events are a few KiB


def raw_body(event: Any) -> bytes:
    """The body exactly as sent: API Gateway (payload 2.0) base64-encodes a body it does not take for
    text, and the signature covers the bytes, not a re-encoded string."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidSignature("The body is not what was signed.") from exc
    return str(body).encode("utf-8")


@route(
    router,
    RouteSpec(
        method="POST",
        path="/webhooks/stripe",
        summary="Stripe's events (signed); every verified event gets 200",
        tag="payments",
        auth=False,
        headers=("Stripe-Signature",),
        responses={200: "received"},
        errors=("invalid_signature", "payload_too_large", "service_unavailable"),
    ),
)
def stripe_webhook() -> dict[str, Any]:
    payload = raw_body(router.current_event.raw_event)
    if len(payload) > MAX_WEBHOOK_BODY:
        raise PayloadTooLarge(f"The body must be at most {MAX_WEBHOOK_BODY} bytes.")
    outcome = services(router).payment_events.receive(payload, header(router, "stripe-signature"))
    return {"received": True, "outcome": outcome}
