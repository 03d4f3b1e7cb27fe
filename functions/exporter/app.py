"""Consumes the export queue: streams an export's originals into one ZIP (a multipart upload)."""

from typing import Any

from imagegen.bootstrap import exporter, get_adapters
from imagegen.events import sqs_batch_handler
from imagegen.queues import ExportRequest


def handle(body: dict[str, Any]) -> None:
    exporter(get_adapters()).process(ExportRequest.from_json(body))


lambda_handler = sqs_batch_handler(handle)
