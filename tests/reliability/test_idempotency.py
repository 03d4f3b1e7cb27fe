"""At-least-once delivery: every consumer run twice changes nothing the second time; redelivered and
out-of-order events; the same Idempotency-Key sent by concurrent requests charges once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from tests.api.conftest import Env, LambdaContext, Reply, handler
from tests.reliability.conftest import audit_end_state, check_books, png, settle, snapshot

SMALL = {"width": 256, "height": 256}


def _take(queue_url: str) -> list[dict[str, Any]]:
    """Receive every message now in the queue and delete them (PurgeQueue allows one call a minute)."""
    sqs = boto3.client("sqs")
    taken: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        fresh = [m for m in got.get("Messages", []) if m["MessageId"] not in taken]
        if not fresh:
            break
        for m in fresh:
            taken[m["MessageId"]] = m
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return [m for m in taken.values() if "s3:TestEvent" not in m["Body"]]


def _sqs_event(app: Env, queue_url: str) -> dict[str, Any]:
    """Every message now in the queue, taken off it, as Lambda's SQS event source would hand them
    over: the test delivers them itself, as often as it likes."""
    arn = f"arn:aws:sqs:us-east-1:123456789012:{queue_url.rsplit('/', 1)[-1]}"
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
        }
        for m in _take(queue_url)
    ]
    assert records, f"nothing queued on {queue_url}"
    return {"Records": records}


def _twice(app: Env, run: Callable[[], Any]) -> None:
    """The first run does something; the second, on the same input, changes nothing at all."""
    before = snapshot(app)
    first = run()
    after_first = snapshot(app)
    assert after_first != before, "the first run should have done the work"
    second = run()
    assert snapshot(app) == after_first
    for result in (first, second):  # and neither asked for a redelivery
        assert not isinstance(result, dict) or not result.get("batchItemFailures"), result


def _generate(app: Env, token: str, prompt: str) -> dict[str, Any]:
    reply = app.api.call("POST", "/images/generate", token=token, body={"prompt": prompt, **SMALL})
    assert reply.status == 202, reply.raw
    image: dict[str, Any] = reply.json
    return image


def _upload(app: Env, token: str, data: bytes | None, name: str = "u.png") -> dict[str, Any]:
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": name, "contentType": "image/png", "size": 100},
    )
    assert reply.status == 201, reply.raw
    image: dict[str, Any] = reply.json["image"]
    if data is not None:
        boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data)
    return image


def _status(app: Env, token: str, image_id: str) -> dict[str, Any]:
    body: dict[str, Any] = app.api.call("GET", f"/images/{image_id}", token=token).json
    return body


def _invoke(directory: str, event: dict[str, Any]) -> Any:
    return handler(directory)(event, LambdaContext(function_name=directory))


# ---- every consumer, twice -------------------------------------------------------------------------
def test_generator_twice_on_the_same_batch(app: Env, configure: Any) -> None:
    configure(UPLOAD_COST="5")
    _, token = app.user(coins=500)
    images = [_generate(app, token, p) for p in ("fine", "also fine", "no [[fail:permanent]]")]
    event = _sqs_event(app, app.queues.generation)
    _twice(app, lambda: _invoke("generator", event))
    app.pipeline.drain()
    statuses = [_status(app, token, i["id"])["status"] for i in images]
    assert statuses == ["COMPLETED", "COMPLETED", "FAILED"]
    assert check_books(app, token).coins == 500 - 2 * 50


def test_thumbnailer_twice_on_the_same_batch_and_on_a_direct_event(app: Env, configure: Any) -> None:
    configure(UPLOAD_COST="5")
    _, token = app.user(coins=100)
    good = _upload(app, token, png(120, 80), "good.png")
    bad = _upload(app, token, b"plain text, not a picture", "bad.png")
    event = _sqs_event(app, app.queues.thumbnails)
    _twice(app, lambda: _invoke("thumbnailer", event))
    assert _status(app, token, good["id"])["status"] == "COMPLETED"
    assert _status(app, token, bad["id"])["failureReason"] == "not_an_image"
    # The direct S3 notification shape, twice, for a third upload.
    third = _upload(app, token, png(40, 40), "third.png")
    direct = json.loads(_sqs_event(app, app.queues.thumbnails)["Records"][0]["body"])
    _twice(app, lambda: _invoke("thumbnailer", direct))
    assert _status(app, token, third["id"])["status"] == "COMPLETED"
    assert check_books(app, token).coins == 100 - 2 * 5


def test_coin_ledger_twice_on_commands_and_dead_letters(app: Env, configure: Any) -> None:
    configure(UPLOAD_COST="5")
    user, token = app.user(coins=500)
    refunded = _generate(app, token, "refund me")
    dead_generation = _generate(app, token, "dead letter")
    dead_upload = _upload(app, token, png(), "dead.png")
    _take(app.queues.thumbnails)
    _take(app.queues.generation)
    bodies = [
        {
            "kind": "ledger_command",
            "command": "refund_image",
            "key": f"refund:{refunded['id']}",
            "image_id": refunded["id"],
            "reason": "support",
        },
        {
            "kind": "ledger_command",
            "command": "grant",
            "key": "grant:promo-1",
            "user_id": user.id,
            "amount": 7,
            "note": "promo",
        },
        {
            "kind": "generate_image",
            "image_id": dead_generation["id"],
            "user_id": user.id,
            "prompt": "dead letter",
            "width": 256,
            "height": 256,
        },
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Post",
                    "s3": {"bucket": {"name": app.bucket}, "object": {"key": dead_upload["storageKey"]}},
                }
            ]
        },
    ]
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=app.queues.ledger, MessageBody=json.dumps(body))
    event = _sqs_event(app, app.queues.ledger)
    _twice(app, lambda: _invoke("coin_ledger", event))
    assert _status(app, token, refunded["id"])["failureReason"] == "support"
    assert _status(app, token, dead_generation["id"])["failureReason"] == "generation_failed"
    assert _status(app, token, dead_upload["id"])["failureReason"] == "processing_failed"
    assert app.objects(dead_upload["storageKey"]) == []
    assert check_books(app, token).coins == 500 + 7  # all three images refunded, plus the grant


def test_sweeper_twice(app: Env, configure: Any) -> None:
    from imagegen.bootstrap import sweeper

    configure(UPLOAD_COST="5")
    user, token = app.user(coins=100)
    never_uploaded = _upload(app, token, None, "never.png")
    stuck = _generate(app, token, "stuck")
    _take(app.queues.generation)
    orphan = f"images/{user.id}/1-orphan.png"
    boto3.client("s3").put_object(Bucket=app.bucket, Key=orphan, Body=png())
    _take(app.queues.thumbnails)
    later = datetime.now(UTC) + timedelta(hours=2)
    _twice(app, lambda: sweeper(app.ctx).run(now=later))
    assert _status(app, token, never_uploaded["id"])["failureReason"] == "upload_expired"
    assert _status(app, token, stuck["id"])["failureReason"] == "timed_out"
    assert orphan not in app.objects()
    assert check_books(app, token).coins == 100


# ---- redelivered and out of order ------------------------------------------------------------------
def test_out_of_order_and_late_events_change_nothing(app: Env) -> None:
    """Messages that arrive after the image moved on: each is a no-op, and nothing is left behind."""
    _, token = app.user(coins=500)
    sqs = boto3.client("sqs")

    # A generation request delivered after a refund command already failed its image.
    refunded_first = _generate(app, token, "late generation")
    request = _sqs_event(app, app.queues.generation)
    sqs.send_message(
        QueueUrl=app.queues.ledger,
        MessageBody=json.dumps(
            {
                "kind": "ledger_command",
                "command": "refund_image",
                "key": f"refund:{refunded_first['id']}",
                "image_id": refunded_first["id"],
                "reason": "cancelled",
            }
        ),
    )
    app.pipeline.drain()
    assert _invoke("generator", request) == {"batchItemFailures": []}
    app.pipeline.drain()
    assert _status(app, token, refunded_first["id"])["status"] == "FAILED"
    assert app.objects(refunded_first["storageKey"]) == []

    # A completed image: its generation request, its storage event and both dead letters, again.
    done = _generate(app, token, "completed")
    generation = _sqs_event(app, app.queues.generation)
    _invoke("generator", generation)
    storage_event = _sqs_event(app, app.queues.thumbnails)
    _invoke("thumbnailer", storage_event)
    completed = _status(app, token, done["id"])
    assert completed["status"] == "COMPLETED"
    state = snapshot(app)
    _invoke("generator", generation)
    _invoke("thumbnailer", storage_event)
    _invoke("coin_ledger", generation)  # the generation request as a dead letter
    _invoke("coin_ledger", storage_event)  # the storage event as a dead letter
    assert snapshot(app) == state
    assert _status(app, token, done["id"]) == completed

    # A storage event for an image deleted meanwhile (and its object with it).
    deleted = _generate(app, token, "deleted")
    app.pipeline.deliver(app.queues.generation, "generator")
    late = _sqs_event(app, app.queues.thumbnails)
    assert app.api.call("DELETE", f"/images/{deleted['id']}", token=token).status == 204
    assert _invoke("thumbnailer", late) == {"batchItemFailures": []}
    settle(app)
    audit_end_state(app, deleted={deleted["id"]})
    books = check_books(app, token)
    assert books.coins == 500 - 50 - 50  # the refunded one came back; the deleted one did not


def test_storage_events_arriving_before_and_after_their_object(app: Env) -> None:
    """The event before the object (ignored, then the real one completes the image); the same event
    three times, shuffled with another upload's events."""
    _, token = app.user()
    first = _upload(app, token, None, "first.png")
    second = _upload(app, token, png(50, 30), "second.png")
    second_events = _sqs_event(app, app.queues.thumbnails)
    early = {
        "Records": [
            {
                "eventName": "ObjectCreated:Post",
                "s3": {"bucket": {"name": app.bucket}, "object": {"key": first["storageKey"], "size": 10}},
            }
        ]
    }
    assert _invoke("thumbnailer", early) == {"status": "ok"}
    assert _status(app, token, first["id"])["status"] == "PENDING"
    boto3.client("s3").put_object(Bucket=app.bucket, Key=first["storageKey"], Body=png(30, 50))
    first_events = _sqs_event(app, app.queues.thumbnails)
    for event in (first_events, second_events, first_events, early, second_events, first_events):
        assert _invoke("thumbnailer", event) in ({"batchItemFailures": []}, {"status": "ok"})
    assert (
        _status(app, token, first["id"])["metadata"]["width"],
        _status(app, token, second["id"])["status"],
    ) == (
        30,
        "COMPLETED",
    )
    settle(app)
    assert audit_end_state(app) == {"COMPLETED": 2}


