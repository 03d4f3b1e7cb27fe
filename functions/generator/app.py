"""Consumes the generation queue: PENDING -> PROCESSING, generate, store the original."""

from typing import Any

from imagegen.bootstrap import generation_service, get_adapters
from imagegen.events import sqs_batch_handler
from imagegen.queues import GenerationRequest


def handle(body: dict[str, Any]) -> None:
    generation_service(get_adapters()).process(GenerationRequest.from_json(body))


lambda_handler = sqs_batch_handler(handle)
