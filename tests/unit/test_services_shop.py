"""The coin shop's use cases on the in-memory adapters: packs, checkout, and the settlement rules of
``PaymentEvents`` (every order of events, replays, mismatches, reversals before credits)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from imagegen.commands import StartCheckout
from imagegen.errors import IdempotencyKeyReused, InvalidSignature, PaymentProviderError, ValidationError
from imagegen.models import LedgerReason
from imagegen.ports import PurchaseRef
from imagegen.purchases import DEFAULT_COIN_PACKS, PurchaseStatus, new_purchase_id, parse_packs
from imagegen.services.payments import PaymentEvents, parse_event
from imagegen.services.shop import ShopService

from tests.memory import FakePayments, MemoryPurchases, PlainVerifier, Wiring, wire


class Shop:
    def __init__(self, **settings: Any) -> None:
        self.w: Wiring = wire(frontend_url="https://app.test", **settings)
        self.purchases = MemoryPurchases(self.w.repos.table)
        self.payments = FakePayments()
        self.shop = ShopService(
            purchases=self.purchases, payments=self.payments, settings=self.w.settings, clock=self.w.clock
        )
        self.events = PaymentEvents(
            purchases=self.purchases, payments=self.payments, verifier=PlainVerifier()
        )
        self.serial = 0

    def deliver(self, event: dict[str, Any]) -> str:
        return self.events.receive(json.dumps(event).encode(), "ok")

    def event(self, kind: str, purchase: Any, **obj: Any) -> dict[str, Any]:
        self.serial += 1
        base: dict[str, Any] = {"metadata": {}, "currency": purchase.currency}
        if kind.startswith("checkout."):
            base |= {
                "id": purchase.checkout_session_id,
                "client_reference_id": purchase.id,
                "metadata": {"purchaseId": purchase.id, "userId": purchase.user_id},
                "payment_status": "paid",
                "amount_total": purchase.amount_cents,
                "payment_intent": "pi_1",
            }
        else:
            base |= {"payment_intent": "pi_1", "amount": purchase.amount_cents}
            if kind == "charge.refunded":
                base |= {"amount_refunded": purchase.amount_cents, "refunded": True}
        return {"id": f"evt_{self.serial}", "type": kind, "data": {"object": base | obj}}

    def coins(self, user_id: str) -> int:
        return self.w.repos.table.account(user_id).user.coins

    def reasons(self, user_id: str) -> list[LedgerReason]:
        return [e.reason for e in self.w.repos.table.account(user_id).ledger]


# ---- packs ---------------------------------------------------------------------------------------------


def test_default_packs_and_coin_packs_validation() -> None:
    assert [p.id for p in parse_packs("")] == [p["id"] for p in DEFAULT_COIN_PACKS]
    packs = parse_packs('[{"id": "x", "coins": 10, "priceCents": 99, "currency": "GBP", "label": " Ten "}]')
    assert (packs[0].currency, packs[0].label) == ("gbp", "Ten")
    for bad in (
        "{}",
        "[]",
        "not json",
        '[{"id": "X!", "coins": 1, "priceCents": 1, "currency": "usd"}]',
        '[{"id": "a", "coins": 0, "priceCents": 1, "currency": "usd"}]',
        '[{"id": "a", "coins": 1, "priceCents": true, "currency": "usd"}]',
        '[{"id": "a", "coins": 1, "priceCents": 1, "currency": "dollars"}]',
        '[{"id": "a", "coins": 1, "priceCents": 1, "currency": "usd"},'
        ' {"id": "a", "coins": 2, "priceCents": 2, "currency": "usd"}]',
    ):
        with pytest.raises(ValueError, match="COIN_PACKS"):
            parse_packs(bad)


def test_purchase_ids_sort_by_creation_time() -> None:
    ids = [new_purchase_id(1_800_000_000 + i / 1000) for i in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert all(i[14] == "7" for i in ids)  # a version 7 UUID


# ---- checkout ------------------------------------------------------------------------------------------


def test_checkout_asks_stripe_for_the_pack_and_records_a_pending_purchase() -> None:
    s = Shop()
    user = s.w.user(coins=0)
    started = s.shop.checkout(user.id, user.email, StartCheckout("medium"))
    (request,) = s.payments.created
    assert (request.amount_cents, request.currency, request.purchase_id) == (999, "usd", started.purchase.id)
    assert request.success_url == f"https://app.test/shop/success?purchase={started.purchase.id}"
    assert request.cancel_url == "https://app.test/shop/cancel"
    assert started.checkout_url == "https://checkout.test/cs_test_1"
    assert s.purchases.find(user.id, started.purchase.id) == started.purchase
    assert started.purchase.status is PurchaseStatus.PENDING


def test_checkout_refuses_an_unknown_pack_before_asking_stripe() -> None:
    s = Shop()
    user = s.w.user()
    with pytest.raises(ValidationError):
        s.shop.checkout(user.id, user.email, StartCheckout("gold"))
    assert s.payments.created == []


def test_a_stripe_failure_leaves_no_purchase() -> None:
    s = Shop()
    user = s.w.user()
    s.payments.fail = PaymentProviderError("down")
    with pytest.raises(PaymentProviderError):
        s.shop.checkout(user.id, user.email, StartCheckout("small"))
    assert s.purchases.find_for_user(user.id).items == []


def test_an_idempotency_key_answers_the_first_checkout() -> None:
    s = Shop()
    user = s.w.user()
    first = s.shop.checkout(user.id, user.email, StartCheckout("small"), "k")
    again = s.shop.checkout(user.id, user.email, StartCheckout("small"), "k")
    assert (again.purchase, again.checkout_url) == (first.purchase, first.checkout_url)
    assert len(s.payments.created) == 1
    with pytest.raises(IdempotencyKeyReused):
        s.shop.checkout(user.id, user.email, StartCheckout("large"), "k")


def test_the_loser_of_a_race_on_one_key_expires_its_unused_session() -> None:
    s = Shop()
    user = s.w.user()

    def race(_: Any) -> None:
        s.payments.before_create = None
        s.shop.checkout(user.id, user.email, StartCheckout("small"), "k")  # wins while the first waits

    s.payments.before_create = race
    answer = s.shop.checkout(user.id, user.email, StartCheckout("small"), "k")
    assert s.payments.expired == ["cs_test_2"]
    assert answer.checkout_url == "https://checkout.test/cs_test_1"
    assert len(s.purchases.find_for_user(user.id).items) == 1


# ---- settlement --------------------------------------------------------------------------------------


def _bought(s: Shop, coins: int = 0) -> Any:
    user = s.w.user(coins=coins)
    return user, s.shop.checkout(user.id, user.email, StartCheckout("small")).purchase


def test_parse_event_ignores_other_types_and_reads_expanded_ids() -> None:
    assert parse_event({"id": "evt", "type": "invoice.paid", "data": {"object": {}}}) is None
    assert parse_event({"type": "charge.refunded", "data": {"object": {}}}) is None
    event = parse_event(
        {
            "id": "evt",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "payment_intent": {"id": "pi_9"},
                    "amount": 5,
                    "amount_refunded": 5,
                    "currency": "EUR",
                }
            },
        }
    )
    assert event is not None and (event.payment_intent_id, event.fully_refunded, event.currency) == (
        "pi_9",
        True,
        "eur",
    )


def test_a_bad_signature_is_refused() -> None:
    s = Shop()
    with pytest.raises(InvalidSignature):
        s.events.receive(b"{}", "forged")


def test_credit_once_whatever_the_duplicates() -> None:
    s = Shop()
    user, purchase = _bought(s, coins=7)
    completed = s.event("checkout.session.completed", purchase)
    assert s.deliver(completed) == "credited"
    assert s.deliver(completed) == "duplicate"
    assert s.deliver(s.event("checkout.session.async_payment_succeeded", purchase)) == "recorded"
    assert s.coins(user.id) == 507
    assert s.reasons(user.id) == [LedgerReason.SIGNUP_BONUS, LedgerReason.PURCHASE]
    assert s.w.books_balance(user.id)


def test_expired_and_failed_do_not_undo_a_credit() -> None:
    s = Shop()
    user, purchase = _bought(s)
    s.deliver(s.event("checkout.session.completed", purchase))
    assert s.deliver(s.event("checkout.session.expired", purchase, payment_status="unpaid")) == "recorded"
    assert s.deliver(s.event("checkout.session.async_payment_failed", purchase)) == "recorded"
    assert s.purchases.find(user.id, purchase.id).status is PurchaseStatus.PAID  # type: ignore[union-attr]


def test_an_unpaid_completion_waits_for_the_async_result() -> None:
    s = Shop()
    user, purchase = _bought(s)
    assert s.deliver(s.event("checkout.session.completed", purchase, payment_status="unpaid")) == "noted"
    assert s.coins(user.id) == 0
    assert s.purchases.find_by_payment_intent("pi_1") is not None
    assert s.deliver(s.event("checkout.session.async_payment_failed", purchase)) == "failed"
    found = s.purchases.find(user.id, purchase.id)
    assert found is not None and (found.status, found.failure_reason) == (
        PurchaseStatus.FAILED,
        "payment_failed",
    )


def test_a_reversal_before_the_credit_waits_and_lands_with_it() -> None:
    s = Shop()
    user, purchase = _bought(s)
    s.payments.intents["pi_1"] = PurchaseRef(user.id, purchase.id)  # the PaymentIntent's metadata
    assert s.deliver(s.event("charge.dispute.created", purchase)) == "reversal_pending"
    assert s.deliver(s.event("charge.refunded", purchase)) == "recorded"  # one reversal is enough
    assert s.coins(user.id) == 0
    assert s.deliver(s.event("checkout.session.completed", purchase)) == "credited"
    found = s.purchases.find(user.id, purchase.id)
    assert found is not None and found.status is PurchaseStatus.REVERSED
    assert s.reasons(user.id) == [LedgerReason.PURCHASE, LedgerReason.PURCHASE_REVERSAL]
    assert s.coins(user.id) == 0


def test_a_partial_refund_and_an_unknown_payment_intent_change_nothing() -> None:
    s = Shop()
    user, purchase = _bought(s)
    s.deliver(s.event("checkout.session.completed", purchase))
    assert s.deliver(s.event("charge.refunded", purchase, amount_refunded=100, refunded=False)) == "recorded"
    assert s.deliver(s.event("charge.refunded", purchase, payment_intent="pi_other")) == "unmatched"
    assert s.coins(user.id) == 500


def test_a_session_that_is_not_the_purchases_is_not_credited() -> None:
    s = Shop()
    user, purchase = _bought(s)
    assert s.deliver(s.event("checkout.session.completed", purchase, id="cs_someone_else")) == "unmatched"
    assert s.coins(user.id) == 0


def test_a_reversal_may_take_the_balance_below_zero_and_spending_stops() -> None:
    from imagegen.errors import InsufficientCoins
    from imagegen.ports import OnceKey

    s = Shop()
    user, purchase = _bought(s)
    s.deliver(s.event("checkout.session.completed", purchase))
    s.w.repos.table.change(user.id, -450, LedgerReason.IMAGE_GENERATION, OnceKey("spend"))
    assert s.deliver(s.event("charge.refunded", purchase)) == "reversed"
    assert s.coins(user.id) == -450
    with pytest.raises(InsufficientCoins):
        s.w.repos.table.change(user.id, -1, LedgerReason.ADMIN_DEBIT, OnceKey("more"))
    assert s.w.books_balance(user.id)
