"""Makes thumbnails of stored originals: S3 notifications (direct, SQS, EventBridge) and R2 messages."""

from typing import Any

from imagegen.bootstrap import get_adapters, thumbnail_service
from imagegen.events import object_events, sqs_batch_handler


def handle(body: dict[str, Any]) -> None:
    service = thumbnail_service(get_adapters())
    for created in object_events(body):
        service.process(created.key)


_sqs_handler = sqs_batch_handler(handle)


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return _sqs_handler(event, context)
    handle(event)  # a direct S3 notification or an EventBridge event
    return {"status": "ok"}
