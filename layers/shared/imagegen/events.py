"""Event shapes and the Lambda handlers of the event-driven functions.

The thumbnailer accepts S3 ``ObjectCreated`` notifications direct, wrapped in SQS, or via
EventBridge, and Cloudflare R2 event-notification messages. SQS consumers report partial batch
failures so one bad message does not redeliver the batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from imagegen.errors import TransientError
from imagegen.observability import MetricUnit, add_metric, logger, metrics, traced_handler

R2_CREATE_ACTIONS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})


@dataclass(frozen=True)
class ObjectCreated:
    key: str
    size: int | None


def object_events(message: dict[str, Any]) -> list[ObjectCreated]:
    """Object-created events in any supported shape; other messages (s3:TestEvent, deletes) -> []."""
    if isinstance(message.get("Records"), list):  # S3 notification (direct or the body of an SQS message)
        found = []
        for record in message["Records"]:
            if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                continue
            obj = record.get("s3", {}).get("object", {})
            if "key" in obj:  # S3 URL-encodes keys in notifications (spaces as '+')
                found.append(ObjectCreated(unquote_plus(obj["key"]), _int(obj.get("size"))))
        return found
    if message.get("source") == "aws.s3" and message.get("detail-type") == "Object Created":
        obj = message.get("detail", {}).get("object", {})
        return [ObjectCreated(obj["key"], _int(obj.get("size")))] if "key" in obj else []
    if "object" in message and "action" in message and "bucket" in message:  # Cloudflare R2
        obj = message["object"]
        if message["action"] in R2_CREATE_ACTIONS and isinstance(obj, dict) and "key" in obj:
            return [ObjectCreated(str(obj["key"]), _int(obj.get("size")))]
    return []


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _json(body: str) -> dict[str, Any]:
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise ValueError("message body is not a JSON object")
    return parsed


def sqs_batch_handler(
    handle_body: Callable[[dict[str, Any]], None],
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """An SQS handler with partial-batch reporting. A body that cannot be parsed is dropped with a
    log line and a metric (retrying cannot fix it); TransientError and unexpected errors fail only
    their own record, which SQS redelivers and eventually dead-letters."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    # Report every failure item by item (also a whole failed batch), as the event source mapping expects.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> None:
        try:
            body = _json(record.body)
        except ValueError:
            logger.error("dropping an unreadable message", extra={"message_id": record.message_id})
            add_metric("PoisonMessages", MetricUnit.Count, 1)
            return
        try:
            handle_body(body)
        except TransientError:
            logger.warning("transient failure; will retry", extra={"message_id": record.message_id})
            raise

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)

    return traced_handler(handler)


def sqs_parallel_batch_handler(
    handle_body: Callable[[dict[str, Any]], None],
    prepare: Callable[[], None],
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Like :func:`sqs_batch_handler`, but the batch's records run at the same time, one thread each.

    For a consumer that mostly waits (the generator waits seconds on the image provider): a batch of
    ``n`` takes about as long as its slowest record, so ``n`` generations need one execution instead
    of ``n``. ``prepare`` runs first, on the handler's thread, to build what the records share (the
    adapters) before threads use it. Failures are reported item by item, as the event source
    mapping expects; an unreadable body is dropped with a log line and a metric."""
    from concurrent.futures import ThreadPoolExecutor

    def run(record: dict[str, Any]) -> bool:
        message_id = str(record.get("messageId", ""))
        try:
            body = _json(str(record.get("body", "")))
        except ValueError:
            logger.error("dropping an unreadable message", extra={"message_id": message_id})
            add_metric("PoisonMessages", MetricUnit.Count, 1)
            return True
        try:
            handle_body(body)
        except TransientError:
            logger.warning("transient failure; will retry", extra={"message_id": message_id})
            return False
        except Exception:
            logger.exception("record failed; will retry", extra={"message_id": message_id})
            return False
        return True

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records: list[dict[str, Any]] = list(event.get("Records") or [])
        if not records:
            return {"batchItemFailures": []}
        prepare()
        if len(records) == 1:
            done = [run(records[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record") as pool:
                done = list(pool.map(run, records))
        failed = [{"itemIdentifier": r["messageId"]} for r, ok in zip(records, done, strict=True) if not ok]
        return {"batchItemFailures": failed}

    return traced_handler(handler)
