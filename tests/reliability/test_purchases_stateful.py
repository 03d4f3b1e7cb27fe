"""Purchases under whatever Stripe delivers: a Hypothesis state machine over webhook deliveries.

Each example opens a few purchases through the real checkout (the ``stripe`` SDK against the stand-in)
and decides what really happened to each payment: paid, paid asynchronously, failed asynchronously or
expired, and for a paid one whether it is later refunded, disputed, or both. That truth fixes the events
Stripe emits (each with its own id). The rules then deliver them as Stripe may: any event again
(duplicates, replays), in any order (reversals before credits), two at once from two threads on the
serialized emulator (concurrent deliveries), a delivery whose process dies right after its transaction
committed or whose transaction fails before it (crashes between steps, injected with botocore hooks),
and events with a wrong signature (refused, no effect).

After every step: coins == sum(ledger) (below zero only after a purchase_reversal), every purchase
credited at most once, reversed at most once and only after its credit, its status agreeing with its
entries, and nothing credited or reversed that no delivered event asked for. At the end every event is
delivered once more (Stripe retries until a 2xx): each purchase then ends as its truth says.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from devstack.stack.stripe import sign
from tests.api.conftest import Env
from tests.reliability.conftest import Faults, check_books
from tests.stripe_support import WEBHOOK_SECRET, Shop, charge_event, checkout_event, shop

__all__ = ["shop"]

TRUTHS = ("paid", "async_paid", "async_failed", "expired")
REVERSALS = (
    (),
    ("charge.refunded",),
    ("charge.dispute.created",),
    ("charge.refunded", "charge.dispute.created"),
)
PICK = st.integers(min_value=0, max_value=10_000)
CREDITING = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


@dataclass
class Deal:
    purchase: dict[str, Any]
    truth: str
    reversals: tuple[str, ...]
    events: list[dict[str, Any]] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)  # event ids answered 2xx at least once

    @property
    def pays(self) -> bool:
        return self.truth in ("paid", "async_paid")

    def credit_asked(self) -> bool:
        return any(
            e["id"] in self.delivered
            and e["type"] in CREDITING
            and e["data"]["object"].get("payment_status") == "paid"
            for e in self.events
        )

    def reversal_asked(self) -> bool:
        return any(e["id"] in self.delivered and e["type"].startswith("charge.") for e in self.events)


class PurchaseMachine(RuleBasedStateMachine):
    env: ClassVar[Env]
    shop: ClassVar[Shop]
    faults: ClassVar[Faults]
    examples: ClassVar[int] = 0
    step_counts: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        self.app = self.env
        self.deals: list[Deal] = []
        self.bonus = 0
        self.token = ""

    def _count(self, name: str) -> None:
        type(self).step_counts[name] = type(self).step_counts.get(name, 0) + 1

    # ---- set-up ------------------------------------------------------------------------------------
    @initialize(
        bonus=st.sampled_from([0, 20]),
        deals=st.lists(
            st.tuples(st.sampled_from(TRUTHS), st.sampled_from(REVERSALS)), min_size=1, max_size=3
        ),
    )
    def open_purchases(self, bonus: int, deals: list[tuple[str, tuple[str, ...]]]) -> None:
        _, self.token = self.app.user(coins=bonus)
        self.bonus = bonus
        for truth, reversals in deals:
            reply = self.shop.buy(self.token, "small")
            assert reply.status == 201, reply.raw
            purchase = reply.json["purchase"]
            deal = Deal(purchase, truth, reversals if truth in ("paid", "async_paid") else ())
            intent = f"pi_{purchase['id'].replace('-', '')[:20]}"
            # What Stripe knows: the PaymentIntent and its metadata, so a charge or dispute seen before
            # any checkout event can still be traced to its purchase.
            session = self.shop.standin._sessions[purchase["checkoutSessionId"]]
            session.payment_intent = intent
            if truth == "paid":
                deal.events.append(
                    checkout_event("checkout.session.completed", purchase, payment_intent=intent)
                )
            elif truth in ("async_paid", "async_failed"):
                deal.events.append(
                    checkout_event(
                        "checkout.session.completed", purchase, payment_status="unpaid", payment_intent=intent
                    )
                )
                kind = "succeeded" if truth == "async_paid" else "failed"
                status = "paid" if truth == "async_paid" else "unpaid"
                deal.events.append(
                    checkout_event(
                        f"checkout.session.async_payment_{kind}",
                        purchase,
                        payment_status=status,
                        payment_intent=intent,
                    )
                )
            else:
                deal.events.append(
                    checkout_event(
                        "checkout.session.expired", purchase, payment_status="unpaid", payment_intent=None
                    )
                )
            for kind in deal.reversals:
                deal.events.append(charge_event(kind, purchase, payment_intent=intent))
            self.deals.append(deal)

    # ---- deliveries --------------------------------------------------------------------------------
    def _event(self, which: int) -> tuple[Deal, dict[str, Any]]:
        pool = [(deal, event) for deal in self.deals for event in deal.events]
        return pool[which % len(pool)]

    def _deliver(self, deal: Deal, event: dict[str, Any]) -> int:
        reply = self.shop.deliver(event)
        if 200 <= reply.status < 300:
            deal.delivered.add(event["id"])
        return reply.status

    @rule(which=PICK)
    def deliver(self, which: int) -> None:
        """Any event, any time: a first delivery, a duplicate, a late or early one."""
        self._count("deliver")
        deal, event = self._event(which)
        assert self._deliver(deal, event) == 200

    @rule(first=PICK, second=PICK)
    def deliver_concurrently(self, first: int, second: int) -> None:
        """Two deliveries at the same moment from two threads (the same event twice, or two events of
        one purchase), each through its own service instance on the shared clients, as two Lambda
        instances would run them."""
        from imagegen.bootstrap import get_adapters, payment_events

        self._count("concurrent")
        picked = [self._event(first), self._event(second)]
        barrier = threading.Barrier(2)
        outcomes: list[str | BaseException] = []

        def run(deal: Deal, event: dict[str, Any]) -> None:
            body = json.dumps(event).encode()
            service = payment_events(get_adapters())
            barrier.wait(5)
            try:
                outcomes.append(service.receive(body, sign(body, WEBHOOK_SECRET)))
                deal.delivered.add(event["id"])
            except BaseException as exc:  # recorded, asserted below
                outcomes.append(exc)

        threads = [threading.Thread(target=run, args=pair) for pair in picked]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(isinstance(o, str) for o in outcomes), outcomes

    @rule(which=PICK, after=st.booleans())
    def deliver_and_crash(self, which: int, after: bool) -> None:
        """The delivery's process dies right after its transaction committed (Stripe saw an error and
        will retry), or the transaction fails before it (nothing written)."""
        self._count("crash_after" if after else "fail_before")
        deal, event = self._event(which)
        client = self.faults.dynamodb()
        if after:
            fault = self.faults.crash_after(client, "TransactWriteItems")
        else:
            fault = self.faults.fail(client, "TransactWriteItems", "ServiceUnavailable", times=1)
        try:
            status = self.shop.deliver(event).status
        finally:
            self.faults.clear()
        # Never a 2xx for a delivery that did not finish; a 2xx when nothing needed the failing call,
        # or when botocore's own retry got past the injected failure.
        assert status == 200 or (fault.hits and status >= 500), (status, fault.hits)
        if status == 200 or after:
            deal.delivered.add(event["id"])  # its effect is written (or there was none to write)

    @rule(which=PICK, how=st.sampled_from(["other_secret", "stale", "tampered"]))
    def forged_delivery(self, which: int, how: str) -> None:
        self._count("forged")
        _, event = self._event(which)
        if how == "other_secret":
            reply = self.shop.deliver(event, secret="whsec_not_ours")
        elif how == "stale":
            reply = self.shop.deliver(event, timestamp=int(time.time()) - 3600)
        else:
            body = json.dumps(event).encode()
            reply = self.shop.post_raw(body.replace(b"usd", b"eur"), sign(body, WEBHOOK_SECRET))
        reply.problem(400, "invalid_signature")

    # ---- invariants --------------------------------------------------------------------------------
    def _ledger(self) -> list[dict[str, Any]]:
        return check_books(self.app, self.token).ledger

    @invariant()
    def credited_at_most_once_reversed_at_most_once_after_the_credit(self) -> None:
        if not self.token:
            return
        ledger = self._ledger()  # check_books: coins == sum, order of credits and reversals
        for deal in self.deals:
            pid = deal.purchase["id"]
            credits = [e for e in ledger if e["reason"] == "purchase" and e["purchaseId"] == pid]
            reversals = [e for e in ledger if e["reason"] == "purchase_reversal" and e["purchaseId"] == pid]
            assert len(credits) <= 1 and len(reversals) <= 1, ledger
            if credits:
                assert deal.pays and deal.credit_asked(), (deal.truth, ledger)
                assert credits[0]["amount"] == deal.purchase["coins"]
            if reversals:
                assert credits and deal.reversal_asked(), (deal.truth, ledger)
            status = self.app.api.call("GET", f"/me/purchases/{pid}", token=self.token).json["status"]
            expected = {(1, 0): "PAID", (1, 1): "REVERSED"}.get((len(credits), len(reversals)))
            if expected is not None:
                assert status == expected, (status, credits, reversals)
            else:
                assert status in ("PENDING", "FAILED", "EXPIRED"), status
        coins = self.app.api.call("GET", "/me", token=self.token).json["coins"]
        assert coins == self.bonus + sum(e["amount"] for e in ledger if e["reason"].startswith("purchase"))

    def teardown(self) -> None:
        if not self.token:
            return
        # Stripe retries every event until it gets a 2xx: after that, each purchase is what happened.
        for deal in self.deals:
            for event in deal.events:
                assert self._deliver(deal, event) == 200
        self.credited_at_most_once_reversed_at_most_once_after_the_credit()
        ledger = self._ledger()
        for deal in self.deals:
            pid = deal.purchase["id"]
            reasons = [e["reason"] for e in ledger if e.get("purchaseId") == pid]
            status = self.app.api.call("GET", f"/me/purchases/{pid}", token=self.token).json
            if deal.pays and deal.reversals:
                assert (status["status"], reasons) == ("REVERSED", ["purchase", "purchase_reversal"]), deal
            elif deal.pays:
                assert (status["status"], reasons) == ("PAID", ["purchase"]), deal
            elif deal.truth == "async_failed":
                assert (status["status"], status["failureReason"], reasons) == (
                    "FAILED",
                    "payment_failed",
                    [],
                )
            else:
                assert (status["status"], reasons) == ("EXPIRED", []), deal


def test_purchases_settle_exactly_once_whatever_is_delivered(app: Env, shop: Shop) -> None:
    PurchaseMachine.env = app
    PurchaseMachine.shop = shop
    PurchaseMachine.faults = Faults(app)
    PurchaseMachine.examples, PurchaseMachine.step_counts = 0, {}
    profile = settings.get_profile(os.environ.get("RELIABILITY_PROFILE", "reliability-ci"))
    started = time.perf_counter()
    try:
        run_state_machine_as_test(PurchaseMachine, settings=profile)
    finally:
        PurchaseMachine.faults.clear()
    elapsed = time.perf_counter() - started
    print(
        f"\nstateful purchases: {PurchaseMachine.examples} examples in {elapsed:.1f} s;"
        f" by rule: {dict(sorted(PurchaseMachine.step_counts.items()))}"
    )
    assert sum(PurchaseMachine.step_counts.values()) > 0
