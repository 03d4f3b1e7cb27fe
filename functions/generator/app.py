"""Consumes the generation queue: PENDING -> PROCESSING, generate, store the original.

The records of a batch (``GeneratorBatchSize``) run at the same time: a generation mostly waits on the
provider. A generation the provider throttles goes back to the queue with a delay (backpressure), and
fails with its refund only once it has waited ``PROVIDER_THROTTLE_MAX_WAIT_SECONDS``: see
services/backpressure.py.
"""

from typing import Any

from imagegen.bootstrap import generation_service, get_adapters, throttle_backpressure
from imagegen.errors import ProviderThrottled
from imagegen.events import sqs_parallel_batch_handler
from imagegen.queues import GenerationRequest


def prepare() -> None:
    """Build the adapters the records share once, before the batch's threads use them."""
    adapters = get_adapters()
    _ = (adapters.settings, adapters.repos, adapters.storage, adapters.provider, adapters.delayed_publisher)


def handle(body: dict[str, Any]) -> None:
    adapters = get_adapters()
    try:
        generation_service(adapters).process(GenerationRequest.from_json(body))
    except ProviderThrottled as throttled:
        throttle_backpressure(adapters).defer(body, throttled)


lambda_handler = sqs_parallel_batch_handler(handle, prepare)
