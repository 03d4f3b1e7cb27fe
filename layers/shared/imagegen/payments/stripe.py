"""Stripe through the official ``stripe`` SDK: Checkout Sessions, PaymentIntent metadata, webhook signatures.

``stripe`` is imported inside these classes only, so functions that never sell anything do not pay its
import at cold start. ``STRIPE_API_BASE`` points the SDK at another server (the local stand-in) through
``StripeClient(base_addresses={"api": ...})``.

What the session carries, so every later event finds its purchase (``docs/payments.md``):
``client_reference_id`` = the purchase id; ``metadata`` and ``payment_intent_data.metadata`` =
``{purchaseId, userId}``. A charge or a dispute names its PaymentIntent; the purchase is then found by the
PaymentIntent alias written with the first checkout event, or else by the PaymentIntent's metadata.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from imagegen.errors import InvalidJson, InvalidSignature, PaymentProviderError
from imagegen.ports import CheckoutRequest, CheckoutSession, PurchaseRef

if TYPE_CHECKING:
    from stripe import StripeClient

log = logging.getLogger(__name__)

HTTP_TIMEOUT = (3.05, 10.0)  # connect, read: well inside an API Gateway request's 30 s
MAX_NETWORK_RETRIES = 2  # the SDK retries with its own idempotency key, so a retried create is one session


class StripeGateway:
    def __init__(self, api_key: Callable[[], str], api_base: str = "") -> None:
        self._api_key = api_key
        self._api_base = api_base

    @cached_property
    def client(self) -> StripeClient:
        import stripe

        base = {"api": self._api_base} if self._api_base else None
        return stripe.StripeClient(
            self._api_key(),
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT),
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        import stripe

        metadata = {"purchaseId": request.purchase_id, "userId": request.user_id}
        try:
            session = self.client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "client_reference_id": request.purchase_id,
                    "customer_email": request.email,
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": request.currency,
                                "unit_amount": request.amount_cents,
                                "product_data": {"name": request.pack_label},
                            },
                        }
                    ],
                    "success_url": request.success_url,
                    "cancel_url": request.cancel_url,
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                },
                # One session per purchase, however often this call is retried.
                options={"idempotency_key": f"checkout-{request.purchase_id}"},
            )
        except stripe.StripeError as exc:
            log.error("stripe refused the checkout session: %s", type(exc).__name__)
            raise PaymentProviderError("Payments are temporarily unavailable; try again.") from exc
        if not session.id or not session.url:
            raise PaymentProviderError("Payments are temporarily unavailable; try again.")
        return CheckoutSession(id=str(session.id), url=str(session.url))

    def expire_checkout(self, session_id: str) -> None:
        import stripe

        try:
            self.client.v1.checkout.sessions.expire(session_id)
        except stripe.StripeError as exc:
            # Best effort: an unused session expires on its own after 24 hours.
            log.warning("could not expire checkout session %s: %s", session_id, type(exc).__name__)

    def purchase_of_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None:
        import stripe

        try:
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        except stripe.StripeError as exc:
            log.error("could not read payment intent %s: %s", payment_intent_id, type(exc).__name__)
            raise PaymentProviderError("Payments are temporarily unavailable; try again.") from exc
        metadata = intent.to_dict().get("metadata")
        if not isinstance(metadata, dict):
            return None
        purchase_id, user_id = metadata.get("purchaseId"), metadata.get("userId")
        if isinstance(purchase_id, str) and isinstance(user_id, str) and purchase_id and user_id:
            return PurchaseRef(user_id=user_id, purchase_id=purchase_id)
        return None


class StripeWebhookVerifier:
    """``Stripe-Signature`` checked by the SDK (``t=...,v1=HMAC-SHA256(secret, "{t}.{body}")``, tolerance)."""

    def __init__(self, secret: Callable[[], str], tolerance: int) -> None:
        self._secret = secret
        self._tolerance = tolerance

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        import stripe

        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSignature("The body is not what was signed.") from exc
        if not signature:
            raise InvalidSignature("The Stripe-Signature header is missing.")
        try:
            stripe.WebhookSignature.verify_header(text, signature, self._secret(), self._tolerance)
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature("The Stripe-Signature does not match the body.") from exc
        try:
            event = json.loads(text)
        except ValueError as exc:
            raise InvalidJson("The body is not valid JSON.") from exc
        if not isinstance(event, dict):
            raise InvalidJson("The body is not a Stripe event.")
        return event
