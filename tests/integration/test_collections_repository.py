"""CollectionRepository on the serialized emulator: memberships with exact counts under concurrency,
the per-image cap, listing orders and cursors, status sync, sharing, deletes and account erasure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from imagegen.errors import InCollections, InvalidCursor, NotFound
from imagegen.models import BatchStatus, Collection, Image, ImageStatus, ImageType, User, new_id
from imagegen.persistence import Repositories
from imagegen.ports import OnceKey, StoredImage

NewUser = Callable[..., User]
Scan = Callable[[], list[dict[str, Any]]]


def _image(repos: Repositories, user: User, *, title: str = "A title") -> Image:
    image_id = new_id()
    image = Image(
        id=image_id,
        user_id=user.id,
        type=ImageType.GENERATED,
        title=title,
        prompt="a red fox",
        storage_key=f"images/{user.id}/{image_id}.png",
        storage_url=f"http://example.com/images/{image_id}.png",
        metadata={"width": 640, "height": 480, "format": "png"},
    )
    created = repos.images.create(image, once=OnceKey(f"server:image:{image_id}"))
    assert created.image is not None
    return created.image


def _complete(repos: Repositories, image: Image) -> Image:
    key = f"thumbnails/{image.id}/abc-256.webp"
    return repos.images.update_status(
        image.id,
        ImageStatus.COMPLETED,
        thumbnail_key=key,
        thumbnail_url=f"http://cdn.test/{key}",
        metadata={**image.metadata, "previewKey": f"thumbnails/{image.id}/abc-1024.webp"},
    )


def _collection(repos: Repositories, user: User, title: str = "Trips") -> Collection:
    return repos.collections.create(Collection(id=new_id(), user_id=user.id, title=title))


def _stored(repos: Repositories, image_id: str) -> StoredImage:
    return repos.collections.load_images([image_id])[image_id]


def _add(repos: Repositories, user: User, collection: Collection, image: Image) -> BatchStatus:
    return repos.collections.add_image(user.id, collection.id, _stored(repos, image.id))


def _count(repos: Repositories, user: User, collection: Collection) -> int:
    found = repos.collections.find(user.id, collection.id)
    assert found is not None
    return found.image_count


def _parallel(count: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _members(scan: Scan, collection_id: str | None = None) -> list[dict[str, Any]]:
    return [
        item
        for item in scan()
        if item.get("entity") == "MEMBER"
        and (collection_id is None or item["collection_id"] == collection_id)
    ]


# ---- the collection --------------------------------------------------------------------------------
def test_create_find_list_update_and_someone_elses(repos: Repositories, new_user: NewUser) -> None:
    user, other = new_user(), new_user()
    first = _collection(repos, user, "First")
    second = _collection(repos, user, "Second")
    assert repos.collections.find(user.id, first.id) == first
    assert repos.collections.find(other.id, first.id) is None
    page = repos.collections.list_for_user(user.id, 1)
    assert [c.id for c in page.items] == [second.id] and page.next_cursor
    rest = repos.collections.list_for_user(user.id, 1, page.next_cursor)
    assert [c.id for c in rest.items] == [first.id] and rest.next_cursor is None
    with pytest.raises(InvalidCursor):
        repos.collections.list_for_user(other.id, 1, page.next_cursor)
    renamed = repos.collections.update(user.id, first.id, title="Renamed", description="Words")
    assert (renamed.title, renamed.description) == ("Renamed", "Words")
    cleared = repos.collections.update(user.id, first.id, clear_description=True)
    assert cleared.description is None and cleared.title == "Renamed"
    with pytest.raises(NotFound):
        repos.collections.update(other.id, first.id, title="Mine now")
    assert repos.collections.find(user.id, first.id).title == "Renamed"  # type: ignore[union-attr]


def test_no_collection_is_created_for_a_user_being_deleted(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    repos.users.delete(user.id, max_items=1)  # marks the profile first
    with pytest.raises(NotFound):
        _collection(repos, user)


# ---- membership -------------------------------------------------------------------------------------
def test_add_and_remove_move_every_count_and_answer_per_item(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user, other = new_user(), new_user()
    collection = _collection(repos, user)
    mine, theirs = _image(repos, user), _image(repos, other)
    assert _add(repos, user, collection, mine) is BatchStatus.OK
    assert _add(repos, user, collection, mine) is BatchStatus.ALREADY_PRESENT
    assert _add(repos, user, collection, theirs) is BatchStatus.NOT_FOUND
    assert _count(repos, user, collection) == 1 and _stored(repos, mine.id).collection_count == 1
    assert repos.collections.members_among(collection.id, [mine.id, theirs.id]) == {mine.id}
    with pytest.raises(NotFound):
        repos.collections.add_image(other.id, collection.id, _stored(repos, theirs.id))
    assert repos.collections.remove_image(user.id, collection.id, mine.id) is BatchStatus.OK
    assert repos.collections.remove_image(user.id, collection.id, mine.id) is BatchStatus.NOT_PRESENT
    assert _count(repos, user, collection) == 0 and _stored(repos, mine.id).collection_count == 0
    assert _members(table_items, collection.id) == []


def test_an_image_is_in_at_most_a_hundred_collections(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    image = _image(repos, user)
    model = repos.models.image
    model(f"IMAGE#{image.id}", "IMAGE").update(actions=[model.collection_count.set(99)])
    hundredth, extra = _collection(repos, user), _collection(repos, user)
    assert _add(repos, user, hundredth, image) is BatchStatus.OK
    assert _add(repos, user, extra, image) is BatchStatus.LIMIT_REACHED
    assert _count(repos, user, extra) == 0 and _stored(repos, image.id).collection_count == 100


def test_concurrent_adds_and_removes_keep_every_count_exact(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user()
    collection = _collection(repos, user)
    images = [_image(repos, user, title=f"n{i}") for i in range(12)]
    shared = images[0]
    # 8 threads add the same image, 11 add one each: one add of the shared image wins.
    results = _parallel(19, lambda i: _add(repos, user, collection, shared if i < 8 else images[i - 7]))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert results[:8].count(BatchStatus.OK) == 1 and results[:8].count(BatchStatus.ALREADY_PRESENT) == 7
    assert _count(repos, user, collection) == 12 == len(_members(table_items, collection.id))
    # Removes of the same images race each other and new adds.
    results = _parallel(
        16,
        lambda i: (
            repos.collections.remove_image(user.id, collection.id, images[i % 8].id)
            if i < 12
            else _add(repos, user, collection, images[i - 4])
        ),
    )
    assert [r for r in results if isinstance(r, Exception)] == []
    members = _members(table_items, collection.id)
    assert _count(repos, user, collection) == len(members) == 4
    for image in images:
        inside = any(m["image_id"] == image.id for m in members)
        assert _stored(repos, image.id).collection_count == int(inside)


def test_a_pending_image_counts_as_completed_once_it_completes(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user()
    collection = _collection(repos, user)
    pending, done = _image(repos, user), _complete(repos, _image(repos, user))
    assert _add(repos, user, collection, pending) is BatchStatus.OK
    time.sleep(0.002)
    assert _add(repos, user, collection, done) is BatchStatus.OK
    found = repos.collections.find(user.id, collection.id)
    assert found is not None and (found.image_count, found.completed_count) == (2, 1)
    assert found.cover_image_id == done.id and found.cover_thumbnail_url == done.thumbnail_url
    assert [i.id for i in repos.collections.find_shared_images(found).items] == [done.id]
    completed = _complete(repos, pending)
    repos.collections.sync_image(completed)
    repos.collections.sync_image(completed)  # idempotent
    found = repos.collections.find(user.id, collection.id)
    assert found is not None and (found.image_count, found.completed_count) == (2, 2)
    assert [i.id for i in repos.collections.find_shared_images(found).items] == [done.id, pending.id]
    # The cover leaves with its image: the newest completed member takes its place.
    assert repos.collections.remove_image(user.id, collection.id, done.id) is BatchStatus.OK
    found = repos.collections.find(user.id, collection.id)
    assert found is not None and found.cover_image_id == pending.id and found.completed_count == 1


def test_images_newest_added_first_with_cursors(repos: Repositories, new_user: NewUser) -> None:
    user, other = new_user(), new_user()
    collection = _collection(repos, user)
    images = [_image(repos, user, title=f"n{i}") for i in range(5)]
    for image in images:
        _add(repos, user, collection, image)
        time.sleep(0.002)  # one millisecond apart at least: the order is the time added
    newest_first = [i.id for i in reversed(images)]
    assert repos.collections.image_ids_in_collection(user.id, collection.id, 3) == newest_first[:3]
    assert repos.collections.image_ids_in_collection(user.id, collection.id, 100) == newest_first
    with pytest.raises(NotFound):
        repos.collections.image_ids_in_collection(other.id, collection.id, 10)
    first = repos.collections.find_images(user.id, collection.id, 2)
    second = repos.collections.find_images(user.id, collection.id, 2, first.next_cursor)
    third = repos.collections.find_images(user.id, collection.id, 2, second.next_cursor)
    assert [i.id for i in [*first.items, *second.items, *third.items]] == newest_first
    assert third.next_cursor is None
    with pytest.raises(NotFound):
        repos.collections.find_images(other.id, collection.id, 2)
    elsewhere = _collection(repos, user)
    with pytest.raises(InvalidCursor):
        repos.collections.find_images(user.id, elsewhere.id, 2, first.next_cursor)


def test_an_image_in_a_collection_is_detached_before_it_is_deleted(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user()
    first, second = _collection(repos, user), _collection(repos, user)
    image, other = _image(repos, user), _image(repos, user)
    for collection in (first, second):
        _add(repos, user, collection, image)
    _add(repos, user, first, other)
    with pytest.raises(InCollections):
        repos.images.delete(image.id)
    assert repos.collections.detach_image(image.id) == 2
    assert repos.images.delete(image.id) is not None
    assert (_count(repos, user, first), _count(repos, user, second)) == (1, 0)
    assert [m["image_id"] for m in _members(table_items)] == [other.id]


# ---- sharing ---------------------------------------------------------------------------------------
def test_a_rotated_or_revoked_token_opens_nothing(repos: Repositories, new_user: NewUser) -> None:
    user, other = new_user(), new_user()
    collection = _collection(repos, user)
    shared = repos.collections.share(user.id, collection.id, "token-one")
    assert shared.share_token == "token-one"
    assert repos.collections.find_shared("token-one") == repos.collections.find(user.id, collection.id)
    repos.collections.share(user.id, collection.id, "token-two")
    assert repos.collections.find_shared("token-one") is None
    assert repos.collections.find_shared("token-two") is not None
    with pytest.raises(NotFound):
        repos.collections.share(other.id, collection.id, "token-three")
    with pytest.raises(NotFound):
        repos.collections.unshare(other.id, collection.id)
    repos.collections.unshare(user.id, collection.id)
    assert repos.collections.find_shared("token-two") is None
    assert repos.collections.find(user.id, collection.id).share_token is None  # type: ignore[union-attr]
    repos.collections.unshare(user.id, collection.id)  # again: nothing to revoke


# ---- deletes ---------------------------------------------------------------------------------------
def test_deleting_a_collection_keeps_its_images(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user()
    collection, kept = _collection(repos, user), _collection(repos, user)
    images = [_image(repos, user) for _ in range(3)]
    for image in images:
        _add(repos, user, collection, image)
    _add(repos, user, kept, images[0])
    repos.collections.share(user.id, collection.id, "gone-token")
    assert repos.collections.delete(user.id, collection.id) is True
    assert repos.collections.delete(user.id, collection.id) is False
    assert repos.collections.find(user.id, collection.id) is None
    assert repos.collections.find_shared("gone-token") is None
    assert [_stored(repos, i.id).collection_count for i in images] == [1, 0, 0]
    assert {m["collection_id"] for m in _members(table_items)} == {kept.id}
    assert not [i for i in table_items() if i.get("entity") == "SHARE"]


def test_account_erasure_takes_collections_memberships_and_tokens(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user, other = new_user(), new_user()
    for n in range(3):
        collection = _collection(repos, user, f"c{n}")
        for _ in range(2):
            _add(repos, user, collection, _image(repos, user))
        repos.collections.share(user.id, collection.id, f"token-{n}")
    theirs = _collection(repos, other)
    _add(repos, other, theirs, _image(repos, other))
    assert repos.collections.delete_all_for_user(user.id, max_items=2) is False  # resumable
    while not repos.collections.delete_all_for_user(user.id, max_items=2):
        pass
    assert repos.users.delete(user.id) is True
    left = [i for i in table_items() if user.id in repr(i) and i.get("entity") != "EPH"]
    assert left == []
    assert repos.collections.find(other.id, theirs.id).image_count == 1  # type: ignore[union-attr]
