"""Collections, batch operations and share links on in-memory adapters (tests/memory.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from imagegen.commands import BatchImages, CreateCollection, EditCollection, GenerateImage
from imagegen.errors import NotFound, ValidationError
from imagegen.models import BatchStatus, Image, ImageStatus
from PIL import Image as PILImage

from tests.memory import Wiring, wire


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (20, 130, 90)).save(out, "PNG")
    return out.getvalue()


def _completed(w: Wiring, user_id: str, prompt: str = "a lighthouse") -> Image:
    image = w.images().generate(user_id, GenerateImage(prompt=prompt, width=256, height=256))
    w.storage.put(image.storage_key, _png(), "image/png")
    w.thumbnails().process(image.storage_key)
    done = w.repos.images.find_by_id(image.id)
    assert done is not None and done.status is ImageStatus.COMPLETED
    return done


def _batch(w: Wiring, user_id: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i, s.value) for i, s in w.batch().run(user_id, BatchImages.from_json(body))]


# ---- commands ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "delete", "imageIds": []}, "imageIds"),
        ({"action": "delete", "imageIds": [f"i{n}" for n in range(101)]}, "imageIds"),
        ({"action": "delete", "imageIds": ["ok", ""]}, "imageIds.1"),
        ({"action": "delete", "imageIds": ["ok", "\ud800"]}, "imageIds.1"),
        ({"action": "delete", "imageIds": ["ok", 7]}, "imageIds.1"),
        ({"action": "delete", "imageIds": ["x" * 129]}, "imageIds.0"),
        ({"action": "addToCollection", "imageIds": ["a"]}, "collectionId"),
        ({"action": "delete", "imageIds": ["a"], "collectionId": "c"}, "collectionId"),
    ],
)
def test_bad_batch_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BatchImages.from_json(body)
    assert [e.field for e in raised.value.errors] == [field]


def test_batch_ids_are_deduplicated_in_order_of_first_appearance() -> None:
    command = BatchImages.from_json({"action": "delete", "imageIds": ["b", "a", "b", "c", "a"]})
    assert command.image_ids == ("b", "a", "c")


@pytest.mark.parametrize("title", ["", "   "])
def test_a_collection_needs_a_title(title: str) -> None:
    with pytest.raises(ValidationError):
        CreateCollection.from_json({"title": title})
    with pytest.raises(ValidationError):
        EditCollection.from_json({"title": title})


# ---- collections ---------------------------------------------------------------------------------
def test_collections_are_their_owners_only() -> None:
    w = wire()
    user, other = w.user(), w.user()
    created = w.collections().create(user.id, CreateCollection(title="Trips", description="Summer"))
    assert w.collections().get(user.id, created.id).title == "Trips"
    for call in (
        lambda: w.collections().get(other.id, created.id),
        lambda: w.collections().update(other.id, created.id, EditCollection(title="x")),
        lambda: w.collections().delete(other.id, created.id),
        lambda: w.collections().images(other.id, created.id, 20, None),
        lambda: w.collections().share(other.id, created.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert w.collections().list(other.id, 20, None).items == []
    renamed = w.collections().update(user.id, created.id, EditCollection(title="Renamed"))
    assert (renamed.title, renamed.description) == ("Renamed", "Summer")
    w.collections().delete(user.id, created.id)
    with pytest.raises(NotFound):
        w.collections().delete(user.id, created.id)


def test_collection_json_has_the_contract_fields() -> None:
    w = wire(frontend_url="https://app.test/")
    user = w.user()
    collection = w.collections().create(user.id, CreateCollection(title="Trips"))
    body = w.collections().to_json(collection)
    assert set(body) == {
        "id",
        "userId",
        "title",
        "description",
        "imageCount",
        "coverThumbnailUrl",
        "shared",
        "shareUrl",
        "createdAt",
        "updatedAt",
    }
    assert (body["imageCount"], body["shared"], body["shareUrl"], body["coverThumbnailUrl"]) == (
        0,
        False,
        None,
        None,
    )
    url = w.collections().share(user.id, collection.id)
    token = url.rsplit("/", 1)[1]
    assert url == f"https://app.test/s/{token}" and len(token) >= 22  # at least 128 bits, base64url
    shared = w.collections().to_json(w.collections().get(user.id, collection.id))
    assert (shared["shared"], shared["shareUrl"]) == (True, url)


# ---- batch ---------------------------------------------------------------------------------------
def test_add_and_remove_answer_each_id_once_in_order() -> None:
    w = wire()
    user, other = w.user(coins=500), w.user(coins=500)
    a, b = _completed(w, user.id, "a"), _completed(w, user.id, "b")
    theirs = _completed(w, other.id, "c")
    collection = w.collections().create(user.id, CreateCollection(title="Trips"))
    body = {"action": "addToCollection", "collectionId": collection.id}
    assert _batch(w, user.id, {**body, "imageIds": [a.id, "missing", a.id, theirs.id]}) == [
        (a.id, "ok"),
        ("missing", "not_found"),
        (theirs.id, "not_found"),
    ]
    assert _batch(w, user.id, {**body, "imageIds": [b.id, a.id]}) == [(b.id, "ok"), (a.id, "already_present")]
    found = w.collections().get(user.id, collection.id)
    assert found.image_count == 2 and found.cover_thumbnail_url == b.thumbnail_url
    page = w.collections().images(user.id, collection.id, 20, None)
    assert [i.id for i in page.items] == [b.id, a.id]
    remove = {"action": "removeFromCollection", "collectionId": collection.id}
    assert _batch(w, user.id, {**remove, "imageIds": [a.id, a.id, theirs.id]}) == [
        (a.id, "ok"),
        (theirs.id, "not_found"),
    ]
    assert _batch(w, user.id, {**remove, "imageIds": [a.id]}) == [(a.id, "not_present")]
    assert w.collections().get(user.id, collection.id).image_count == 1
    with pytest.raises(NotFound):
        _batch(w, other.id, {**body, "imageIds": [theirs.id]})


def test_batch_delete_takes_images_out_of_collections_and_their_objects_in_one_call() -> None:
    w = wire(generation_cost=10)
    user, other = w.user(coins=100), w.user(coins=100)
    images = [_completed(w, user.id, f"p{n}") for n in range(3)]
    theirs = _completed(w, other.id)
    collection = w.collections().create(user.id, CreateCollection(title="Trips"))
    _batch(
        w, user.id, {"action": "addToCollection", "collectionId": collection.id, "imageIds": [images[0].id]}
    )
    coins = w.repos.users.find_by_id(user.id).coins  # type: ignore[union-attr]
    w.storage.batch_deletes.clear()
    ids = [images[0].id, theirs.id, images[1].id, images[0].id]
    assert _batch(w, user.id, {"action": "delete", "imageIds": ids}) == [
        (images[0].id, "ok"),
        (theirs.id, "not_found"),
        (images[1].id, "ok"),
    ]
    assert [w.repos.images.find_by_id(i.id) is None for i in images] == [True, True, False]
    assert w.repos.images.find_by_id(theirs.id) is not None
    assert w.collections().get(user.id, collection.id).image_count == 0
    # One DeleteObjects for both images: originals and both renditions each.
    (keys,) = w.storage.batch_deletes
    for image in images[:2]:
        assert {image.storage_key, image.thumbnail_key, image.metadata["previewKey"]} <= set(keys)
        assert not [k for k in w.storage.objects if image.id in k or k == image.storage_key]
    assert images[2].thumbnail_key in w.storage.objects
    # No refund: the coins stay spent, as with DELETE /images/{id}.
    assert w.repos.users.find_by_id(user.id).coins == coins and w.books_balance(user.id)  # type: ignore[union-attr]
    assert w.repos.users.get_stats(user.id).total_coins_used == 30
    # A retry is safe: what was deleted is now simply not found.
    assert _batch(w, user.id, {"action": "delete", "imageIds": ids[:1]}) == [(images[0].id, "not_found")]


def test_deleting_one_image_leaves_its_collections_exact() -> None:
    w = wire()
    user = w.user(coins=500)
    image = _completed(w, user.id)
    first = w.collections().create(user.id, CreateCollection(title="One"))
    second = w.collections().create(user.id, CreateCollection(title="Two"))
    for collection in (first, second):
        _batch(
            w, user.id, {"action": "addToCollection", "collectionId": collection.id, "imageIds": [image.id]}
        )
    w.images().delete(image.id, user.id)
    for collection in (first, second):
        found = w.collections().get(user.id, collection.id)
        assert (found.image_count, found.cover_thumbnail_url) == (0, None)


# ---- sharing -------------------------------------------------------------------------------------
def test_the_shared_page_shows_completed_images_and_nothing_of_the_owner() -> None:
    w = wire()
    user = w.user(coins=500)
    done = _completed(w, user.id, "secret prompt words")
    pending = w.images().generate(user.id, GenerateImage(prompt="still cooking"))
    collection = w.collections().create(user.id, CreateCollection(title="Public", description="Look"))
    _batch(
        w,
        user.id,
        {"action": "addToCollection", "collectionId": collection.id, "imageIds": [done.id, pending.id]},
    )
    token = w.collections().share(user.id, collection.id).rsplit("/", 1)[1]
    page = w.collections().shared_page(token, 20, None)
    assert page["collection"] == {"title": "Public", "description": "Look", "imageCount": 1}
    assert [i["id"] for i in page["items"]] == [done.id] and page["nextCursor"] is None
    item = page["items"][0]
    assert item["title"] == ""  # the default title is the prompt, which a shared page never shows
    assert set(item) == {"id", "title", "thumbnailUrl", "previewUrl", "width", "height"}
    assert item["thumbnailUrl"] == done.thumbnail_url and item["previewUrl"] == done.metadata["previewUrl"]
    text = json.dumps(page)
    for secret in (user.id, user.email, "secret prompt words", done.storage_key):
        assert secret not in text
    # The pending image completes: the page counts and shows it.
    w.storage.put(pending.storage_key, _png(), "image/png")
    w.thumbnails().process(pending.storage_key)
    assert w.collections().shared_page(token, 20, None)["collection"]["imageCount"] == 2
    # Rotation: the old link opens nothing; revocation: neither does the new one.
    new_token = w.collections().share(user.id, collection.id).rsplit("/", 1)[1]
    assert new_token != token
    with pytest.raises(NotFound):
        w.collections().shared_page(token, 20, None)
    w.collections().unshare(user.id, collection.id)
    with pytest.raises(NotFound):
        w.collections().shared_page(new_token, 20, None)


def test_a_title_of_its_own_is_shown_on_the_shared_page() -> None:
    w = wire()
    user = w.user(coins=500)
    image = w.images().generate(user.id, GenerateImage(prompt="a fox", title="Fox at dawn"))
    w.storage.put(image.storage_key, _png(), "image/png")
    w.thumbnails().process(image.storage_key)
    collection = w.collections().create(user.id, CreateCollection(title="Foxes"))
    _batch(w, user.id, {"action": "addToCollection", "collectionId": collection.id, "imageIds": [image.id]})
    token = w.collections().share(user.id, collection.id).rsplit("/", 1)[1]
    assert [i["title"] for i in w.collections().shared_page(token, 20, None)["items"]] == ["Fox at dawn"]


def test_legacy_renditions_are_not_shown_on_the_shared_page() -> None:
    w = wire()
    user = w.user(coins=500)
    image = w.images().generate(user.id, GenerateImage(prompt="old"))
    legacy = w.storage.legacy_thumbnail_key(image.storage_key, "256")
    w.repos.images.update_status(
        image.id,
        ImageStatus.COMPLETED,
        thumbnail_key=legacy,
        thumbnail_url=f"https://cdn.test/{legacy}",
        metadata={**image.metadata, "previewKey": legacy, "previewUrl": f"https://cdn.test/{legacy}"},
    )
    collection = w.collections().create(user.id, CreateCollection(title="Old"))
    _batch(w, user.id, {"action": "addToCollection", "collectionId": collection.id, "imageIds": [image.id]})
    token = w.collections().share(user.id, collection.id).rsplit("/", 1)[1]
    (item,) = w.collections().shared_page(token, 20, None)["items"]
    assert (item["thumbnailUrl"], item["previewUrl"]) == (None, None)
    assert user.id not in json.dumps(item)


def test_account_erasure_removes_collections_and_links() -> None:
    w = wire()
    user = w.user(coins=500)
    image = _completed(w, user.id)
    collection = w.collections().create(user.id, CreateCollection(title="Mine"))
    _batch(w, user.id, {"action": "addToCollection", "collectionId": collection.id, "imageIds": [image.id]})
    token = w.collections().share(user.id, collection.id).rsplit("/", 1)[1]
    assert w.accounts().delete_account(user.id) is True
    assert w.repos.collections.collections == {} and w.repos.collections.tokens == {}
    with pytest.raises(NotFound):
        w.collections().shared_page(token, 20, None)
    assert w.storage.objects == {}
    assert batch_status_values() == {"ok", "not_found", "already_present", "not_present", "limit_reached"}


def batch_status_values() -> set[str]:
    return {s.value for s in BatchStatus}
