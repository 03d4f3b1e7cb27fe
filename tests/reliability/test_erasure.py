"""Account erasure that fails half-way: the queued purge or the sweeper finishes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Env
from tests.reliability.conftest import Faults, scan


def _user_with_images(app: Env) -> tuple[str, str]:
    user, token = app.user(coins=500)
    for prompt in ("one", "two"):
        assert app.api.call("POST", "/images/generate", token=token, body={"prompt": prompt}).status == 202
    app.pipeline.drain()
    assert len(app.objects(f"images/{user.id}/")) == 2
    return user.id, token


def _nothing_left(app: Env, user_id: str) -> None:
    # Rate-limit counters (``EPH``) name the user too; they expire on their own within two minutes.
    left = [item for item in scan(app.table) if user_id in repr(item) and item.get("entity") != "EPH"]
    assert left == [], left
    assert app.objects(f"images/{user_id}/") == [] and app.objects(f"thumbnails/{user_id}/") == []
    assert app.objects("thumbnails/") == []  # renditions are keyed by image: none may be left


@pytest.mark.parametrize("queue_down", [False, True], ids=["queued-purge", "sweeper"])
def test_delete_me_throttled_half_way_is_finished_later(app: Env, faults: Faults, queue_down: bool) -> None:
    user_id, token = _user_with_images(app)
    # Every BatchWriteItem is throttled (botocore's retries included): the cascade stops after the
    # profile is marked ``deleting`` and the images are gone, with the ledger and guards still there.
    throttle = faults.fail(
        faults.dynamodb(),
        "BatchWriteItem",
        "ProvisionedThroughputExceededException",
        status=400,
        times=None,
    )
    if queue_down:
        faults.fail(faults.sqs(), "SendMessage", "ServiceUnavailable", status=503, times=None)
    reply = app.api.call("DELETE", "/me", token=token)
    assert reply.status == 202, reply.raw
    assert throttle.hits >= 1
    assert [i for i in scan(app.table) if user_id in repr(i)]  # not finished
    app.api.call("GET", "/me", token=token).problem(401, "unauthorized")
    faults.clear()

    if queue_down:
        app.pipeline.drain()  # nothing was queued
        assert [i for i in scan(app.table) if user_id in repr(i)]
        from imagegen.bootstrap import sweeper

        counts = sweeper(app.ctx).run(now=datetime.now(UTC) + timedelta(hours=2))
        assert (counts["erased"], counts["errors"]) == (1, 0)
    else:
        app.pipeline.drain()  # the purge_user command
    _nothing_left(app, user_id)


def test_a_purge_that_fails_is_delivered_again_until_done(app: Env, faults: Faults) -> None:
    user_id, token = _user_with_images(app)
    faults.fail(
        faults.dynamodb(), "BatchWriteItem", "ProvisionedThroughputExceededException", status=400, times=None
    )
    assert app.api.call("DELETE", "/me", token=token).status == 202
    faults.clear()
    # The purge itself is throttled on its first delivery: the message stays and comes again.
    faults.fail(
        faults.dynamodb(), "BatchWriteItem", "ProvisionedThroughputExceededException", status=400, times=8
    )
    app.pipeline.drain()
    failed = [inv for inv in app.pipeline.invocations if inv[0] == "coin_ledger" and inv[2]]
    assert failed, app.pipeline.invocations
    _nothing_left(app, user_id)
