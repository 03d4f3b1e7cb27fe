"""The coin shop through the real handlers: packs, checkout through the real ``stripe`` SDK against the
stand-in, the webhook's signature check, and every settlement rule of the contract's "Coin shop"."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.api.conftest import Env
from tests.stripe_support import WEBHOOK_SECRET, Shop, charge_event, checkout_event, shop

__all__ = ["shop"]


def _coins(app: Env, token: str) -> int:
    coins: int = app.api.call("GET", "/me", token=token).json["coins"]
    return coins


def _ledger(app: Env, token: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = app.api.call(
        "GET", "/me/ledger", token=token, query={"limit": "100"}
    ).json["items"]
    return entries[::-1]


def _purchase(app: Env, token: str, purchase_id: str) -> dict[str, Any]:
    reply = app.api.call("GET", f"/me/purchases/{purchase_id}", token=token)
    assert reply.status == 200, reply.raw
    found: dict[str, Any] = reply.json
    return found


def _started(shop: Shop, token: str, pack: str = "small") -> dict[str, Any]:
    reply = shop.buy(token, pack)
    assert reply.status == 201, reply.raw
    started: dict[str, Any] = reply.json
    return started


# ---- packs and checkout ------------------------------------------------------------------------------


def test_packs_are_public_cacheable_and_default_to_three(app: Env) -> None:
    reply = app.api.call("GET", "/shop/packs")
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "public, max-age=60"
    items = reply.json["items"]
    assert len(items) == 3
    assert {tuple(sorted(p)) for p in items} == {("coins", "currency", "id", "label", "priceCents")}


def test_packs_come_from_coin_packs(app: Env, configure: Any) -> None:
    configure(COIN_PACKS=json.dumps([{"id": "one", "coins": 7, "priceCents": 100, "currency": "EUR"}]))
    assert app.api.call("GET", "/shop/packs").json["items"] == [
        {"id": "one", "coins": 7, "priceCents": 100, "currency": "eur", "label": "7 coins"}
    ]


def test_checkout_creates_a_pending_purchase_and_a_stripe_session(app: Env, shop: Shop) -> None:
    user, token = app.user(coins=10)
    started = _started(shop, token)
    purchase = started["purchase"]
    assert purchase["status"] == "PENDING"
    assert (purchase["userId"], purchase["packId"], purchase["coins"], purchase["amountCents"]) == (
        user.id,
        "small",
        500,
        499,
    )
    assert started["checkoutUrl"].startswith(f"{shop.base_url}/_local/stripe/checkout/cs_test_")
    session = shop.standin._sessions[shop.session_id(started["checkoutUrl"])]
    assert session.id == purchase["checkoutSessionId"]
    assert session.client_reference_id == purchase["id"]
    assert session.metadata == {"purchaseId": purchase["id"], "userId": user.id}
    assert session.intent_metadata == session.metadata
    assert session.success_url == f"https://app.example.com/shop/success?purchase={purchase['id']}"
    assert session.cancel_url == "https://app.example.com/shop/cancel"
    assert (session.amount_total, session.currency) == (499, "usd")
    assert _purchase(app, token, purchase["id"]) == purchase
    assert _coins(app, token) == 10


def test_checkout_refuses_an_unknown_pack_and_writes_nothing(app: Env, shop: Shop) -> None:
    _, token = app.user()
    body = shop.buy(token, "nope").problem(422, "validation_error")
    assert body["errors"][0]["field"] == "packId"
    assert app.api.call("GET", "/me/purchases", token=token).json["items"] == []
    assert shop.standin._sessions == {}
    shop.app.api.call("POST", "/shop/checkout", token=token, body={}).problem(422, "validation_error")


def test_checkout_needs_a_session_token(app: Env, shop: Shop) -> None:
    app.api.call("POST", "/shop/checkout", body={"packId": "small"}).problem(401, "unauthorized")
    app.api.call("GET", "/me/purchases").problem(401, "unauthorized")


def test_an_idempotency_key_gives_one_purchase_and_one_session(app: Env, shop: Shop) -> None:
    _, token = app.user()
    first = shop.buy(token, "small", key="k-1")
    again = shop.buy(token, "small", key="k-1")
    assert (first.status, again.status) == (201, 201)
    assert again.json == first.json
    assert len(shop.standin._sessions) == 1
    shop.buy(token, "large", key="k-1").problem(409, "idempotency_key_reused")
    assert len(app.api.call("GET", "/me/purchases", token=token).json["items"]) == 1


def test_stripe_unreachable_is_503_and_leaves_no_purchase(app: Env, shop: Shop, configure: Any) -> None:
    configure(STRIPE_API_BASE="http://127.0.0.1:9/_local/stripe")
    _, token = app.user()
    shop.buy(token).problem(503, "service_unavailable")
    assert app.api.call("GET", "/me/purchases", token=token).json["items"] == []


def test_a_wrong_api_key_is_503_not_a_leak(app: Env, shop: Shop, configure: Any) -> None:
    configure(STRIPE_SECRET_KEY="sk_test_wrong")
    _, token = app.user()
    body = shop.buy(token).problem(503, "service_unavailable")
    assert "sk_test" not in json.dumps(body)


def test_purchases_list_newest_first_and_others_are_404(app: Env, shop: Shop) -> None:
    _, token = app.user()
    _, other = app.user()
    ids = [_started(shop, token)["purchase"]["id"] for _ in range(3)]
    page = app.api.call("GET", "/me/purchases", token=token, query={"limit": "2"}).json
    rest = app.api.call("GET", "/me/purchases", token=token, query={"cursor": page["nextCursor"]}).json
    assert [p["id"] for p in page["items"] + rest["items"]] == ids[::-1]
    assert rest["nextCursor"] is None
    app.api.call("GET", f"/me/purchases/{ids[0]}", token=other).problem(404, "not_found")
    app.api.call("GET", "/me/purchases/nope", token=token).problem(404, "not_found")


def test_admin_lists_purchases_by_status(app: Env, shop: Shop) -> None:
    _, admin = app.user(admin=True)
    _, token = app.user()
    paid = _started(shop, token)
    _started(shop, token)
    shop.pay(paid["checkoutUrl"])
    everything = app.api.call("GET", "/admin/purchases", token=admin).json["items"]
    assert len(everything) == 2
    only_paid = app.api.call("GET", "/admin/purchases", token=admin, query={"status": "PAID"}).json["items"]
    assert [p["id"] for p in only_paid] == [paid["purchase"]["id"]]
    app.api.call("GET", "/admin/purchases", token=admin, query={"status": "NOPE"}).problem(
        422, "validation_error"
    )
    app.api.call("GET", "/admin/purchases", token=token).problem(403, "forbidden")


# ---- the signature -------------------------------------------------------------------------------------


def test_bad_missing_stale_foreign_or_tampered_signatures_are_400(app: Env, shop: Shop) -> None:
    _, token = app.user()
    purchase = _started(shop, token)["purchase"]
    event = checkout_event("checkout.session.completed", purchase)
    shop.deliver(event, signature="").problem(400, "invalid_signature")
    shop.deliver(event, signature="t=1,v1=deadbeef").problem(400, "invalid_signature")
    shop.deliver(event, signature="garbage").problem(400, "invalid_signature")
    shop.deliver(event, secret="whsec_someone_else").problem(400, "invalid_signature")
    shop.deliver(event, timestamp=int(time.time()) - 301).problem(400, "invalid_signature")
    shop.post_raw(b"{}", None).problem(400, "invalid_signature")
    body = json.dumps(event).encode()
    from devstack.stack.stripe import sign

    header = sign(body, WEBHOOK_SECRET)
    tampered = body.replace(b'"amount_total": 499', b'"amount_total": 1')
    assert tampered != body
    shop.post_raw(tampered, header).problem(400, "invalid_signature")
    # None of them changed anything.
    assert _purchase(app, token, purchase["id"])["status"] == "PENDING"
    assert _coins(app, token) == 100
    # The same event, properly signed (within the tolerance), is accepted.
    assert shop.deliver(event, timestamp=int(time.time()) - 200).status == 200
    assert _coins(app, token) == 600


def test_a_base64_body_is_verified_as_the_bytes_sent(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    purchase = _started(shop, token)["purchase"]
    reply = shop.deliver(checkout_event("checkout.session.completed", purchase), base64_body=True)
    assert (reply.status, reply.json["outcome"]) == (200, "credited")
    assert _coins(app, token) == 500


def test_unknown_and_unmatched_events_are_200_and_change_nothing(app: Env, shop: Shop) -> None:
    _, token = app.user()
    reply = shop.deliver({"id": "evt_x", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    assert (reply.status, reply.json["outcome"]) == (200, "ignored")
    ghost = {
        "id": "nope",
        "userId": "nobody",
        "checkoutSessionId": "cs_x",
        "amountCents": 499,
        "currency": "usd",
    }
    reply = shop.deliver(checkout_event("checkout.session.completed", ghost))
    assert (reply.status, reply.json["outcome"]) == (200, "unmatched")
    assert _coins(app, token) == 100


# ---- settlement ---------------------------------------------------------------------------------------


def test_a_paid_checkout_credits_once_despite_double_delivery(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=100)
    started = _started(shop, token)
    assert shop.pay(started["checkoutUrl"]) == 303
    # The stand-in delivered checkout.session.completed twice.
    assert [(t, s) for t, s, _ in shop.deliveries] == [("checkout.session.completed", 200)] * 2
    assert sorted(o for _, _, o in shop.deliveries) == ["credited", "duplicate"]
    purchase = _purchase(app, token, started["purchase"]["id"])
    assert purchase["status"] == "PAID" and purchase["paidAt"]
    assert _coins(app, token) == 600
    entry = _ledger(app, token)[-1]
    assert (entry["reason"], entry["amount"], entry["balanceAfter"], entry["purchaseId"]) == (
        "purchase",
        500,
        600,
        purchase["id"],
    )


def test_async_payments_credit_on_success_and_fail_on_failure(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    ok, bad = _started(shop, token), _started(shop, token)
    shop.pay(ok["checkoutUrl"], "async_paid", shuffle=True)
    shop.pay(bad["checkoutUrl"], "async_failed")
    assert _purchase(app, token, ok["purchase"]["id"])["status"] == "PAID"
    failed = _purchase(app, token, bad["purchase"]["id"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "payment_failed")
    assert _coins(app, token) == 500
    assert [e["reason"] for e in _ledger(app, token)] == ["purchase"]


def test_cancel_expires_the_purchase_without_coins(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=5)
    started = _started(shop, token)
    assert shop.pay(started["checkoutUrl"], "cancel") == 303
    assert _purchase(app, token, started["purchase"]["id"])["status"] == "EXPIRED"
    assert _coins(app, token) == 5
    # A late "completed" after the expiry of an unpaid session changes nothing; the page is closed.
    assert shop.pay(started["checkoutUrl"], "paid") == 410


def test_an_amount_or_currency_mismatch_is_not_credited(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    for changes in ({"amount": 1}, {"currency": "eur"}):
        purchase = _started(shop, token)["purchase"]
        reply = shop.deliver(checkout_event("checkout.session.completed", purchase, **changes))
        assert reply.json["outcome"] == "amount_mismatch"
        found = _purchase(app, token, purchase["id"])
        assert (found["status"], found["failureReason"]) == ("FAILED", "amount_mismatch")
        # A later event with the right amount does not credit a purchase whose payment did not match.
        shop.deliver(checkout_event("checkout.session.async_payment_succeeded", purchase))
        assert _purchase(app, token, purchase["id"])["status"] == "FAILED"
    assert _coins(app, token) == 0


@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_a_refund_or_dispute_reverses_once_and_may_go_negative(app: Env, shop: Shop, kind: str) -> None:
    _, token = app.user(coins=0)
    started = _started(shop, token)
    shop.pay(started["checkoutUrl"])
    # Spend most of it: the reversal takes the balance below zero, the one way there is.
    app.api.call("POST", "/images/generate", token=token, body={"prompt": "a cat"})
    spent = _coins(app, token)
    assert spent == 450
    assert shop.reverse(started["purchase"]["id"], kind) == 200
    assert shop.reverse(started["purchase"]["id"], "dispute" if kind == "refund" else "refund") == 200
    purchase = _purchase(app, token, started["purchase"]["id"])
    assert purchase["status"] == "REVERSED"
    assert _coins(app, token) == -50
    ledger = _ledger(app, token)
    reversals = [e for e in ledger if e["reason"] == "purchase_reversal"]
    assert [(e["amount"], e["balanceAfter"], e["purchaseId"]) for e in reversals] == [
        (-500, -50, purchase["id"])
    ]
    assert sum(e["amount"] for e in ledger) == -50
    # Spending needs coins >= cost: nothing more until the balance is back.
    app.api.call("POST", "/images/generate", token=token, body={"prompt": "a dog"}).problem(
        402, "insufficient_coins"
    )


def test_a_partial_refund_is_not_a_reversal(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    purchase = _started(shop, token)["purchase"]
    shop.deliver(checkout_event("checkout.session.completed", purchase))
    reply = shop.deliver(charge_event("charge.refunded", purchase, refunded=100))
    assert reply.status == 200
    assert _purchase(app, token, purchase["id"])["status"] == "PAID"
    assert _coins(app, token) == 500


def test_a_reversal_before_the_credit_is_applied_when_the_credit_lands(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    purchase = _started(shop, token)["purchase"]
    # The charge names only its PaymentIntent: the stand-in does not know it yet, so the application
    # asks Stripe for the PaymentIntent's metadata. Here the session was created but not paid, so
    # make the PaymentIntent known to the stand-in first.
    session = shop.standin._sessions[purchase["checkoutSessionId"]]
    session.payment_intent = "pi_early"
    refunded = shop.deliver(charge_event("charge.refunded", purchase, payment_intent="pi_early"))
    assert refunded.json["outcome"] == "reversal_pending"
    assert _purchase(app, token, purchase["id"])["status"] == "PENDING"
    assert _coins(app, token) == 0
    credited = shop.deliver(checkout_event("checkout.session.completed", purchase, payment_intent="pi_early"))
    assert credited.json["outcome"] == "credited"
    assert _purchase(app, token, purchase["id"])["status"] == "REVERSED"
    assert _coins(app, token) == 0
    assert [(e["reason"], e["amount"]) for e in _ledger(app, token)] == [
        ("purchase", 500),
        ("purchase_reversal", -500),
    ]
    # Replays of either change nothing.
    shop.deliver(charge_event("charge.refunded", purchase, payment_intent="pi_early"))
    shop.deliver(checkout_event("checkout.session.completed", purchase, payment_intent="pi_early"))
    assert len(_ledger(app, token)) == 2


def test_a_replayed_event_id_changes_nothing(app: Env, shop: Shop) -> None:
    _, token = app.user(coins=0)
    purchase = _started(shop, token)["purchase"]
    event = checkout_event("checkout.session.expired", purchase, payment_status="unpaid")
    assert shop.deliver(event).json["outcome"] == "expired"
    assert shop.deliver(event).json["outcome"] in ("duplicate", "recorded")
    assert _purchase(app, token, purchase["id"])["status"] == "EXPIRED"


def test_the_sample_webhook_event_credits_through_the_handler(app: Env, shop: Shop) -> None:
    """events/stripe_webhook/checkout-session-completed.json, pointed at a real purchase and signed."""
    import sys
    from pathlib import Path

    from devstack.stack.stripe import sign

    user, token = app.user(coins=0)
    purchase = _started(shop, token)["purchase"]
    sample = (
        Path(__file__).resolve().parents[2] / "events" / "stripe_webhook" / "checkout-session-completed.json"
    )
    event = json.loads(sample.read_text())
    body = json.loads(event["body"])
    session = body["data"]["object"]
    session.update(
        id=purchase["checkoutSessionId"],
        client_reference_id=purchase["id"],
        metadata={"purchaseId": purchase["id"], "userId": user.id},
    )
    event["body"] = json.dumps(body)
    event["headers"]["stripe-signature"] = sign(event["body"].encode(), WEBHOOK_SECRET)
    conftest = sys.modules[type(app.api).__module__]
    result = conftest.handler("stripe_webhook")(event, conftest.LambdaContext(function_name="stripe_webhook"))
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["outcome"] == "credited"
    assert _coins(app, token) == 500


def test_erasing_the_account_removes_its_purchases_and_their_aliases(app: Env, shop: Shop) -> None:
    from tests.reliability.conftest import scan

    user, token = app.user(coins=0)
    started = _started(shop, token)
    shop.pay(started["checkoutUrl"])
    assert any(i["pk"].startswith("PAYMENTINTENT#") and i["user_id"] == user.id for i in scan(app.table))
    assert app.api.call("DELETE", "/me", token=token).status in (202, 204)
    app.pipeline.drain()
    left = [
        i for i in scan(app.table) if user.id in (i.get("user_id"), i.get("id")) or user.id in str(i["pk"])
    ]
    assert left == [], left
    # A late refund of the erased account's purchase is answered and changes nothing.
    assert shop.reverse(started["purchase"]["id"]) == 200
    assert shop.deliveries[-1][1:] == (200, "unmatched")
