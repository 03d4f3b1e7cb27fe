"""The generator function on moto's SQS when the provider throttles: the message goes back to the
generation queue with a delay (never to the dead-letter queue), and after the wait budget the image
ends FAILED ``provider_unavailable`` with its one refund."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from imagegen.errors import ProviderThrottled
from imagegen.providers import GeneratedImage, GenerationInput
from imagegen.services.backpressure import ThrottleBackpressure

from tests.api.conftest import Env


class ThrottlingProvider:
    """The image provider refusing for its quota while ``throttling``; records every call."""

    name = "throttling"

    def __init__(self) -> None:
        self.throttling = True
        self.calls = 0

    def render(self, request: GenerationInput) -> GeneratedImage:
        return self.generate(request.prompt, request.width, request.height)

    def generate(self, prompt: str, width: int, height: int, *_: Any, **__: Any) -> GeneratedImage:
        self.calls += 1
        if self.throttling:
            raise ProviderThrottled(retry_after=None)
        from imagegen.providers import get_provider

        generated: GeneratedImage = get_provider("local").generate(prompt, width, height)
        return generated


def _counts(queue_url: str) -> tuple[int, int, int]:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def _wait_for_message(app: Env, seconds: float = 5.0) -> dict[str, Any]:
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=app.queues.generation, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
        )
        if got.get("Messages"):
            message: dict[str, Any] = got["Messages"][0]
            # Put it back as it was: the pipeline delivers it to the function.
            sqs.change_message_visibility(
                QueueUrl=app.queues.generation, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            return message
    raise AssertionError("the re-queued message never became visible")


@pytest.fixture
def provider(app: Env) -> ThrottlingProvider:
    throttling = ThrottlingProvider()
    app.ctx.__dict__["provider"] = throttling  # the adapters' cached provider, as the generator uses it
    return throttling


def _generate(app: Env) -> tuple[str, dict[str, Any]]:
    _, token = app.user(coins=100)
    reply = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "a cat", "width": 256, "height": 256}
    )
    assert reply.status == 202, reply.raw
    return token, reply.json


def test_a_throttled_generation_waits_in_its_queue_and_is_never_dead_lettered(
    app: Env, provider: ThrottlingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One second instead of 30: the delay's growth is tested in tests/unit/test_services_backpressure.py.
    monkeypatch.setattr(ThrottleBackpressure, "delay_for", lambda self, n, retry_after=None: 1)
    token, image = _generate(app)
    coins = app.api.call("GET", "/me", token=token).json["coins"]

    # Four throttled deliveries: more than the queue's maxReceiveCount (3) of the same message would allow.
    for attempt in range(1, 5):
        assert app.pipeline.deliver(app.queues.generation, "generator") == 1
        assert app.pipeline.invocations[-1] == ("generator", 1, 0)  # succeeded: the original is deleted
        assert _counts(app.queues.generation_dlq) == (0, 0, 0)
        message = _wait_for_message(app)
        body = json.loads(message["Body"])
        assert body["image_id"] == image["id"] and body["throttle_count"] == attempt
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # a new message each time
        current = app.api.call("GET", f"/images/{image['id']}", token=token).json
        assert current["status"] == "PROCESSING" and current["failureReason"] is None
    assert provider.calls == 4
    assert app.api.call("GET", "/me", token=token).json["coins"] == coins  # no refund while it waits

    # The provider recovers: the waiting message generates, the thumbnailer completes it.
    provider.throttling = False
    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED"
    assert app.api.call("GET", "/me", token=token).json["coins"] == coins
    assert _counts(app.queues.generation) == (0, 0, 0)


def test_past_the_wait_budget_the_image_fails_with_one_refund(
    app: Env, provider: ThrottlingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, image = _generate(app)
    coins = app.api.call("GET", "/me", token=token).json["coins"]
    # The message as it comes back after the generation has waited an hour (the budget is 20 minutes).
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=app.queues.generation, MaxNumberOfMessages=1)
    [message] = got["Messages"]
    sqs.delete_message(QueueUrl=app.queues.generation, ReceiptHandle=message["ReceiptHandle"])
    waited = {**json.loads(message["Body"]), "throttled_since": time.time() - 3600, "throttle_count": 9}
    sqs.send_message(QueueUrl=app.queues.generation, MessageBody=json.dumps(waited))

    app.pipeline.drain()

    failed = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "provider_unavailable")
    assert app.api.call("GET", "/me", token=token).json["coins"] == coins + image["coinsUsed"]
    ledger = app.api.call("GET", "/me/ledger", token=token).json["items"]
    assert [e["reason"] for e in ledger].count("refund") == 1
    assert _counts(app.queues.generation) == (0, 0, 0)
    assert _counts(app.queues.generation_dlq) == (0, 0, 0)
    # A duplicate of that message changes nothing: the image is final, the refund was once.
    sqs.send_message(QueueUrl=app.queues.generation, MessageBody=json.dumps(waited))
    app.pipeline.drain()
    assert app.api.call("GET", "/me", token=token).json["coins"] == coins + image["coinsUsed"]
    assert provider.calls == 1
