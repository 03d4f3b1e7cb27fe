"""Event sources of the local stack: S3 -> SQS -> function, S3 -> function, SQS partial batch failures with
redelivery and dead-lettering, schedules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.localstack.conftest import RunningStack, eventually, request

pytestmark = pytest.mark.e2e


def item(stack: RunningStack, pk: str) -> dict[str, Any] | None:
    found = stack.aws("dynamodb").get_item(
        TableName=stack.resource_name("Table"), Key={"pk": {"S": pk}, "sk": {"S": "record"}}
    )
    result: dict[str, Any] | None = found.get("Item")
    return result


def test_bucket_notification_reaches_the_queue_consumer(stack: RunningStack) -> None:
    s3 = stack.aws("s3")
    bucket = stack.resource_name("Bucket")
    run = uuid.uuid4().hex[:8]
    s3.put_object(Bucket=bucket, Key=f"other/{run}.png", Body=b"not notified")
    s3.put_object(Bucket=bucket, Key=f"in/{run} photo+1.png", Body=b"notified")

    record = eventually(lambda: item(stack, f"upload#in/{run} photo+1.png"))
    assert record["event"]["S"] == "ObjectCreated:Put"
    assert record["raw_key"]["S"] == f"in/{run}+photo%2B1.png"  # keys arrive URL-encoded, as from S3
    assert item(stack, f"upload#other/{run}.png") is None  # the prefix filter holds
    # S3 sent its test event when the notification was configured; the consumer got it like any message.
    assert eventually(lambda: item(stack, "uploads#testevent"))["bucket"]["S"] == bucket
    assert "sqs UploadsQueue -> uploads" in stack.output()


def test_objects_are_readable_by_their_plain_url(stack: RunningStack) -> None:
    bucket = stack.resource_name("Bucket")
    stack.aws("s3").put_object(Bucket=bucket, Key="public/readable.txt", Body=b"readable")
    reply = request("GET", f"{stack.info['emulatorUrl']}/{bucket}/public/readable.txt")
    assert reply.status == 200
    assert reply.body == b"readable"


def test_direct_s3_event_invokes_the_function(stack: RunningStack) -> None:
    s3 = stack.aws("s3")
    bucket = stack.resource_name("Bucket")
    run = uuid.uuid4().hex[:8]
    s3.put_object(Bucket=bucket, Key=f"direct/{run}.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"elsewhere/{run}.txt", Body=b"x")

    record = eventually(lambda: item(stack, f"direct#direct/{run}.txt"))
    assert record["bucket"]["S"] == bucket
    assert item(stack, f"direct#elsewhere/{run}.txt") is None
    assert "s3 Bucket -> direct 1 event" in stack.output()


def test_partial_batch_failure_redelivers_then_dead_letters(stack: RunningStack) -> None:
    sqs = stack.aws("sqs")
    run = uuid.uuid4().hex[:8]
    queue = stack.queue_url("WorkQueue")
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "1", "MessageBody": f"ok-{run}-1"},
            {"Id": "2", "MessageBody": f"fail-{run}"},
            {"Id": "3", "MessageBody": f"ok-{run}-2"},
        ],
    )

    first = eventually(lambda: item(stack, f"work#ok-{run}-1"))
    assert eventually(lambda: item(stack, f"work#ok-{run}-2"))["count"]["S"] == "1"
    assert first["count"]["S"] == "1"  # succeeded messages are deleted: never seen twice
    assert first["md5"]["S"]

    dlq = stack.queue_url("WorkDLQ")

    def dead_letter() -> list[dict[str, Any]]:
        received = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [m for m in received.get("Messages", []) if m["Body"] == f"fail-{run}"]

    assert eventually(dead_letter, timeout=20)
    # maxReceiveCount is 2: two attempts, then the dead-letter queue.
    assert item(stack, f"attempt#fail-{run}#1") is not None
    assert item(stack, f"attempt#fail-{run}#2") is not None
    assert item(stack, f"attempt#fail-{run}#3") is None
    assert (item(stack, f"work#ok-{run}-1") or {})["count"]["S"] == "1"
    assert "sqs WorkQueue -> worker" in stack.output()
    assert ", 1 failed," in stack.output()


def test_schedule_can_be_triggered(stack: RunningStack) -> None:
    reply = stack.call("POST", "/_local/schedule/TickerFunction")
    assert reply.status == 200
    ticked = reply.json()["result"]["ticked"]
    record = item(stack, f"tick#{ticked}")
    assert record is not None
    assert record["detail_type"]["S"] == "Scheduled Event"
    assert record["source"]["S"] == "aws.events"
    assert stack.call("POST", "/_local/schedule/EchoFunction").status == 404
