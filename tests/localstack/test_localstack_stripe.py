"""The Stripe stand-in on the local stack with the real application: the SDK's Checkout Session calls, the
checkout page and its outcomes, signed webhooks delivered twice through the gateway to the real webhook
function, out of order on request, refunds and disputes; and the stand-in's own rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from devstack.stack.stripe import parse_form, sign
from tests.localstack.conftest import ROOT, RunningStack, eventually, request, start_stack


@pytest.fixture(scope="module")
def app_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("stripe"),
        template=ROOT / "template.yaml",
        env={"SIGNUP_BONUS_COINS": "0", "GENERATION_COST": "50"},
        timeout=90,
    )
    yield running
    assert running.stop() == 0, running.output()


def _token(stack: RunningStack, email: str) -> str:
    reply = stack.get(f"/_local/token?email={email}")
    assert reply.status == 200, reply.body
    token: str = reply.json()["token"]
    return token


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


def _checkout(stack: RunningStack, token: str, pack: str = "small") -> dict[str, Any]:
    reply = stack.call(
        "POST", "/shop/checkout", headers=_auth(token), body=json.dumps({"packId": pack}).encode()
    )
    assert reply.status == 201, reply.body
    started: dict[str, Any] = reply.json()
    return started


def _coins(stack: RunningStack, token: str) -> int:
    coins: int = stack.get("/me", headers=_auth(token)).json()["coins"]
    return coins


def _purchase(stack: RunningStack, token: str, purchase_id: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.get(f"/me/purchases/{purchase_id}", headers=_auth(token)).json()
    return found


def _ledger(stack: RunningStack, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = stack.get("/me/ledger?limit=100", headers=_auth(token)).json()["items"]
    return items[::-1]


def _status_becomes(stack: RunningStack, token: str, purchase_id: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: (p := _purchase(stack, token, purchase_id))["status"] == status and p, timeout=20
    )
    return found


def test_a_paid_checkout_credits_once_under_double_delivery(app_stack: RunningStack) -> None:
    token = _token(app_stack, "buyer@example.com")
    started = _checkout(app_stack, token)
    url = urlsplit(started["checkoutUrl"])
    assert url.path.startswith("/_local/stripe/checkout/cs_test_")
    page = request("GET", started["checkoutUrl"])
    assert page.status == 200 and b">Pay</button>" in page.body and b">Cancel</button>" in page.body
    paid = request("POST", started["checkoutUrl"], body=b"outcome=paid")
    assert paid.status == 303
    location = paid.header("location") or ""
    assert location.endswith(f"/shop/success?purchase={started['purchase']['id']}")
    purchase = _status_becomes(app_stack, token, started["purchase"]["id"], "PAID")
    assert purchase["paidAt"]
    # Both deliveries reached the real function: the second one found nothing to do.
    eventually(lambda: app_stack.output().count("POST /webhooks/stripe") >= 2)
    assert _coins(app_stack, token) == 500
    assert [(e["reason"], e["amount"]) for e in _ledger(app_stack, token)] == [("purchase", 500)]
    assert request("GET", started["checkoutUrl"]).status == 410  # the page closes once used


def test_cancel_async_outcomes_and_shuffled_delivery(app_stack: RunningStack) -> None:
    token = _token(app_stack, "async@example.com")
    cancelled, late, failed = (_checkout(app_stack, token) for _ in range(3))
    assert request("GET", cancelled["checkoutUrl"] + "?outcome=cancel").status == 303
    assert request("GET", late["checkoutUrl"] + "?outcome=async_paid&shuffle=1").status == 303
    assert request("GET", failed["checkoutUrl"] + "?outcome=async_failed&shuffle=1").status == 303
    _status_becomes(app_stack, token, cancelled["purchase"]["id"], "EXPIRED")
    _status_becomes(app_stack, token, late["purchase"]["id"], "PAID")
    failure = _status_becomes(app_stack, token, failed["purchase"]["id"], "FAILED")
    assert failure["failureReason"] == "payment_failed"
    assert _coins(app_stack, token) == 500
    assert request("GET", cancelled["checkoutUrl"] + "?outcome=nope").status in (400, 410)


def test_refund_and_dispute_reverse_once_and_may_go_negative(app_stack: RunningStack) -> None:
    token = _token(app_stack, "refunded@example.com")
    started = _checkout(app_stack, token)
    purchase_id = started["purchase"]["id"]
    assert request("GET", started["checkoutUrl"] + "?outcome=paid").status == 303
    _status_becomes(app_stack, token, purchase_id, "PAID")
    generated = app_stack.call(
        "POST", "/images/generate", headers=_auth(token), body=json.dumps({"prompt": "a boat"}).encode()
    )
    assert generated.status == 202, generated.body
    assert app_stack.call("POST", f"/_local/stripe/refund/{purchase_id}").status == 200
    assert app_stack.call("POST", f"/_local/stripe/dispute/{purchase_id}").status == 200
    _status_becomes(app_stack, token, purchase_id, "REVERSED")
    eventually(lambda: _coins(app_stack, token) == -50)
    reasons = [e["reason"] for e in _ledger(app_stack, token)]
    assert reasons == ["purchase", "image_generation", "purchase_reversal"], reasons
    assert app_stack.call("POST", "/_local/stripe/refund/not-a-purchase").status == 404


def test_the_webhook_refuses_what_the_stand_in_did_not_sign(app_stack: RunningStack) -> None:
    body = json.dumps(
        {"id": "evt_forged", "type": "checkout.session.completed", "data": {"object": {}}}
    ).encode()
    for signature in (None, sign(body, "whsec_someone_else"), "t=1,v1=00"):
        headers = {"content-type": "application/json"}
        if signature:
            headers["stripe-signature"] = signature
        reply = app_stack.call("POST", "/webhooks/stripe", headers=headers, body=body)
        assert reply.status == 400 and reply.json()["code"] == "invalid_signature"


def test_the_api_wants_the_secret_key(app_stack: RunningStack) -> None:
    base = f"{app_stack.url}/_local/stripe/v1/checkout/sessions"
    form = (
        b"mode=payment&success_url=http%3A%2F%2Fx%2Fs&cancel_url=http%3A%2F%2Fx%2Fc"
        b"&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd"
        b"&line_items[0][price_data][unit_amount]=499&line_items[0][price_data][product_data][name]=p"
    )
    refused = request("POST", base, headers={"authorization": "Bearer sk_wrong"}, body=form)
    assert refused.status == 401 and refused.json()["error"]["type"] == "authentication_error"


def test_packs_are_served_cacheable(app_stack: RunningStack) -> None:
    reply = app_stack.get("/shop/packs")
    assert reply.status == 200 and reply.header("cache-control") == "public, max-age=60"
    assert [p["id"] for p in reply.json()["items"]] == ["small", "medium", "large"]


def test_parse_form_reads_the_sdk_encoding() -> None:
    body = (
        b"mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd"
        b"&line_items[1][quantity]=2&metadata[purchaseId]=p1&payment_intent_data[metadata][userId]=u1"
    )
    assert parse_form(body) == {
        "mode": "payment",
        "line_items": [{"quantity": "1", "price_data": {"currency": "usd"}}, {"quantity": "2"}],
        "metadata": {"purchaseId": "p1"},
        "payment_intent_data": {"metadata": {"userId": "u1"}},
    }
