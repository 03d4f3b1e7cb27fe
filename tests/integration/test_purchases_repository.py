"""DynamoPurchaseRepository on the serialized emulator: the items it writes, its lists, and settlements
that race (the transaction conditions, not luck, make a purchase credited and reversed once)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from imagegen.errors import NotFound
from imagegen.models import LedgerReason, User
from imagegen.persistence import Repositories
from imagegen.ports import EventSeen, OnceKey, PaymentEvent, PurchaseMoved
from imagegen.purchases import CoinPack, Purchase, PurchaseStatus, new_purchase_id

PACK = CoinPack("small", 500, 499, "usd", "500 coins")


def _purchase(repos: Repositories, user: User, **changes: Any) -> Purchase:
    purchase = Purchase.start(new_purchase_id(), user.id, PACK).with_session(f"cs_{user.id[:6]}", "https://x")
    created = repos.purchases.create(purchase)
    assert created == purchase
    return purchase


def _event(n: int, kind: str = "checkout.session.completed", intent: str | None = "pi_1") -> PaymentEvent:
    return PaymentEvent(id=f"evt_{n}", type=kind, payment_intent_id=intent, amount=499, currency="usd")


def test_items_keys_and_lists(
    repos: Repositories, new_user: Callable[..., User], table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    user, other = new_user(coins=0), new_user(coins=0)
    first, second = _purchase(repos, user), _purchase(repos, user)
    _purchase(repos, other)
    item = next(i for i in table_items() if i.get("entity") == "PURCHASE" and i["id"] == first.id)
    assert (item["pk"], item["sk"], item["gsi1pk"], item["gsi2pk"]) == (
        f"USER#{user.id}",
        f"PURCHASE#{first.id}",
        "PURCHASES",
        "PURCHASES#PENDING",
    )
    assert [p.id for p in repos.purchases.find_for_user(user.id).items] == [second.id, first.id]
    assert len(repos.purchases.find_all().items) == 3
    purchase, version = repos.purchases.find_versioned(user.id, first.id)  # type: ignore[misc]
    repos.purchases.credit(purchase, version, _event(1))
    assert [p.id for p in repos.purchases.find_all(PurchaseStatus.PAID).items] == [first.id]
    assert len(repos.purchases.find_all(PurchaseStatus.PENDING).items) == 2
    assert repos.purchases.find(other.id, first.id) is None
    assert repos.purchases.event_seen("evt_1") and not repos.purchases.event_seen("evt_2")
    ref = repos.purchases.find_by_payment_intent("pi_1")
    assert ref is not None and (ref.user_id, ref.purchase_id) == (user.id, first.id)


def test_a_purchase_for_a_missing_user_is_refused(repos: Repositories) -> None:
    ghost = User(id="ghost", email="ghost@example.com", google_id="g-ghost")
    with pytest.raises(NotFound):
        repos.purchases.create(Purchase.start(new_purchase_id(), ghost.id, PACK))


def test_a_stale_version_or_a_seen_event_writes_nothing(
    repos: Repositories, new_user: Callable[..., User]
) -> None:
    user = new_user(coins=0)
    purchase = _purchase(repos, user)
    _, version = repos.purchases.find_versioned(user.id, purchase.id)  # type: ignore[misc]
    repos.purchases.mark(purchase, version, _event(1, "checkout.session.completed", "pi_1"))
    with pytest.raises(PurchaseMoved):
        repos.purchases.credit(purchase, version, _event(2))
    fresh, version = repos.purchases.find_versioned(user.id, purchase.id)  # type: ignore[misc]
    with pytest.raises(EventSeen):
        repos.purchases.credit(fresh, version, _event(1))
    assert repos.users.find_by_id(user.id).coins == 0  # type: ignore[union-attr]
    assert repos.purchases.credit(fresh, version, _event(3)) is not None
    assert repos.users.find_by_id(user.id).coins == 500  # type: ignore[union-attr]


def test_racing_credits_and_reversals_apply_once(repos: Repositories, new_user: Callable[..., User]) -> None:
    """Ten deliveries crediting one purchase at once (each its own event id), then ten reversing it,
    while the user spends: one credit, one reversal, an exact running balance."""
    user = new_user(coins=40)
    purchase = _purchase(repos, user)
    barrier = threading.Barrier(10)

    def settle(n: int, reverse: bool) -> str:
        barrier.wait()
        for _ in range(20):
            found, version = repos.purchases.find_versioned(user.id, purchase.id)  # type: ignore[misc]
            try:
                if reverse:
                    if found.reversed:
                        return "nothing"
                    done = repos.purchases.reverse(
                        found, version, _event(100 + n, "charge.refunded"), "refunded"
                    )
                else:
                    if found.credited:
                        return "nothing"
                    done = repos.purchases.credit(found, version, _event(n))
            except PurchaseMoved:
                continue
            return "applied" if done is not None else "nothing"
        return "gave up"

    with ThreadPoolExecutor(max_workers=10) as pool:
        credits = list(pool.map(lambda n: settle(n, False), range(10)))
    repos.users.change_coins(user.id, -530, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey("spend"))
    with ThreadPoolExecutor(max_workers=10) as pool:
        reversals = list(pool.map(lambda n: settle(n, True), range(10)))
    assert sorted(credits) == ["applied"] + ["nothing"] * 9, credits
    assert sorted(reversals) == ["applied"] + ["nothing"] * 9, reversals
    entries = repos.ledger.all_for_user(user.id)
    assert [e.reason for e in entries] == [
        LedgerReason.SIGNUP_BONUS,
        LedgerReason.PURCHASE,
        LedgerReason.ADMIN_DEBIT,
        LedgerReason.PURCHASE_REVERSAL,
    ]
    assert [e.balance_after for e in entries] == [40, 540, 10, -490]
    assert repos.users.find_by_id(user.id).coins == -490  # type: ignore[union-attr]
    final = repos.purchases.find(user.id, purchase.id)
    assert final is not None and final.status is PurchaseStatus.REVERSED and final.paid_at
