"""Makes thumbnails of stored originals: S3 notifications (direct, SQS, EventBridge) and R2 messages."""

from typing import Any

from imagegen.events import object_events, sqs_batch_handler
from imagegen.services.context import get_context
from imagegen.services.pipeline import ThumbnailService


def handle(body: dict[str, Any]) -> None:
    service = ThumbnailService(get_context())
    for created in object_events(body):
        service.process(created.key, created.size)


_sqs_handler = sqs_batch_handler(handle)


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return _sqs_handler(event, context)
    handle(event)  # a direct S3 notification or an EventBridge event
    return {"status": "ok"}
