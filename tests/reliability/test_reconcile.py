"""``python -m ops.reconcile``: silent on clean data, names every drifting user."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.api.conftest import Env
from tests.reliability.conftest import png, settle

ROOT = Path(__file__).resolve().parents[2]


def _activity(app: Env) -> dict[str, Any]:
    """Users with every kind of ledger entry: bonus, generation, refund, upload, grant, debit."""
    admin, admin_token = app.user(admin=True)
    users = {}
    for name in ("spender", "refunded", "uploader", "idle"):
        users[name] = app.user(coins=200)
    _, token = users["spender"]
    for prompt in ("one", "two"):
        body = {"prompt": prompt, "width": 256, "height": 256}
        assert app.api.call("POST", "/images/generate", token=token, body=body).status == 202
    _, token = users["refunded"]
    body = {"prompt": "no [[fail:permanent]]", "width": 256, "height": 256}
    assert app.api.call("POST", "/images/generate", token=token, body=body).status == 202
    _, token = users["uploader"]
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "p.png", "contentType": "image/png", "size": 100},
    )
    boto3.client("s3").put_object(Bucket=app.bucket, Key=reply.json["image"]["storageKey"], Body=png())
    for user, _ in users.values():
        for amount in (25, -10):
            app.api.call(
                "POST",
                f"/admin/users/{user.id}/coins",
                token=admin_token,
                body={"amount": amount, "reason": "r"},
            )
    # A deleted image keeps its charge and leaves the counters consistent.
    spender_images = app.api.call("GET", "/images", token=users["spender"][1]).json["items"]
    app.api.call("DELETE", f"/images/{spender_images[0]['id']}", token=users["spender"][1])
    settle(app)
    return {"admin": admin, **{k: v[0] for k, v in users.items()}}


def _run_module(app: Env) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    return subprocess.run(
        [sys.executable, "-m", "ops.reconcile", "--table", app.table],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def _reconcile(app: Env) -> tuple[int, str]:
    from ops.reconcile import main

    out = io.StringIO()
    code = main(["--table", app.table], out=out)
    return code, out.getvalue()


def test_clean_data_reconciles_and_each_kind_of_drift_is_named(app: Env, configure: Any) -> None:
    configure(GENERATION_COST="40", UPLOAD_COST="5", RATE_LIMIT_GENERATE_PER_MINUTE="1000")
    people = _activity(app)
    clean = _run_module(app)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip().splitlines() == ["reconciled 5 users: 0 drifting"]

    # Drift, written straight into the table (as a buggy writer or a hand edit would).
    ddb = boto3.client("dynamodb")

    def update(pk: str, sk: str, expression: str, values: dict[str, Any]) -> None:
        ddb.update_item(
            TableName=app.table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    spender, refunded, uploader, idle = (people[k] for k in ("spender", "refunded", "uploader", "idle"))
    update(f"USER#{spender.id}", "PROFILE", "SET coins = coins + :n", {":n": {"N": "5"}})
    update(f"USER#{refunded.id}", "LEDGER#000000000002", "SET balance_after = :b", {":b": {"N": "1"}})
    update(f"USER#{uploader.id}", "PROFILE", "SET total_images = total_images + :n", {":n": {"N": "1"}})
    update(f"USER#{idle.id}", "PROFILE", "SET total_coins_used = :n", {":n": {"N": "7"}})

    drifted = _run_module(app)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    lines = drifted.stdout.strip().splitlines()
    assert lines[-1] == "reconciled 5 users: 4 drifting"
    by_user = {line.split()[2]: line for line in lines[:-1]}
    assert set(by_user) == {spender.id, refunded.id, uploader.id, idle.id}
    assert f"balance {215 - 80 + 5} != ledger sum {215 - 80}" in by_user[spender.id]
    assert "ledger seq 2 has balanceAfter 1, running balance is 160" in by_user[refunded.id]
    assert "totalImages 2 != 1 existing images" in by_user[uploader.id]
    assert "totalCoinsUsed 7 != 0 charged net of refunds" in by_user[idle.id]
    assert people["admin"].id not in drifted.stdout

    # Repaired, all clean again (checked in-process this time).
    update(f"USER#{spender.id}", "PROFILE", "SET coins = coins - :n", {":n": {"N": "5"}})
    update(f"USER#{refunded.id}", "LEDGER#000000000002", "SET balance_after = :b", {":b": {"N": "160"}})
    update(f"USER#{uploader.id}", "PROFILE", "SET total_images = total_images - :n", {":n": {"N": "1"}})
    update(f"USER#{idle.id}", "PROFILE", "SET total_coins_used = :n", {":n": {"N": "0"}})
    assert _reconcile(app) == (0, "reconciled 5 users: 0 drifting\n")


def test_image_level_drift_refunds_and_charges(app: Env) -> None:
    """A FAILED paid image without its refund, and a refund of an image that did not fail."""
    user, token = app.user(coins=100)
    done = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "a", "width": 256, "height": 256}
    ).json
    stuck = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "b", "width": 256, "height": 256}
    ).json
    settle(app)  # both COMPLETED
    ddb = boto3.client("dynamodb")
    key = {"pk": {"S": f"IMAGE#{stuck['id']}"}, "sk": {"S": "IMAGE"}}
    ddb.update_item(
        TableName=app.table,
        Key=key,
        UpdateExpression="SET #s = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": "FAILED"}},
    )
    code, output = _reconcile(app)
    assert code == 1
    assert f"image {stuck['id']} FAILED without its refund" in output
    assert done["id"] not in output and user.id in output


@pytest.mark.parametrize(
    ("entries", "balance", "expected"),
    [
        ([(1, 100, 100), (2, -50, 50)], 50, []),
        ([], 0, []),
        ([(1, 100, 100), (3, -50, 50)], 50, ["has seq 3, expected 2"]),
        ([(1, 100, 100), (2, -50, 60)], 50, ["ledger seq 2 has balanceAfter 60, running balance is 50"]),
        ([(1, 100, 100)], 90, ["balance 90 != ledger sum 100", "last balanceAfter 100 != balance 90"]),
        ([(1, 10, 10), (2, -20, 0)], -10, ["balance -10 is negative"]),
    ],
)
def test_ledger_chain_checks(entries: list[tuple[int, int, int]], balance: int, expected: list[str]) -> None:
    from imagegen.models import LedgerEntry, LedgerReason

    from ops.reconcile import ledger_problems

    ledger = []
    for seq, amount, after in entries:
        # LedgerEntry refuses a negative balanceAfter, so the last chain stops at 0 while the
        # balance it is checked against is negative.
        ledger.append(
            LedgerEntry(
                id=f"e{seq}",
                user_id="u",
                amount=amount,
                balance_after=after,
                reason=LedgerReason.ADMIN_GRANT if amount > 0 else LedgerReason.ADMIN_DEBIT,
                seq=seq,
            )
        )
    problems = ledger_problems(balance, ledger)
    for fragment in expected:
        assert any(fragment in p for p in problems), problems
    if not expected:
        assert problems == []


def _entry(seq: int, amount: int, after: int, reason: str, purchase_id: str | None = None) -> Any:
    from imagegen.models import LedgerEntry, LedgerReason

    return LedgerEntry(
        id=f"e{seq}",
        user_id="u",
        amount=amount,
        balance_after=after,
        reason=LedgerReason(reason),
        seq=seq,
        purchase_id=purchase_id,
    )


def test_a_negative_balance_is_drift_only_without_a_purchase_reversal() -> None:
    from ops.reconcile import ledger_problems

    reversed_ = [
        _entry(1, 500, 500, "purchase", "p1"),
        _entry(2, -450, 50, "image_generation"),
        _entry(3, -500, -450, "purchase_reversal", "p1"),
        _entry(4, 10, -440, "admin_grant"),
    ]
    assert ledger_problems(-440, reversed_) == []
    problems = ledger_problems(-440, reversed_[:2])
    assert any("is negative without a purchase_reversal" in p for p in problems), problems


@pytest.mark.parametrize(
    ("status", "entries", "expected"),
    [
        ("PAID", [(1, 500, 500, "purchase")], []),
        ("REVERSED", [(1, 500, 500, "purchase"), (2, -500, 0, "purchase_reversal")], []),
        ("PENDING", [], []),
        ("PAID", [(1, 500, 500, "purchase"), (2, 500, 1000, "purchase")], ["credited 2 times"]),
        (
            "REVERSED",
            [
                (1, 500, 500, "purchase"),
                (2, -500, 0, "purchase_reversal"),
                (3, -500, -500, "purchase_reversal"),
            ],
            ["reversed 2 times"],
        ),
        ("REVERSED", [(1, -500, -500, "purchase_reversal")], ["reversed before it was credited"]),
        ("PAID", [(1, 400, 400, "purchase")], ["other than its 500 coins"]),
        ("EXPIRED", [(1, 500, 500, "purchase")], ["is EXPIRED with 1 credit(s)"]),
        ("PAID", [], ["is PAID with 0 credit(s)"]),
    ],
)
def test_purchase_checks(status: str, entries: list[tuple[int, int, int, str]], expected: list[str]) -> None:
    from imagegen.purchases import Purchase, PurchaseStatus

    from ops.reconcile import purchase_problems

    purchase = Purchase(
        id="p1",
        user_id="u",
        pack_id="small",
        coins=500,
        amount_cents=499,
        currency="usd",
        status=PurchaseStatus(status),
    )
    problems = purchase_problems([purchase], [_entry(*e, purchase_id="p1") for e in entries])
    for fragment in expected:
        assert any(fragment in p for p in problems), problems
    if not expected:
        assert problems == []


def test_purchase_entries_of_an_unknown_purchase_and_a_waiting_reversal_are_drift() -> None:
    from dataclasses import replace

    from imagegen.purchases import Purchase, PurchaseStatus

    from ops.reconcile import purchase_problems

    purchase = Purchase(
        id="p1",
        user_id="u",
        pack_id="small",
        coins=5,
        amount_cents=1,
        currency="usd",
        status=PurchaseStatus.PAID,
    )
    waiting = replace(purchase, credited_at="2026-01-01T00:00:00.000Z", reversal_pending="refunded")
    problems = purchase_problems(
        [waiting], [_entry(1, 5, 5, "purchase", "p1"), _entry(2, 5, 10, "purchase", "p9")]
    )
    assert any("unknown purchase p9" in p for p in problems), problems
    assert any("reversal still waits" in p for p in problems), problems


def test_collection_counts_are_reconciled(app: Env) -> None:
    """Collections whose imageCount, completed count or members drift, and images whose collection
    count does, are named; batch adds, removes and deletes leave nothing to report."""
    user, token = app.user(coins=500)
    ids = []
    for prompt in ("one", "two", "three"):
        body = {"prompt": prompt, "width": 256, "height": 256}
        ids.append(app.api.call("POST", "/images/generate", token=token, body=body).json["id"])
    settle(app)
    collection = app.api.call("POST", "/collections", token=token, body={"title": "Kept"}).json
    other = app.api.call("POST", "/collections", token=token, body={"title": "Other"}).json
    for target, chosen in ((collection, ids), (other, ids[:2])):
        body = {"action": "addToCollection", "collectionId": target["id"], "imageIds": chosen}
        assert app.api.call("POST", "/images/batch", token=token, body=body).status == 200
    body = {"action": "removeFromCollection", "collectionId": other["id"], "imageIds": [ids[0]]}
    app.api.call("POST", "/images/batch", token=token, body=body)
    app.api.call("POST", "/images/batch", token=token, body={"action": "delete", "imageIds": [ids[2]]})
    assert _reconcile(app) == (0, "reconciled 1 users: 0 drifting\n")

    ddb = boto3.client("dynamodb")
    ddb.update_item(
        TableName=app.table,
        Key={"pk": {"S": f"USER#{user.id}"}, "sk": {"S": f"COLLECTION#{collection['id']}"}},
        UpdateExpression="SET image_count = :n",
        ExpressionAttributeValues={":n": {"N": "5"}},
    )
    ddb.update_item(
        TableName=app.table,
        Key={"pk": {"S": f"IMAGE#{ids[1]}"}, "sk": {"S": "IMAGE"}},
        UpdateExpression="SET collection_count = :n",
        ExpressionAttributeValues={":n": {"N": "7"}},
    )
    code, out = _reconcile(app)
    assert code == 1
    assert f"collection {collection['id']} has imageCount 5 but 2 members" in out
    assert f"image {ids[1]} counts 7 collections, is in 2" in out
    assert f"image {ids[0]} " not in out
