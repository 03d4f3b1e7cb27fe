"""The Stripe webhook's use case: settle purchases from verified events, exactly once whatever arrives.

Every event is treated as possibly repeated, late, out of order or concurrent with another:

- its purchase is read with its version and the decision is made on what it says; the write is one
  transaction conditioned on that version (and on the event's record not existing), so of two racing
  deliveries one applies and the other reads again and finds nothing left to do;
- money moves only under the purchase's once-keys (credit, reversal), so a purchase is credited at
  most once and reversed at most once, whatever the event ids;
- a reversal (full refund, dispute) seen before the credit is written on the purchase
  (``reversal_pending``) and applied as soon as the credit lands: by the delivery that credits, or by
  any later delivery for the purchase if the process died in between (Stripe retries until a 2xx).

See docs/payments.md for the events to enable and how charges and disputes find their purchase.
"""

from __future__ import annotations

import random
import time
from typing import Any

from imagegen.errors import ServiceUnavailable
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import (
    EventSeen,
    PaymentEvent,
    PaymentGateway,
    PurchaseMoved,
    PurchaseRef,
    PurchaseRepository,
    WebhookVerifier,
)
from imagegen.purchases import FailureReason, Purchase, PurchaseStatus, ReversalKind

MAX_ATTEMPTS = 20

CHECKOUT_COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_CREATED = "charge.dispute.created"
HANDLED_EVENTS = (
    CHECKOUT_COMPLETED,
    ASYNC_SUCCEEDED,
    ASYNC_FAILED,
    EXPIRED,
    CHARGE_REFUNDED,
    DISPUTE_CREATED,
)


