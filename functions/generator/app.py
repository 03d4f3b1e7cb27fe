"""Consumes the generation queue: PENDING -> PROCESSING, generate, store the original."""

from typing import Any

from imagegen.events import sqs_batch_handler
from imagegen.queues import GenerationRequest
from imagegen.services.context import get_context
from imagegen.services.pipeline import GenerationService


def handle(body: dict[str, Any]) -> None:
    GenerationService(get_context()).process(GenerationRequest.from_json(body))


lambda_handler = sqs_batch_handler(handle)
