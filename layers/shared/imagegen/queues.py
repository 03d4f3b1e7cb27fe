"""Messages between functions, and the SQS adapter of the ``Publisher`` port that carries them.

Message bodies are JSON objects with a ``kind`` so a consumer can refuse what it does not understand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from imagegen import aws
from imagegen.errors import ServiceUnavailable


@dataclass(frozen=True)
class GenerationRequest:
    image_id: str
    user_id: str
    prompt: str
    width: int
    height: int
    kind: str = "generate_image"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> GenerationRequest:
        if body.get("kind") != "generate_image":
            raise ValueError(f"not a generation request: kind={body.get('kind')!r}")
        return cls(
            image_id=str(body["image_id"]),
            user_id=str(body["user_id"]),
            prompt=str(body["prompt"]),
            width=int(body["width"]),
            height=int(body["height"]),
        )


@dataclass(frozen=True)
class LedgerCommand:
    """A coin change that happens after the request: ``refund_image`` or ``grant``.

    ``key`` makes it idempotent: a redelivered command changes nothing."""

    command: str
    key: str
    user_id: str | None = None
    image_id: str | None = None
    amount: int = 0
    reason: str = ""
    note: str | None = None
    kind: str = "ledger_command"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LedgerCommand:
        if body.get("kind") != "ledger_command":
            raise ValueError(f"not a ledger command: kind={body.get('kind')!r}")
        return cls(
            command=str(body["command"]),
            key=str(body["key"]),
            user_id=body.get("user_id"),
            image_id=body.get("image_id"),
            amount=int(body.get("amount") or 0),
            reason=str(body.get("reason") or ""),
            note=body.get("note"),
        )


class SqsPublisher:
    def publish(self, queue_url: str, message: GenerationRequest | LedgerCommand | ExportRequest) -> str:
        if not queue_url:
            raise ServiceUnavailable("queue is not configured")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = aws.client("sqs").send_message(
                QueueUrl=queue_url, MessageBody=json.dumps(asdict(message))
            )
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailable("could not enqueue the request") from exc
        return str(response["MessageId"])


class SqsDelayedPublisher:
    """The ``DelayedPublisher`` port on SQS: ``SendMessage`` with ``DelaySeconds``."""

    def publish_delayed(self, queue_url: str, body: Mapping[str, Any], delay_seconds: int) -> str:
        if not queue_url:
            raise ServiceUnavailable("queue is not configured")
        if not 0 <= delay_seconds <= 900:
            raise ValueError("SQS delays a message by 0..900 seconds")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = aws.client("sqs").send_message(
                QueueUrl=queue_url, MessageBody=json.dumps(dict(body)), DelaySeconds=delay_seconds
            )
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailable("could not enqueue the request") from exc
        return str(response["MessageId"])


@dataclass(frozen=True)
class ExportRequest:
    """Build export ``export_id`` of ``user_id`` (the exporter function; idempotent)."""

    export_id: str
    user_id: str
    kind: str = "export_zip"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ExportRequest:
        if body.get("kind") != "export_zip":
            raise ValueError(f"not an export request: kind={body.get('kind')!r}")
        return cls(export_id=str(body["export_id"]), user_id=str(body["user_id"]))