def backoff(attempt: int, *, base: float = 0.005, cap: float = 0.2) -> None:
    """Full jitter, so racing deliveries spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(cap, base * (2**attempt))))  # noqa: S311 - jitter, not a secret


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _object_id(value: object) -> str | None:
    """An expandable field: an id, or the expanded object carrying one."""
    if isinstance(value, dict):
        return _text(value.get("id"))
    return _text(value)


def parse_event(raw: dict[str, Any]) -> PaymentEvent | None:
    """The event as the settlement needs it; None for an event type the shop does not handle."""
    event_id, event_type = _text(raw.get("id")), _text(raw.get("type"))
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if event_id is None or event_type not in HANDLED_EVENTS or not isinstance(obj, dict):
        return None
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    currency = _text(obj.get("currency"))
    common: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "user_id": _text(metadata.get("userId")),
        "payment_intent_id": _object_id(obj.get("payment_intent")),
        "currency": currency.lower() if currency else None,
    }
    if event_type.startswith("checkout.session."):
        return PaymentEvent(
            **common,
            purchase_id=_text(obj.get("client_reference_id")) or _text(metadata.get("purchaseId")),
            checkout_session_id=_text(obj.get("id")),
            payment_status=_text(obj.get("payment_status")),
            amount=_int(obj.get("amount_total")),
        )
    amount = _int(obj.get("amount"))
    fully_refunded = False
    if event_type == CHARGE_REFUNDED:
        refunded = _int(obj.get("amount_refunded"))
        fully_refunded = obj.get("refunded") is True or (
            amount is not None and refunded is not None and refunded >= amount
        )
    return PaymentEvent(
        **common,
        purchase_id=_text(metadata.get("purchaseId")),
        amount=amount,
        fully_refunded=fully_refunded,
    )


class PaymentEvents:
    def __init__(
        self, *, purchases: PurchaseRepository, payments: PaymentGateway, verifier: WebhookVerifier
    ) -> None:
        self.purchases = purchases
        self.payments = payments
        self.verifier = verifier

    def receive(self, payload: bytes, signature: str | None) -> str:
        """Verify and settle one delivery; what happened (for the log and the tests). Raises
        InvalidSignature (400) for a body that is not Stripe's; any verified event returns."""
        event = parse_event(self.verifier.verify(payload, signature))
        if event is None:
            return "ignored"
        ref = self._purchase_of(event)
        if ref is None:
            logger.warning("stripe event names no known purchase", extra={"event_id": event.id})
            return "unmatched"
        outcome = self._settle(ref, event)
        self._finish(ref)
        logger.info(
            "stripe event settled",
            extra={
                "event_id": event.id,
                "event_type": event.type,
                "purchase_id": ref.purchase_id,
                "outcome": outcome,
            },
        )
        return outcome

    def _purchase_of(self, event: PaymentEvent) -> PurchaseRef | None:
        if event.purchase_id and event.user_id:
            return PurchaseRef(user_id=event.user_id, purchase_id=event.purchase_id)
        if event.payment_intent_id:
            return self.purchases.find_by_payment_intent(
                event.payment_intent_id
            ) or self.payments.purchase_of_payment_intent(event.payment_intent_id)
        return None

    def _settle(self, ref: PurchaseRef, event: PaymentEvent) -> str:
        for attempt in range(MAX_ATTEMPTS):
            found = self.purchases.find_versioned(ref.user_id, ref.purchase_id)
            if found is None:
                return "unmatched"
            purchase, version = found
            if (
                event.checkout_session_id
                and purchase.checkout_session_id
                and event.checkout_session_id != purchase.checkout_session_id
            ):
                logger.warning("checkout session does not match its purchase", extra={"event_id": event.id})
                return "unmatched"
            try:
                return self._apply(purchase, version, event)
            except EventSeen:
                return "duplicate"
            except PurchaseMoved:
                backoff(attempt)
        raise ServiceUnavailable("The purchase kept changing; try again.")

    def _apply(self, purchase: Purchase, version: int, event: PaymentEvent) -> str:
        if (
            event.type == CHECKOUT_COMPLETED and event.payment_status == "paid"
        ) or event.type == ASYNC_SUCCEEDED:
            return self._credit(purchase, version, event)
        if event.type in (ASYNC_FAILED, EXPIRED):
            if purchase.credited or purchase.status is not PurchaseStatus.PENDING:
                return self._nothing(purchase, event)
            if event.type == ASYNC_FAILED:
                self.purchases.mark(
                    purchase,
                    version,
                    event,
                    status=PurchaseStatus.FAILED,
                    failure_reason=FailureReason.PAYMENT_FAILED.value,
                )
                return "failed"
            self.purchases.mark(purchase, version, event, status=PurchaseStatus.EXPIRED)
            return "expired"
        if event.type == CHARGE_REFUNDED and event.fully_refunded:
            return self._reverse(purchase, version, event, ReversalKind.REFUNDED)
        if event.type == DISPUTE_CREATED:
            return self._reverse(purchase, version, event, ReversalKind.DISPUTED)
        # A completed session still waiting for an asynchronous payment, or a partial refund: only
        # the PaymentIntent is worth learning.
        if event.payment_intent_id and not purchase.payment_intent_id:
            self.purchases.mark(purchase, version, event)
            return "noted"
        return self._nothing(purchase, event)

    def _nothing(self, purchase: Purchase, event: PaymentEvent) -> str:
        return "recorded" if self.purchases.record(event, purchase) else "duplicate"

    def _credit(self, purchase: Purchase, version: int, event: PaymentEvent) -> str:
        if purchase.credited or purchase.failure_reason == FailureReason.AMOUNT_MISMATCH:
            return self._nothing(purchase, event)
        if event.amount != purchase.amount_cents or event.currency != purchase.currency:
            logger.warning(
                "paid amount differs from the pack",
                extra={"purchase_id": purchase.id, "amount": event.amount, "currency": event.currency},
            )
            self.purchases.mark(
                purchase,
                version,
                event,
                status=PurchaseStatus.FAILED,
                failure_reason=FailureReason.AMOUNT_MISMATCH,
            )
            add_metric("PurchaseAmountMismatch", MetricUnit.Count, 1)
            return "amount_mismatch"
        if self.purchases.credit(purchase, version, event) is None:
            return self._nothing(purchase, event)
        add_metric("PurchasesCredited", MetricUnit.Count, 1)
        return "credited"

    def _reverse(self, purchase: Purchase, version: int, event: PaymentEvent, kind: ReversalKind) -> str:
        if purchase.reversed or purchase.reversal_pending:
            return self._nothing(purchase, event)
        if not purchase.credited:
            self.purchases.mark(purchase, version, event, reversal_pending=kind.value)
            return "reversal_pending"
        if self.purchases.reverse(purchase, version, event, kind.value) is None:
            return self._nothing(purchase, event)
        add_metric("PurchasesReversed", MetricUnit.Count, 1)
        return "reversed"

    def _finish(self, ref: PurchaseRef) -> None:
        """Apply a reversal that waited for its credit (no event of its own: its event was recorded
        when it was noted)."""
        for attempt in range(MAX_ATTEMPTS):
            found = self.purchases.find_versioned(ref.user_id, ref.purchase_id)
            if found is None:
                return
            purchase, version = found
            if not (purchase.credited and purchase.reversal_pending and not purchase.reversed):
                return
            try:
                if self.purchases.reverse(purchase, version, None, purchase.reversal_pending) is not None:
                    add_metric("PurchasesReversed", MetricUnit.Count, 1)
                return
            except PurchaseMoved:
                backoff(attempt)
        raise ServiceUnavailable("The purchase kept changing; try again.")
