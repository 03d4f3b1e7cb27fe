"""ExportRepository on the emulator: the active-export limit under concurrency, status moves, listings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from imagegen.errors import InvalidTransition, NotFound
from imagegen.models import Export, ExportStatus, Image, ImageStatus, ImageType, User, new_id
from imagegen.persistence import Repositories
from imagegen.ports import ActiveExportsLimit


def _parallel(count: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except ActiveExportsLimit as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _export(
    user: User, *, created_at: str = "2026-12-05T06:00:00.000Z", expires: str = "2026-12-06T06:00:00.000Z"
) -> Export:
    export_id = new_id()
    return Export(
        id=export_id,
        user_id=user.id,
        zip_key=f"exports/{user.id}/{export_id}.zip",
        expires_at=expires,
        image_count=1,
        created_at=created_at,
    )


def _active(repos: Repositories, user: User) -> int:
    from imagegen.persistence.keys import EXPORT_COUNTER_SK, user_pk

    item = repos.models.export_counter.get(user_pk(user.id), EXPORT_COUNTER_SK, consistent_read=True)
    return int(item.active)


def test_the_limit_holds_exactly_under_concurrent_creates(
    repos: Repositories, new_user: Callable[..., User]
) -> None:
    user = new_user()
    results = _parallel(8, lambda i: repos.exports.create(_export(user), [f"img-{i}"], max_active=2))
    created = [r for r in results if isinstance(r, Export)]
    refused = [r for r in results if isinstance(r, ActiveExportsLimit)]
    assert (len(created), len(refused)) == (2, 6)
    assert _active(repos, user) == 2
    assert len(repos.exports.find_by_user_id(user.id, 100).items) == 2
    # Finishing one frees exactly one slot, whoever finishes it and however often.
    first = created[0]
    repos.exports.start(user.id, first.id, "upload-1")
    repos.exports.complete(
        user.id,
        first.id,
        image_count=1,
        missing_count=0,
        size_bytes=10,
        expires_at="2026-12-06T07:00:00.000Z",
    )
    for _ in range(2):
        assert repos.exports.fail(user.id, first.id, "timed_out").status is ExportStatus.COMPLETED  # type: ignore[union-attr]
    assert _active(repos, user) == 1
    again = _parallel(4, lambda i: repos.exports.create(_export(user), ["x"], max_active=2))
    assert sum(isinstance(r, Export) for r in again) == 1
    assert _active(repos, user) == 2


def test_status_moves_and_the_manifest(repos: Repositories, new_user: Callable[..., User]) -> None:
    user = new_user()
    export = repos.exports.create(_export(user), ["b", "a"], max_active=2)
    assert repos.exports.find_manifest(user.id, export.id) == ["b", "a"]
    started, earlier = repos.exports.start(user.id, export.id, "u1")
    assert (started.status, started.upload_id, earlier) == (ExportStatus.PROCESSING, "u1", None)
    again, earlier = repos.exports.start(user.id, export.id, "u2")  # a redelivery: the earlier upload is told
    assert (again.upload_id, earlier) == ("u2", "u1")
    done = repos.exports.complete(
        user.id,
        export.id,
        image_count=2,
        missing_count=1,
        size_bytes=99,
        expires_at="2026-12-07T00:00:00.000Z",
    )
    assert (done.status, done.image_count, done.missing_count, done.size_bytes) == (
        ExportStatus.COMPLETED,
        2,
        1,
        99,
    )
    assert done.upload_id is None and done.expires_at == "2026-12-07T00:00:00.000Z"
    with pytest.raises(InvalidTransition):
        repos.exports.start(user.id, export.id, "u3")
    with pytest.raises(NotFound):
        repos.exports.start(user.id, "missing", "u4")
    assert repos.exports.find("someone-else", export.id) is None
    assert repos.exports.fail(user.id, "missing", "x") is None


def test_stuck_and_expired_listings_then_delete(repos: Repositories, new_user: Callable[..., User]) -> None:
    user = new_user()
    old = repos.exports.create(_export(user, expires="2020-01-01T00:00:00.000Z"), ["a"], max_active=5)
    fresh = repos.exports.create(_export(user, expires="2999-01-01T00:00:00.000Z"), ["a"], max_active=5)
    stuck_ids = {
        e.id for e in repos.exports.find_stuck(ExportStatus.PENDING, "2999-01-01T00:00:00.000Z", 100)
    }
    assert {old.id, fresh.id} <= stuck_ids
    assert repos.exports.find_stuck(ExportStatus.PENDING, "2000-01-01T00:00:00.000Z", 100) == []
    expired_ids = {e.id for e in repos.exports.find_expired("2026-01-01T00:00:00.000Z", 100)}
    assert old.id in expired_ids and fresh.id not in expired_ids
    assert repos.exports.delete(user.id, old.id) is False  # an active export is never deleted
    assert repos.exports.find(user.id, old.id) is not None
    repos.exports.fail(user.id, old.id, "expired")
    assert repos.exports.delete(user.id, old.id) is True
    assert repos.exports.find(user.id, old.id) is None and repos.exports.find_manifest(user.id, old.id) == []
    assert _active(repos, user) == 1


def test_create_refuses_a_missing_user(repos: Repositories) -> None:
    ghost = User(id=new_id(), email="ghost@example.com", google_id="g-ghost")
    with pytest.raises(NotFound):
        repos.exports.create(_export(ghost), ["a"], max_active=2)


def test_exportable_images_are_the_users_completed_ones_in_order(
    repos: Repositories, new_user: Callable[..., User]
) -> None:
    me, other = new_user(), new_user()

    def image(owner: User, status: ImageStatus) -> Image:
        image_id = new_id()
        made = Image(
            id=image_id,
            user_id=owner.id,
            type=ImageType.UPLOADED,
            title="t",
            storage_key=f"images/{owner.id}/1-{image_id}.png",
            storage_url="https://x.test/a.png",
            status=status,
        )
        repos.images.create(made)
        return made

    a, b = image(me, ImageStatus.COMPLETED), image(me, ImageStatus.COMPLETED)
    pending, theirs = image(me, ImageStatus.PENDING), image(other, ImageStatus.COMPLETED)
    ids = [b.id, pending.id, theirs.id, "missing", a.id, b.id] + [new_id() for _ in range(150)]
    assert [i.id for i in repos.exports.exportable_images(me.id, ids)] == [b.id, a.id]
