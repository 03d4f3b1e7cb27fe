"""Consumes the generation queue: PENDING -> PROCESSING, generate, store the original.

A generation the provider throttles goes back to the queue with a delay (backpressure), and fails with
its refund only once it has waited ``PROVIDER_THROTTLE_MAX_WAIT_SECONDS``: see services/backpressure.py.
"""

from typing import Any

from imagegen.bootstrap import generation_service, get_adapters, throttle_backpressure
from imagegen.errors import ProviderThrottled
from imagegen.events import sqs_batch_handler
from imagegen.queues import GenerationRequest


def handle(body: dict[str, Any]) -> None:
    adapters = get_adapters()
    try:
        generation_service(adapters).process(GenerationRequest.from_json(body))
    except ProviderThrottled as throttled:
        throttle_backpressure(adapters).defer(body, throttled)


lambda_handler = sqs_batch_handler(handle)
