"""Provider throttling as backpressure: a throttled generation waits in its queue, it does not fail.

When the image provider refuses for its rate or quota (:class:`~imagegen.errors.ProviderThrottled`,
raised after the provider's own short retries), the generator hands the message to :meth:`defer`:

- while the generation has waited less than ``max_wait_seconds`` since it was first throttled, the
  same body goes back to the generation queue as a new message with ``DelaySeconds`` (exponential
  from ``base_delay`` seconds, at least the provider's ``retry_after``, at most SQS's 900 s, with
  jitter so throttled generations do not come back together), carrying ``throttled_since`` and
  ``throttle_count``; the delivery that was throttled then succeeds, so SQS deletes it;
- after that, the image ends ``FAILED provider_unavailable`` with its one refund (the refund's
  idempotency key is the one every other failure path uses, so a later dead letter refunds nothing).

Why a new delayed message rather than ChangeMessageVisibility on the one received: every receive
counts towards the queue's ``maxReceiveCount`` (3), so extending the visibility of the same message
would dead-letter a throttled generation after three tries however long the budget, unless
``maxReceiveCount`` were raised for every failure; counting the wait in the body keeps the redrive
policy for real failures (a message that keeps crashing the generator is still dead-lettered after 3
receives) and makes the budget a time, not a count. The cost: when the process dies between sending
the new message and the batch's delete, the generation is delivered twice; the generator is
idempotent (status guard, HeadObject before the provider call), so that is at most one extra provider
call. A send that fails is a TransientError: the throttled delivery is retried the ordinary way.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from imagegen.errors import InvalidTransition, NotFound, ProviderThrottled, ServiceUnavailable, TransientError
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import Clock, DelayedPublisher, ImageRepository

FAILURE_REASON = "provider_unavailable"
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds
SINCE_FIELD = "throttled_since"
COUNT_FIELD = "throttle_count"


@dataclass(frozen=True)
class Deferral:
    """What :meth:`ThrottleBackpressure.defer` did: re-queued with ``delay_seconds``, or gave up
    (``delay_seconds`` None: failed and refunded)."""

    delay_seconds: int | None
    waited_seconds: float
    throttles: int


class ThrottleBackpressure:
    def __init__(
        self,
        *,
        images: ImageRepository,
        publisher: DelayedPublisher,
        queue_url: str,
        max_wait_seconds: int,
        clock: Clock,
        base_delay: int = BASE_DELAY_SECONDS,
        max_delay: int = MAX_DELAY_SECONDS,
        fraction: Callable[[], float] = random.random,
    ) -> None:
        if not 1 <= base_delay <= max_delay <= MAX_DELAY_SECONDS:
            raise ValueError("need 1 <= base_delay <= max_delay <= 900")
        self.images = images
        self.publisher = publisher
        self.queue_url = queue_url
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.fraction = fraction

    def delay_for(self, throttles: int, retry_after: float | None = None) -> int:
        """Seconds before the ``throttles``-th retry: base x 2^(n-1), at least ``retry_after``, capped;
        then "equal jitter" (between half and all of it)."""
        exponential = self.base_delay * 2 ** min(max(throttles - 1, 0), 16)
        delay = min(self.max_delay, max(float(exponential), retry_after or 0.0))
        return max(1, min(self.max_delay, math.ceil(delay / 2 + self.fraction() * delay / 2)))

    def defer(self, body: Mapping[str, Any], error: ProviderThrottled) -> Deferral:
        now = self.clock.time()
        since = _number(body.get(SINCE_FIELD), now)
        throttles = int(_number(body.get(COUNT_FIELD), 0)) + 1
        waited = max(0.0, now - since)
        delay = self.delay_for(throttles, error.retry_after)
        image_id = str(body.get("image_id", ""))
        if waited + delay > self.max_wait_seconds:
            logger.warning(
                "the provider kept throttling: giving up",
                extra={"image_id": image_id, "waited_s": round(waited), "throttles": throttles},
            )
            # Deleted, or finished by another delivery: nothing to fail.
            with contextlib.suppress(NotFound, InvalidTransition):
                self.images.fail_and_refund(image_id, FAILURE_REASON)
            add_metric("GenerationsThrottledOut", MetricUnit.Count, 1)
            return Deferral(None, waited, throttles)
        again = {**body, SINCE_FIELD: since, COUNT_FIELD: throttles}
        try:
            self.publisher.publish_delayed(self.queue_url, again, delay)
        except ServiceUnavailable as exc:
            raise TransientError("could not re-queue a throttled generation") from exc
        logger.info(
            "provider throttled: re-queued",
            extra={"image_id": image_id, "delay_s": delay, "waited_s": round(waited), "throttles": throttles},
        )
        add_metric("GenerationsThrottled", MetricUnit.Count, 1)
        return Deferral(delay, waited, throttles)


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)
