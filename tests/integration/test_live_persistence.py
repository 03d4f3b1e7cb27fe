"""Live updates' persistence on the serialized emulator: the connections, and the table's changes as the
notifier sees them (captured by the emulator, filtered by template.yaml's FilterCriteria, decoded)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imagegen.errors import InsufficientCoins
from imagegen.models import Image, ImageStatus, ImageType, LedgerReason, User, new_id
from imagegen.persistence import Repositories
from imagegen.persistence.changes import decode_changes
from imagegen.ports import Charge

from devstack import moto_fixes
from devstack.stack.naming import LocalResources
from devstack.stack.sam import build_application
from devstack.stack.streams import matches
from devstack.template import open_template

NewUser = Callable[..., User]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured(table: str) -> Iterator[list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    stop = moto_fixes.listen(table, records.append)
    try:
        yield records
    finally:
        stop()


@pytest.fixture(scope="module")
def notifier_filters() -> tuple[dict[str, Any], ...]:
    template = open_template(ROOT / "template.yaml", {})
    app = build_application(
        template, LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
    )
    [stream] = [s for s in app.streams if s.function == "NotifierFunction"]
    return stream.filters


def _image(user: User, cost: int = 0) -> Image:
    return Image(
        id=new_id(),
        user_id=user.id,
        type=ImageType.GENERATED,
        title="a fox",
        prompt="a fox",
        storage_key=f"images/{user.id}/{new_id()}-a-fox.png",
        storage_url="http://example.com/a.png",
        coins_used=cost,
    )


# ---- connections -----------------------------------------------------------------------------------
def test_connections_are_found_by_user_and_by_id_until_they_expire(
    repos: Repositories, new_user: NewUser
) -> None:
    ada, bob = new_user(), new_user()
    now = 1_800_000_000
    repos.connections.add(ada.id, "a-1", expires_at=now + 60)
    repos.connections.add(ada.id, "a-2", expires_at=now + 7200)
    repos.connections.add(bob.id, "b-1", expires_at=now + 60)
    assert sorted(repos.connections.find_by_user(ada.id, now=now)) == ["a-1", "a-2"]
    assert repos.connections.find_by_user(ada.id, now=now + 61) == ["a-2"]  # TTL passed, not yet swept
    assert repos.connections.owner("a-1", now=now) == ada.id
    assert repos.connections.owner("a-1", now=now + 61) is None
    assert repos.connections.owner("nope", now=now) is None
    repos.connections.remove(ada.id, "a-2")
    repos.connections.remove(ada.id, "a-2")  # twice is fine
    assert repos.connections.find_by_user(ada.id, now=now) == ["a-1"]
    assert repos.connections.owner("a-2", now=now) is None
    assert repos.connections.find_by_user(bob.id, now=now) == ["b-1"]


# ---- the stream, as the notifier sees it -------------------------------------------------------------
def test_an_image_and_its_charge_reach_the_notifier_as_changes(
    repos: Repositories,
    new_user: NewUser,
    captured: list[dict[str, Any]],
    notifier_filters: tuple[dict[str, Any], ...],
) -> None:
    user = new_user(coins=100)
    captured.clear()
    image = _image(user, cost=40)
    repos.images.create(image, charge=Charge(40, LedgerReason.IMAGE_GENERATION))
    repos.images.update_status(image.id, ImageStatus.PROCESSING)
    repos.images.delete(image.id)

    kinds = [
        (r["eventName"], r["dynamodb"].get("NewImage", r["dynamodb"].get("OldImage"))["entity"]["S"])
        for r in captured
    ]
    assert ("MODIFY", "USER") in kinds and ("INSERT", "STORAGE_ALIAS") in kinds  # everything is captured...
    passed = [r for r in captured if any(matches(p, r) for p in notifier_filters)]
    changes = decode_changes(repos.models, passed)  # ...the notifier gets what matters
    shapes = [
        (c.image.status if c.image else None, c.entry is not None, c.removed_image is not None)
        for c in changes
    ]
    # The creating transaction's two items (in the transaction's order), then the later writes in order.
    assert sorted(shapes[:2], key=str) == sorted(
        [(ImageStatus.PENDING, False, False), (None, True, False)], key=str
    )
    assert shapes[2:] == [(ImageStatus.PROCESSING, False, False), (None, False, True)]
    entry = next(c.entry for c in changes if c.entry is not None)
    assert (entry.amount, entry.balance_after, entry.image_id) == (-40, 60, image.id)
    assert all(c.user_id == user.id for c in changes)
    removed = changes[-1].removed_image
    assert removed is not None and removed.id == image.id
    record = passed[0]
    assert record["eventSource"] == "aws:dynamodb" and record["eventSourceARN"].endswith(
        record["eventSourceARN"].split("/stream/")[1]
    )


def test_a_cancelled_transaction_leaves_nothing_in_the_stream(
    repos: Repositories, new_user: NewUser, captured: list[dict[str, Any]]
) -> None:
    user = new_user(coins=10)
    captured.clear()
    with pytest.raises(InsufficientCoins):
        repos.images.create(_image(user, cost=50), charge=Charge(50, LedgerReason.IMAGE_GENERATION))
    assert captured == []


def test_records_that_are_not_images_or_entries_decode_to_nothing(repos: Repositories) -> None:
    assert (
        decode_changes(
            repos.models, [{"eventName": "INSERT", "dynamodb": {"NewImage": {"entity": {"S": "USER"}}}}]
        )
        == []
    )
    assert (
        decode_changes(
            repos.models, [{"eventName": "INSERT", "dynamodb": {"NewImage": {"entity": {"S": "IMAGE"}}}}]
        )
        == []
    )
    assert decode_changes(repos.models, [{"eventName": "REMOVE", "dynamodb": {}}]) == []


def test_an_export_reaches_the_notifier_as_it_progresses(
    repos: Repositories,
    new_user: NewUser,
    captured: list[dict[str, Any]],
    notifier_filters: tuple[dict[str, Any], ...],
) -> None:
    from imagegen.models import Export

    user = new_user(coins=0)
    [image] = [_image(user)]
    repos.images.create(image)
    captured.clear()
    export = Export(
        id=new_id(),
        user_id=user.id,
        zip_key=f"exports/{user.id}/x.zip",
        expires_at="2099-01-01T00:00:00.000Z",
    )
    repos.exports.create(export, [image.id], max_active=2)
    passed = [r for r in captured if any(matches(p, r) for p in notifier_filters)]
    changes = [c for c in decode_changes(repos.models, passed) if c.export is not None]
    assert [c.export.id for c in changes] == [export.id] and changes[0].user_id == user.id
    assert changes[0].export.status.value == "PENDING"


def test_a_purchase_reaches_the_notifier(
    repos: Repositories,
    new_user: NewUser,
    captured: list[dict[str, Any]],
    notifier_filters: tuple[dict[str, Any], ...],
) -> None:
    from imagegen.purchases import CoinPack, Purchase

    user = new_user(coins=0)
    captured.clear()
    pack = CoinPack(id="small", coins=500, price_cents=499, currency="usd", label="500 coins")
    purchase = Purchase.start(new_id(), user.id, pack)
    repos.purchases.create(purchase)
    passed = [r for r in captured if any(matches(p, r) for p in notifier_filters)]
    changes = [c for c in decode_changes(repos.models, passed) if c.purchase is not None]
    assert [(c.purchase.id, c.user_id) for c in changes] == [(purchase.id, user.id)]
