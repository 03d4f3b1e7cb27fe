"""Faults injected under the real handlers: S3 and DynamoDB errors, throttling, conditional failures,
provider timeouts and crashes between two steps. After the platform's own retries (queue
redelivery, dead letters) and the sweeper, every image is COMPLETED, or FAILED with its refund; no
object is orphaned; no coins are taken without an image."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.api.conftest import Env
from tests.reliability.conftest import (
    Faults,
    audit_end_state,
    check_books,
    png,
    settle,
)

SMALL = {"width": 256, "height": 256}


def _generate(app: Env, token: str, prompt: str = "a harbour", **headers: str) -> dict[str, Any]:
    reply = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": prompt, **SMALL}, headers=headers
    )
    assert reply.status == 202, reply.raw
    image: dict[str, Any] = reply.json
    return image


def _upload(app: Env, token: str, data: bytes) -> dict[str, Any]:
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "f.png", "contentType": "image/png", "size": 100},
    )
    assert reply.status == 201, reply.raw
    image: dict[str, Any] = reply.json["image"]
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data)
    return image


def _image(app: Env, token: str, image_id: str) -> dict[str, Any]:
    body: dict[str, Any] = app.api.call("GET", f"/images/{image_id}", token=token).json
    return body


def _key_starts(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: str(params.get("Key", "")).startswith(prefix)


def _key_ends(suffix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: str(params.get("Key", "")).endswith(suffix)


class _Provider:
    """A fault-injecting wrapper of the image provider port."""

    name = "faulty"

    def __init__(self, inner: Any, before: Callable[[int], None]) -> None:
        self.inner = inner
        self.before = before
        self.calls = 0

    def generate(self, prompt: str, width: int, height: int) -> Any:
        self.calls += 1
        self.before(self.calls)
        return self.inner.generate(prompt, width, height)

    def render(self, request: Any) -> Any:
        self.calls += 1
        self.before(self.calls)
        return self.inner.render(request)


def _wrap_provider(app: Env, before: Callable[[int], None]) -> _Provider:
    wrapper = _Provider(app.ctx.provider, before)
    app.ctx.provider = wrapper
    return wrapper


# ---- storage errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(("failures", "expected"), [(2, "COMPLETED"), (None, "FAILED")])
def test_generator_put_object_errors(app: Env, faults: Faults, failures: int | None, expected: str) -> None:
    _, token = app.user(coins=100)
    fault = faults.fail(faults.s3(), "PutObject", "SlowDown", times=failures, match=_key_starts("images/"))
    image = _generate(app, token)
    app.pipeline.drain()
    faults.clear()
    settle(app)
    done = _image(app, token, image["id"])
    assert done["status"] == expected, done
    assert fault.hits == (2 if failures else 3)
    if expected == "FAILED":
        assert done["failureReason"] == "generation_failed"
    assert check_books(app, token).coins == (50 if expected == "COMPLETED" else 100)
    audit_end_state(app)


@pytest.mark.parametrize(
    ("operation", "match", "failures", "expected"),
    [
        ("GetObject", _key_starts("images/"), 1, "COMPLETED"),
        ("GetObject", _key_starts("images/"), None, "FAILED"),
        ("PutObject", _key_ends("-1024.webp"), 2, "COMPLETED"),
        ("PutObject", _key_ends("-1024.webp"), None, "FAILED"),
    ],
    ids=["get-once", "get-always", "rendition-twice", "rendition-always"],
)
def test_thumbnailer_storage_errors(
    app: Env,
    configure: Any,
    faults: Faults,
    operation: str,
    match: Callable[[dict[str, Any]], bool],
    failures: int | None,
    expected: str,
) -> None:
    configure(UPLOAD_COST="4")
    _, token = app.user(coins=10)
    fault = faults.fail(faults.s3(), operation, "InternalError", status=500, times=failures, match=match)
    image = _upload(app, token, png(300, 200))
    app.pipeline.drain()
    faults.clear()
    settle(app)
    done = _image(app, token, image["id"])
    assert done["status"] == expected, done
    assert fault.hits >= 1
    if expected == "FAILED":
        assert done["failureReason"] == "processing_failed"
        assert app.objects("thumbnails/") == [] and app.objects("images/") == []
    assert check_books(app, token).coins == (6 if expected == "COMPLETED" else 10)
    audit_end_state(app)


# ---- DynamoDB errors ----------------------------------------------------------------------------
def test_throttled_charge_is_503_with_nothing_taken_and_the_same_key_then_charges_once(
    app: Env, faults: Faults
) -> None:
    _, token = app.user(coins=100)
    fault = faults.fail(
        faults.dynamodb(), "TransactWriteItems", "ProvisionedThroughputExceededException", status=400
    )
    key = {"Idempotency-Key": "throttled-1"}
    body = {"prompt": "throttled", **SMALL}
    first = app.api.call("POST", "/images/generate", token=token, body=body, headers=key)
    first.problem(503, "service_unavailable")
    assert "Provisioned" not in first.raw and "Throughput" not in first.raw
    assert fault.hits == 1
    books = check_books(app, token)
    assert (books.coins, books.images) == (100, [])
    retry = app.api.call("POST", "/images/generate", token=token, body=body, headers=key)
    assert retry.status == 202, retry.raw
    assert app.api.call("POST", "/images/generate", token=token, body=body, headers=key).json == retry.json
    settle(app)
    assert check_books(app, token).coins == 50
    audit_end_state(app)


def test_throttling_on_the_idempotency_key_lookup_is_503_and_changes_nothing(
    app: Env, faults: Faults
) -> None:
    _, token = app.user(coins=100)

    def key_lookup(params: dict[str, Any]) -> bool:
        return str(params.get("Key", {}).get("sk", {}).get("S", "")).startswith("OP#client:")

    lookup = faults.fail(
        faults.dynamodb(), "GetItem", "ThrottlingException", status=400, times=None, match=key_lookup
    )
    body = {"prompt": "x", **SMALL}
    reply = app.api.call("POST", "/images/generate", token=token, body=body, headers={"Idempotency-Key": "k"})
    reply.problem(503, "service_unavailable")
    assert lookup.hits >= 1
    assert check_books(app, token).coins == 100
    faults.clear()
    again = app.api.call("POST", "/images/generate", token=token, body=body, headers={"Idempotency-Key": "k"})
    assert again.status == 202
    assert check_books(app, token).coins == 50


def test_transaction_conflicts_are_retried_with_an_exact_balance_after(app: Env, faults: Faults) -> None:
    """Cancelled transactions (TransactionConflict) and a real conditional failure caused by a
    concurrent writer committing between the read and the write: retried, applied exactly once."""
    from imagegen.models import LedgerReason

    user, token = app.user(coins=100)
    conflict = faults.fail(
        faults.dynamodb(),
        "TransactWriteItems",
        "TransactionCanceledException",
        status=400,
        times=2,
        details=lambda params: {
            "CancellationReasons": [{"Code": "TransactionConflict"} for _ in params["TransactItems"]]
        },
    )
    image = _generate(app, token, "conflicted")
    assert conflict.hits == 2

    raced: list[str] = []

    def grant_first(params: dict[str, Any]) -> None:
        if not raced:  # the grant's own transaction passes through here too: once is enough
            raced.append("grant")
            from imagegen.ports import OnceKey

            app.ctx.repos.users.change_coins(
                user.id, 7, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("race-grant")
            )

    faults.before(faults.dynamodb(), "TransactWriteItems", grant_first)
    second = _generate(app, token, "raced")
    faults.clear()
    assert raced == ["grant"]
    settle(app)
    books = check_books(app, token)
    assert books.coins == 100 - 50 - 50 + 7
    assert [e["reason"] for e in books.ledger] == [
        "signup_bonus",
        "image_generation",
        "admin_grant",
        "image_generation",
    ]
    assert {image["id"], second["id"]} == {i["id"] for i in books.images}
    audit_end_state(app)


# ---- provider timeouts --------------------------------------------------------------------------
@pytest.mark.parametrize(("timeouts", "expected"), [(2, "COMPLETED"), (99, "FAILED")])
def test_provider_timeouts(app: Env, timeouts: int, expected: str) -> None:
    from imagegen.errors import TransientError

    _, token = app.user(coins=100)

    def time_out(call: int) -> None:
        if call <= timeouts:
            raise TransientError("provider timed out")

    provider = _wrap_provider(app, time_out)
    image = _generate(app, token)
    settle(app)
    done = _image(app, token, image["id"])
    assert done["status"] == expected
    assert provider.calls == 3
    assert check_books(app, token).coins == (50 if expected == "COMPLETED" else 100)
    audit_end_state(app)


# ---- crashes between two steps ---------------------------------------------------------------------
def test_generator_crash_after_storing_the_original(app: Env, faults: Faults) -> None:
    _, token = app.user(coins=100)
    crash = faults.crash_after(faults.s3(), "PutObject", match=_key_starts("images/"))
    image = _generate(app, token)
    app.pipeline.drain()
    faults.clear()
    settle(app)
    assert crash.hits == 1
    generator_runs = [i for i in app.pipeline.invocations if i[0] == "generator"]
    assert generator_runs == [("generator", 1, 1), ("generator", 1, 0)]
    assert _image(app, token, image["id"])["status"] == "COMPLETED"
    assert check_books(app, token).coins == 50
    audit_end_state(app)


def test_thumbnailer_crash_after_renditions_before_the_status_update(app: Env, faults: Faults) -> None:
    _, token = app.user(coins=100)
    crash = faults.crash_after(faults.s3(), "PutObject", match=_key_ends("-1024.webp"))
    image = _upload(app, token, png(640, 480))
    app.pipeline.drain()
    faults.clear()
    assert crash.hits == 1
    done = _image(app, token, image["id"])
    assert done["status"] == "COMPLETED" and (done["metadata"]["width"], done["metadata"]["height"]) == (
        640,
        480,
    )
    settle(app)
    audit_end_state(app)


@pytest.mark.parametrize("keyed", [True, False])
def test_api_crash_after_the_charge_before_the_enqueue(app: Env, faults: Faults, keyed: bool) -> None:
    """The request dies right after the transaction that charged and created the image. With an
    Idempotency-Key the client's retry recovers that very image; without one, the sweeper fails and
    refunds it."""
    _, token = app.user(coins=100)
    crash = faults.crash_after(faults.dynamodb(), "TransactWriteItems")
    headers = {"Idempotency-Key": "crash-1"} if keyed else {}
    body = {"prompt": "crash", **SMALL}
    app.api.call("POST", "/images/generate", token=token, body=body, headers=headers).problem(
        500, "internal_error"
    )
    faults.clear()
    assert crash.hits == 1
    retry = app.api.call("POST", "/images/generate", token=token, body=body, headers=headers)
    assert retry.status == 202, retry.raw
    settle(app)
    books = check_books(app, token)
    statuses = sorted(i["status"] for i in books.images)
    if keyed:
        assert statuses == ["COMPLETED"] and books.coins == 50
    else:
        assert statuses == ["COMPLETED", "FAILED"] and books.coins == 50
    audit_end_state(app)


# ---- failures racing the pipeline: objects written after their image FAILED -------------------------
def test_renditions_written_after_a_concurrent_refund_are_removed(app: Env, faults: Faults) -> None:
    """A refund lands while the thumbnailer works: the renditions it writes afterwards must not stay."""
    from imagegen.bootstrap import ledger_service

    _, token = app.user(coins=100)
    image = _generate(app, token)
    app.pipeline.deliver(app.queues.generation, "generator")  # original stored, image PROCESSING
    done: list[str] = []

    def refund_first(params: dict[str, Any]) -> None:
        if not done and str(params.get("Key", "")).startswith("thumbnails/"):
            done.append("refunded")
            ledger_service(app.ctx).fail_image(image["id"], "support_refund")

    faults.before(faults.s3(), "PutObject", refund_first)
    app.pipeline.drain()
    faults.clear()
    settle(app)
    assert done == ["refunded"]
    assert _image(app, token, image["id"])["status"] == "FAILED"
    assert check_books(app, token).coins == 100
    audit_end_state(app)


def test_original_stored_after_the_image_timed_out_is_removed(app: Env) -> None:
    """The image times out (as the sweeper would fail it) while the provider works: the original stored
    afterwards must not stay."""
    from imagegen.bootstrap import ledger_service

    _, token = app.user(coins=100)
    image = _generate(app, token)

    def time_out_meanwhile(call: int) -> None:
        ledger_service(app.ctx).fail_image(image["id"], "timed_out")  # what the sweeper does

    _wrap_provider(app, time_out_meanwhile)
    settle(app)
    assert _image(app, token, image["id"])["status"] == "FAILED"
    assert check_books(app, token).coins == 100
    audit_end_state(app)


def test_refund_command_crash_between_refund_and_object_deletion(app: Env, faults: Faults) -> None:
    """The refund commits, then the process dies before deleting the object: the redelivered command
    deletes it."""
    _, token = app.user(coins=100)
    image = _generate(app, token)
    app.pipeline.deliver(app.queues.generation, "generator")  # the original is stored
    boto3.client("sqs").send_message(
        QueueUrl=app.queues.ledger,
        MessageBody=json.dumps(
            {
                "kind": "ledger_command",
                "command": "refund_image",
                "key": f"refund:{image['id']}",
                "image_id": image["id"],
                "reason": "support_refund",
            }
        ),
    )
    # The refund commits; the process dies before it deletes the object.
    crash = faults.crash_after(faults.dynamodb(), "TransactWriteItems")
    app.pipeline.deliver(app.queues.ledger, "coin_ledger")
    faults.clear()
    assert crash.hits == 1
    settle(app)
    assert _image(app, token, image["id"])["status"] == "FAILED"
    assert check_books(app, token).coins == 100
    audit_end_state(app)


def test_rejected_upload_keeps_its_reason_when_the_refund_write_fails_once(
    app: Env, configure: Any, faults: Faults
) -> None:
    """A rejection whose refund write fails once keeps its reason (the object is deleted only after
    the image failed, so the redelivered event still finds it)."""
    configure(UPLOAD_COST="4")
    _, token = app.user(coins=10)
    image = _upload(app, token, b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    fault = faults.fail(
        faults.dynamodb(), "TransactWriteItems", "ProvisionedThroughputExceededException", status=400
    )
    app.pipeline.drain()
    faults.clear()
    assert fault.hits == 1
    settle(app)
    done = _image(app, token, image["id"])
    assert (done["status"], done["failureReason"]) == ("FAILED", "not_an_image")
    assert check_books(app, token).coins == 10
    audit_end_state(app)


# ---- random faults everywhere ----------------------------------------------------------------------
def test_random_faults_during_a_busy_workload(app: Env, configure: Any, faults: Faults) -> None:
    """Every DynamoDB, S3 and SQS call of the application fails with some probability while users
    generate, upload and get refunds. Clients see 503 (never a 500, never AWS text); afterwards every
    image is final, every refund exactly once, no object orphaned, the books balance."""
    configure(UPLOAD_COST="5", RATE_LIMIT_GENERATE_PER_MINUTE="1000")
    users = [app.user(coins=300) for _ in range(3)]
    injected = [
        faults.fail(
            faults.dynamodb(),
            op,
            "ProvisionedThroughputExceededException",
            status=400,
            times=None,
            probability=0.15,
        )
        for op in ("GetItem", "UpdateItem", "TransactWriteItems", "Query")
    ]
    injected += [
        faults.fail(faults.s3(), op, "SlowDown", times=None, probability=0.2)
        for op in ("PutObject", "GetObject", "HeadObject")
    ]
    injected.append(
        faults.fail(faults.sqs(), "SendMessage", "ServiceUnavailable", times=None, probability=0.2)
    )
    statuses: list[int] = []
    for round_ in range(4):
        for index, (_, token) in enumerate(users):
            prompt = f"round {round_} user {index}" + (
                " [[fail:permanent]]" if (round_ + index) % 3 == 0 else ""
            )
            reply = app.api.call("POST", "/images/generate", token=token, body={"prompt": prompt, **SMALL})
            statuses.append(reply.status)
            if reply.status != 202:
                reply.problem(503, "service_unavailable")
            reply = app.api.call(
                "POST",
                "/images/uploads",
                token=token,
                body={"filename": f"r{round_}.png", "contentType": "image/png", "size": 100},
            )
            statuses.append(reply.status)
            if reply.status == 201:
                content = png(80, 60) if index != 1 else b"not an image"
                boto3.client("s3").put_object(
                    Bucket=app.bucket, Key=reply.json["image"]["storageKey"], Body=content
                )
            else:
                reply.problem(503, "service_unavailable")
        for _ in range(3):
            for queue, directory in app.pipeline.consumers:
                app.pipeline.deliver(queue, directory)
    faults.clear()
    assert sum(f.hits for f in injected) > 10, [f.hits for f in injected]
    assert 503 in statuses and 202 in statuses, statuses
    settle(app)
    counts = audit_end_state(app)
    for _, token in users:
        check_books(app, token)
    print(
        f"\nrandom faults: {sum(f.hits for f in injected)} injected failures,"
        f" API statuses {sorted(statuses)}, images {counts}, invocations {len(app.pipeline.invocations)}"
    )
    assert counts.get("COMPLETED", 0) > 0 and counts.get("FAILED", 0) > 0, counts