def test_an_original_replaced_after_completion_fails_the_image(app: Env, configure: Any) -> None:
    """The presigned POST stays valid for UPLOAD_URL_TTL and can be used again: a client can store a
    real image, wait for COMPLETED, then post anything under the same key. What the record describes
    is gone, so the image fails (content_replaced) with its refund and nothing of it stays; the same
    event delivered again changes nothing."""
    configure(UPLOAD_COST="3")
    _, token = app.user(coins=10)
    image = _upload(app, token, png(64, 64), "swap.png")
    app.pipeline.drain()
    done = _status(app, token, image["id"])
    assert done["status"] == "COMPLETED"
    # The first completion's event, delivered again with the same object, is a duplicate.
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=b"<html>x</html>")
    replaced = _sqs_event(app, app.queues.thumbnails)
    _twice(app, lambda: _invoke("thumbnailer", replaced))
    after = _status(app, token, image["id"])
    assert (after["status"], after["failureReason"]) == ("FAILED", "content_replaced")
    assert app.objects(image["storageKey"]) == [] and app.objects(done["thumbnailKey"]) == []
    assert check_books(app, token).coins == 10
    settle(app)
    audit_end_state(app)


def test_a_redelivered_event_of_a_completed_upload_changes_nothing(app: Env) -> None:
    _, token = app.user()
    image = _upload(app, token, png(64, 64), "same.png")
    event = _sqs_event(app, app.queues.thumbnails)
    _invoke("thumbnailer", event)
    done = _status(app, token, image["id"])
    assert done["status"] == "COMPLETED"
    state = snapshot(app)
    for _ in range(3):
        assert _invoke("thumbnailer", event) == {"batchItemFailures": []}
    assert snapshot(app) == state and _status(app, token, image["id"]) == done


