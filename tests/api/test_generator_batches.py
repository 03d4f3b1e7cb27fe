"""The generator function with a batch of several messages (``GeneratorBatchSize``): they run at the
same time, each message's failure is reported alone, an unreadable one is dropped."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from imagegen.errors import PermanentError
from imagegen.providers import GeneratedImage, GenerationInput

from tests.api.conftest import Env, LambdaContext, handler


class SlowProvider:
    """Waits like a remote model (``seconds`` a call), counts how many calls overlap."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def render(self, request: GenerationInput) -> GeneratedImage:
        return self.generate(request.prompt, request.width, request.height)

    def generate(self, prompt: str, width: int, height: int, *_: Any, **__: Any) -> GeneratedImage:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)
            if "refuse" in prompt:
                raise PermanentError("content_filtered")
            from imagegen.providers import get_provider

            generated: GeneratedImage = get_provider("local").generate(prompt, width, height)
            return generated
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def slow(app: Env) -> SlowProvider:
    provider = SlowProvider(0.8)
    app.ctx.__dict__["provider"] = provider
    return provider


def _records(app: Env, prompts: list[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    _, token = app.user(coins=1000)
    made = []
    for prompt in prompts:
        reply = app.api.call(
            "POST", "/images/generate", token=token, body={"prompt": prompt, "width": 256, "height": 256}
        )
        assert reply.status == 202, reply.raw
        made.append((token, reply.json["id"]))
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while len(messages) < len(prompts):
        got = sqs.receive_message(QueueUrl=app.queues.generation, MaxNumberOfMessages=10)
        messages += got.get("Messages", [])
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {},
        }
        for m in messages
    ]
    return records, made


def test_a_batch_runs_its_generations_at_the_same_time(app: Env, slow: SlowProvider) -> None:
    records, made = _records(app, [f"a lighthouse {i}" for i in range(5)])
    started = time.monotonic()
    result = handler("generator")({"Records": records}, LambdaContext())
    took = time.monotonic() - started

    assert result == {"batchItemFailures": []}
    assert slow.most == 5  # all five waited on the provider together
    assert took < 5 * slow.seconds  # one after another would take 4 s
    s3 = boto3.client("s3")
    for token, image_id in made:
        image = app.api.call("GET", f"/images/{image_id}", token=token).json
        assert image["status"] == "PROCESSING"
        s3.head_object(Bucket=app.bucket, Key=image["storageKey"])  # stored: the thumbnailer's turn


def test_each_record_of_a_batch_fails_or_succeeds_alone(app: Env, slow: SlowProvider) -> None:
    records, made = _records(app, ["a cat", "refuse this", "a dog"])
    records.append({"messageId": "unreadable", "receiptHandle": "r", "body": "{not json", "attributes": {}})
    broken = {**json.loads(records[0]["body"]), "width": "wide"}  # cannot be a request: ValueError
    records.append(
        {"messageId": "broken", "receiptHandle": "r", "body": json.dumps(broken), "attributes": {}}
    )

    result = handler("generator")({"Records": records}, LambdaContext())

    # The unreadable body is dropped (retrying cannot fix it); the malformed request fails alone.
    assert result == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    statuses = {
        image_id: app.api.call("GET", f"/images/{image_id}", token=token).json for token, image_id in made
    }
    refused = [i for i in statuses.values() if i["status"] == "FAILED"]
    assert len(refused) == 1 and refused[0]["failureReason"] == "content_filtered"
    assert sum(1 for i in statuses.values() if i["status"] == "PROCESSING") == 2
    assert handler("generator")({"Records": []}, LambdaContext()) == {"batchItemFailures": []}
