"""Provider throttling as backpressure, on in-memory adapters: re-queued with growing delays while
within the wait budget, then FAILED ``provider_unavailable`` with one refund."""

from __future__ import annotations

from typing import Any

import pytest
from imagegen.commands import GenerateImage
from imagegen.errors import ProviderThrottled, TransientError
from imagegen.models import Image, ImageStatus, LedgerReason
from imagegen.queues import GenerationRequest
from imagegen.services.backpressure import MAX_DELAY_SECONDS, ThrottleBackpressure

from tests.memory import Wiring, wire


def _generation(w: Wiring) -> tuple[str, Image, dict[str, Any]]:
    user = w.user(coins=100)
    image = w.images().generate(user.id, GenerateImage(prompt="a lighthouse", width=256, height=256))
    body = {
        "kind": "generate_image",
        "image_id": image.id,
        "user_id": user.id,
        "prompt": "a lighthouse",
        "width": 256,
        "height": 256,
    }
    return user.id, image, body


def _throttled_delivery(w: Wiring, body: dict[str, Any]) -> Any:
    """What the generator function does with one message (functions/generator/app.py)."""
    try:
        w.generation().process(GenerationRequest.from_json(body))
    except ProviderThrottled as throttled:
        return w.backpressure().defer(body, throttled)
    return None


def _service(w: Wiring, fraction: float = 1.0, **kwargs: Any) -> ThrottleBackpressure:
    return ThrottleBackpressure(
        images=w.repos.images,
        publisher=w.delayed_publisher,
        queue_url="queue://generation",
        max_wait_seconds=1200,
        clock=w.clock,
        fraction=lambda: fraction,
        **kwargs,
    )


def test_delays_grow_exponentially_with_jitter_and_are_capped() -> None:
    w = wire()
    full, half = _service(w, 1.0), _service(w, 0.0)
    assert [full.delay_for(n) for n in range(1, 7)] == [30, 60, 120, 240, 480, 900]
    assert [half.delay_for(n) for n in range(1, 7)] == [15, 30, 60, 120, 240, 450]
    assert full.delay_for(40) == MAX_DELAY_SECONDS  # never more than SQS allows
    assert full.delay_for(1, retry_after=200) == 200  # the provider's own hint wins when longer
    assert full.delay_for(1, retry_after=5000) == MAX_DELAY_SECONDS
    with pytest.raises(ValueError):
        _service(w, base_delay=10, max_delay=901)


def test_a_throttled_generation_is_requeued_not_failed_while_within_the_budget() -> None:
    w = wire(generation_cost=10, provider_throttle_max_wait_seconds=1200)
    user_id, image, body = _generation(w)
    w.provider.error = ProviderThrottled(retry_after=None)

    first = _throttled_delivery(w, body)
    assert first is not None and first.throttles == 1 and 15 <= first.delay_seconds <= 30
    [(queue, sent, delay)] = w.delayed_publisher.sent
    assert queue == "queue://generation" and delay == first.delay_seconds
    assert sent == {**body, "throttled_since": w.clock.time(), "throttle_count": 1}
    assert w.repos.images.find_by_id(image.id).status is ImageStatus.PROCESSING  # type: ignore[union-attr]

    # Each later delivery carries the first throttle's time: the wait is counted from it.
    w.clock.advance(delay)
    second = _throttled_delivery(w, sent)
    assert second.throttles == 2 and 30 <= second.delay_seconds <= 60
    assert second.waited_seconds == pytest.approx(delay)
    assert w.delayed_publisher.sent[-1][1]["throttled_since"] == sent["throttled_since"]
    assert not [e for e in w.repos.ledger.all_for_user(user_id) if e.reason is LedgerReason.REFUND]

    # The provider recovers: the next delivery generates and stores the original.
    w.provider.error = None
    w.clock.advance(second.delay_seconds)
    assert _throttled_delivery(w, w.delayed_publisher.sent[-1][1]) is None
    assert image.storage_key in w.storage.objects


def test_after_the_budget_the_image_fails_with_one_refund() -> None:
    w = wire(generation_cost=10, provider_throttle_max_wait_seconds=600)
    user_id, image, body = _generation(w)
    w.provider.error = ProviderThrottled()
    deliveries = 0
    while True:
        deferral = _throttled_delivery(w, body)
        deliveries += 1
        if deferral.delay_seconds is None:
            break
        w.clock.advance(deferral.delay_seconds)
        body = w.delayed_publisher.sent[-1][1]
        assert deliveries < 20
    # Waits of up to 30, 60, 120, 240 s fit in 600 s; the fifth (up to 480 s) would not.
    assert 4 <= deliveries <= 6 and deferral.waited_seconds <= 600
    failed = w.repos.images.find_by_id(image.id)
    assert failed is not None and (failed.status, failed.failure_reason) == (
        ImageStatus.FAILED,
        "provider_unavailable",
    )
    refunds = [e for e in w.repos.ledger.all_for_user(user_id) if e.reason is LedgerReason.REFUND]
    assert [e.amount for e in refunds] == [10] and w.books_balance(user_id)
    # A duplicate of the last message (or its dead letter) finds a final image: nothing more.
    sent = len(w.delayed_publisher.sent)
    assert _throttled_delivery(w, body) is None
    assert len(w.delayed_publisher.sent) == sent
    assert len([e for e in w.repos.ledger.all_for_user(user_id) if e.reason is LedgerReason.REFUND]) == 1


def test_an_image_deleted_while_it_waited_is_given_up_quietly() -> None:
    w = wire(generation_cost=10, provider_throttle_max_wait_seconds=60)
    _, image, body = _generation(w)
    w.repos.images.delete(image.id)
    deferral = w.backpressure().defer({**body, "throttled_since": w.clock.time() - 3600}, ProviderThrottled())
    assert deferral.delay_seconds is None and deferral.waited_seconds == 3600


def test_a_requeue_that_cannot_be_sent_is_retried_the_ordinary_way() -> None:
    w = wire(generation_cost=10)
    _, image, body = _generation(w)
    w.provider.error = ProviderThrottled()
    w.delayed_publisher.fail = True
    with pytest.raises(TransientError):
        _throttled_delivery(w, body)
    assert w.repos.images.find_by_id(image.id).status is ImageStatus.PROCESSING  # type: ignore[union-attr]


@pytest.mark.parametrize("since", ["yesterday", None, True, float("nan"), [1]])
def test_a_garbled_wait_record_counts_from_now(since: object) -> None:
    w = wire(generation_cost=10)
    _, _, body = _generation(w)
    deferral = w.backpressure().defer({**body, "throttled_since": since}, ProviderThrottled())
    assert deferral.delay_seconds is not None and deferral.waited_seconds == 0
    assert w.delayed_publisher.sent[-1][1]["throttled_since"] == w.clock.time()