# ---- the same Idempotency-Key from concurrent requests ---------------------------------------------
def _concurrently(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run the calls in threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            replies[index] = calls[index]()
        except BaseException as exc:  # reported below, in the test's thread
            replies[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
    return [r for r in replies if isinstance(r, Reply)]


def test_same_idempotency_key_from_concurrent_requests_charges_once(app: Env, configure: Any) -> None:
    configure(RATE_LIMIT_GENERATE_PER_MINUTE="1000")
    _, token = app.user(coins=1000)
    outcomes: list[tuple[int, ...]] = []
    for round_ in range(4):
        key = {"Idempotency-Key": f"concurrent-{round_}"}
        body = {"prompt": f"same request {round_}", **SMALL}
        replies = _concurrently(
            [
                lambda body=body, key=key: app.api.call(  # type: ignore[misc]
                    "POST", "/images/generate", token=token, body=body, headers=key
                )
                for _ in range(3)
            ]
        )
        # The key is recorded in the transaction that creates the image: no "in progress" state, every
        # caller gets the one image.
        accepted = [r for r in replies if r.status == 202]
        assert len(accepted) == 3, [r.raw for r in replies]
        assert all(r.json == accepted[0].json for r in accepted)
        # A later retry gets it too.
        again = app.api.call("POST", "/images/generate", token=token, body=body, headers=key)
        assert again.status == 202 and again.json == accepted[0].json
        outcomes.append(tuple(sorted(r.status for r in replies)))
    print(f"\nconcurrent Idempotency-Key outcomes (statuses per round): {outcomes}")
    books = check_books(app, token)
    assert books.coins == 1000 - 4 * 50 and len(books.images) == 4, outcomes


def test_same_admin_grant_key_from_concurrent_requests_grants_once(app: Env) -> None:
    _, admin_token = app.user(admin=True)
    user, token = app.user(coins=0)
    key = {"Idempotency-Key": "grant-race"}
    replies = _concurrently(
        [
            lambda: app.api.call(
                "POST",
                f"/admin/users/{user.id}/coins",
                token=admin_token,
                body={"amount": 40, "reason": "race"},
                headers=key,
            )
            for _ in range(4)
        ]
    )
    ok = [r for r in replies if r.status == 200]
    assert len(ok) == 4 and all(r.json["entry"] == ok[0].json["entry"] for r in ok), [r.raw for r in replies]
    assert check_books(app, token).coins == 40


def test_concurrent_spends_never_overdraw(app: Env, configure: Any) -> None:
    """Six generations at once with coins for two: exactly two are accepted, the rest are 402."""
    configure(RATE_LIMIT_GENERATE_PER_MINUTE="1000")
    _, token = app.user(coins=100)
    replies = _concurrently(
        [
            lambda: app.api.call("POST", "/images/generate", token=token, body={"prompt": "race", **SMALL})
            for _ in range(6)
        ]
    )
    assert sorted(r.status for r in replies) == [202, 202, 402, 402, 402, 402], [r.raw for r in replies]
    books = check_books(app, token)
    assert books.coins == 0 and len(books.images) == 2
