"""ImageService on in-memory adapters: charging, idempotency, rate limits, uploads, access, downloads."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
from imagegen.commands import EditImage, GenerateImage, StartUpload
from imagegen.errors import (
    IdempotencyKeyReused,
    ImageNotReady,
    InsufficientCoins,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
)
from imagegen.models import ImageStatus, ImageType, LedgerReason
from imagegen.queues import GenerationRequest

from tests.memory import wire


def test_generate_charges_once_with_its_entry_and_queues_the_request() -> None:
    w = wire(generation_cost=30)
    user = w.user(coins=100)
    image = w.images().generate(user.id, GenerateImage(prompt="  A red fox\nin snow ", width=512, height=256))
    assert image.status is ImageStatus.PENDING and image.type is ImageType.GENERATED
    assert image.coins_used == 30 and image.title == "A red fox in snow"
    assert image.storage_key.startswith(f"images/{user.id}/") and image.storage_key.endswith(
        "-a-red-fox-in-snow.png"
    )
    assert w.repos.users.find_by_id(user.id).coins == 70  # type: ignore[union-attr]
    entries = w.repos.ledger.all_for_user(user.id)
    assert [(e.reason, e.amount, e.image_id) for e in entries[1:]] == [
        (LedgerReason.IMAGE_GENERATION, -30, image.id)
    ]
    assert w.publisher.sent == [
        ("queue://generation", GenerationRequest(image.id, user.id, "A red fox\nin snow", 512, 256))
    ]
    assert w.books_balance(user.id)


def test_generate_without_enough_coins_creates_and_takes_nothing() -> None:
    w = wire(generation_cost=50)
    user = w.user(coins=40)
    with pytest.raises(InsufficientCoins):
        w.images().generate(user.id, GenerateImage(prompt="too dear"))
    assert w.repos.images.find_by_user_id(user.id).items == []
    assert w.publisher.sent == [] and w.repos.users.find_by_id(user.id).coins == 40  # type: ignore[union-attr]


def test_free_generation_writes_no_ledger_entry() -> None:
    w = wire(generation_cost=0)
    user = w.user(coins=0)
    image = w.images().generate(user.id, GenerateImage(prompt="free"))
    assert image.coins_used == 0 and len(w.repos.ledger.all_for_user(user.id)) == 0


def test_a_failed_enqueue_refunds_at_once_and_reports_unavailable() -> None:
    w = wire(generation_cost=50)
    user = w.user(coins=100)
    w.publisher.fail = True
    with pytest.raises(ServiceUnavailable):
        w.images().generate(user.id, GenerateImage(prompt="lost message"))
    (image,) = w.repos.images.find_by_user_id(user.id).items
    assert (image.status, image.failure_reason) == (ImageStatus.FAILED, "enqueue_failed")
    assert w.repos.users.find_by_id(user.id).coins == 100  # type: ignore[union-attr]
    assert w.books_balance(user.id)


def test_the_same_key_and_request_return_the_first_image_and_charge_once() -> None:
    w = wire(generation_cost=10)
    user = w.user(coins=100)
    command = GenerateImage(prompt="once")
    first = w.images().generate(user.id, command, "key-1")
    again = w.images().generate(user.id, command, "key-1")
    assert again.id == first.id
    assert w.repos.users.find_by_id(user.id).coins == 90  # type: ignore[union-attr]
    # Still PENDING: the replay sends the request again (the first may have died before sending it).
    assert [m.image_id for _, m in w.publisher.sent] == [first.id, first.id]


def test_a_replay_answers_the_first_response_and_sends_nothing_once_the_image_moved_on() -> None:
    w = wire(generation_cost=10)
    user = w.user(coins=100)
    first = w.images().generate(user.id, GenerateImage(prompt="done"), "k")
    w.repos.images.update_status(first.id, ImageStatus.FAILED, failure_reason="x")
    assert w.images().generate(user.id, GenerateImage(prompt="done"), "k") == first  # as first answered
    assert len(w.publisher.sent) == 1
    w.repos.images.delete(first.id)  # even once deleted, the key's record answers, and charges nothing
    assert w.images().generate(user.id, GenerateImage(prompt="done"), "k") == first
    assert w.repos.users.find_by_id(user.id).coins == 90  # type: ignore[union-attr]


def test_the_same_key_with_another_request_is_refused_and_charges_nothing() -> None:
    w = wire(generation_cost=10)
    user = w.user(coins=100)
    w.images().generate(user.id, GenerateImage(prompt="first"), "k")
    with pytest.raises(IdempotencyKeyReused):
        w.images().generate(user.id, GenerateImage(prompt="second"), "k")
    with pytest.raises(IdempotencyKeyReused):
        w.images().generate(user.id, GenerateImage(prompt="first", width=512), "k")
    assert w.repos.users.find_by_id(user.id).coins == 90  # type: ignore[union-attr]


def test_a_client_key_never_names_an_operation_the_server_recorded() -> None:
    w = wire(generation_cost=10)
    user = w.user(coins=100)
    keyless = w.images().generate(user.id, GenerateImage(prompt="no key"))
    # A client that sends the earlier image's id (or the server's own key format) as its key gets a new image.
    for key in (keyless.id, f"server:generate:{keyless.id}", f"generate:{keyless.id}"):
        fresh = w.images().generate(user.id, GenerateImage(prompt=f"new prompt {key}"), key)
        assert fresh.id != keyless.id and fresh.prompt == f"new prompt {key}"
    assert w.repos.users.find_by_id(user.id).coins == 60  # type: ignore[union-attr]


def test_keys_are_per_user() -> None:
    w = wire(generation_cost=10)
    alice, bob = w.user(), w.user()
    a = w.images().generate(alice.id, GenerateImage(prompt="same"), "shared")
    b = w.images().generate(bob.id, GenerateImage(prompt="same"), "shared")
    assert a.id != b.id and b.user_id == bob.id


def test_the_rate_limit_counts_new_generations_not_replays() -> None:
    w = wire(generation_cost=1, rate_limit_generate_per_minute=2)
    user = w.user(coins=100)
    w.clock.now = (w.clock.now // 60) * 60 + 15  # 15 s into a minute
    w.images().generate(user.id, GenerateImage(prompt="one"), "k1")
    w.images().generate(user.id, GenerateImage(prompt="two"))
    w.images().generate(user.id, GenerateImage(prompt="one"), "k1")  # a replay: not counted, not refused
    with pytest.raises(RateLimited) as refused:
        w.images().generate(user.id, GenerateImage(prompt="three"))
    assert refused.value.retry_after == 46
    w.clock.advance(60)
    w.images().generate(user.id, GenerateImage(prompt="next minute"))


def test_an_upload_record_and_its_post_are_for_the_same_stored_key() -> None:
    w = wire(upload_cost=5, max_upload_bytes=1000)
    user = w.user(coins=10)
    command = StartUpload(filename="My Cat.JPG", content_type="image/jpeg", size=1000)
    ticket = w.images().create_upload(user.id, command, "up-1")
    assert ticket.image.type is ImageType.UPLOADED and ticket.image.title == "My Cat.JPG"
    assert ticket.image.storage_key.endswith("-my-cat.jpg")
    assert ticket.upload["fields"]["key"] == ticket.image.storage_key
    w.clock.advance(5)  # a retry later: a new key would be computed, but the stored one is presigned
    again = w.images().create_upload(user.id, command, "up-1")
    assert again.image.id == ticket.image.id and again.upload["fields"]["key"] == ticket.image.storage_key
    assert w.repos.users.find_by_id(user.id).coins == 5  # type: ignore[union-attr]


def test_with_upload_method_put_the_upload_is_a_put_of_the_declared_size() -> None:
    w = wire(upload_method="PUT", upload_url_ttl=120)
    user = w.user()
    command = StartUpload(filename="a.png", content_type="image/png", size=4321)
    ticket = w.images().create_upload(user.id, command, "put-1")
    assert ticket.upload["method"] == "PUT"
    assert ticket.upload["headers"] == {"Content-Type": "image/png", "Content-Length": "4321"}
    assert ticket.upload["url"] == f"https://upload.test/{ticket.image.storage_key}?expires=120"
    again = w.images().create_upload(user.id, command, "put-1")  # a retry: the same key
    assert again.upload["url"] == ticket.upload["url"]


def test_by_default_the_upload_is_a_post() -> None:
    w = wire()
    ticket = w.images().create_upload(
        w.user().id, StartUpload(filename="a.png", content_type="image/png", size=9)
    )
    assert ticket.upload["method"] == "POST" and "fields" in ticket.upload


def test_an_upload_over_the_limit_is_refused_before_anything_is_written() -> None:
    w = wire(max_upload_bytes=1000)
    user = w.user()
    with pytest.raises(ValidationError) as refused:
        w.images().create_upload(user.id, StartUpload(filename="a.png", content_type="image/png", size=1001))
    assert refused.value.errors[0].field == "size"
    assert w.repos.images.find_by_user_id(user.id).items == []


def test_someone_elses_image_is_not_found_but_an_admin_sees_it() -> None:
    w = wire()
    owner, other = w.user(), w.user()
    image = w.images().generate(owner.id, GenerateImage(prompt="mine"))
    with pytest.raises(NotFound):
        w.images().get_visible(image.id, other.id)
    with pytest.raises(NotFound):
        w.images().delete(image.id, other.id)
    with pytest.raises(NotFound):
        w.images().update(image.id, other.id, EditImage(title="taken"))
    assert w.images().get_visible(image.id, other.id, admin=True).id == image.id


def test_edit_sets_and_clears_fields() -> None:
    w = wire()
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="p", description="old"))
    edited = w.images().update(image.id, user.id, EditImage(title="New"))
    assert (edited.title, edited.description) == ("New", "old")
    cleared = w.images().update(image.id, user.id, EditImage.from_json({"description": ""}))
    assert cleared.description is None and cleared.title == "New"


def test_delete_removes_the_record_and_every_object() -> None:
    w = wire()
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="gone"))
    w.storage.put(image.storage_key, b"x", "image/png")
    w.storage.put(w.storage.legacy_thumbnail_key(image.storage_key, "256"), b"t", "image/webp")
    w.storage.put(w.storage.rendition_key(image.id, "abc", "1024"), b"t", "image/webp")
    w.images().delete(image.id, user.id)
    assert w.repos.images.find_by_id(image.id) is None and w.storage.objects == {}
    assert w.repos.users.get_stats(user.id).total_images == 0


def test_only_a_completed_image_can_be_downloaded() -> None:
    w = wire(signed_url_ttl=120)
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="later"))
    with pytest.raises(ImageNotReady):
        w.images().download_url(image.id, user.id)
    w.repos.images.update_status(image.id, ImageStatus.COMPLETED)
    url = w.images().download_url(image.id, user.id)
    assert "expires=120" in url


def test_the_download_is_named_after_the_title_and_typed_by_the_detected_format() -> None:
    w = wire()
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="a red fox in the snow"))
    w.images().update(image.id, user.id, EditImage(title="Renard «Été»"))
    # The thumbnailer's detected format, not a declared type or the key's extension (".png").
    w.repos.images.update_status(image.id, ImageStatus.COMPLETED, metadata={"format": "jpeg"})
    query = parse_qs(urlsplit(w.images().download_url(image.id, user.id)).query)
    assert query["filename"] == ["Renard «Été».jpg"] and query["type"] == ["image/jpeg"]


def test_a_download_of_an_unknown_format_is_an_octet_stream_named_after_the_title() -> None:
    w = wire()
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="odd"))
    w.repos.images.update_status(image.id, ImageStatus.COMPLETED, metadata={"format": "html"})
    query = parse_qs(urlsplit(w.images().download_url(image.id, user.id)).query)
    assert query["filename"] == ["odd"] and query["type"] == ["application/octet-stream"]


# ---- upload limits -------------------------------------------------------------------------------
_names = itertools.count()


def _upload(w: object, user_id: str, key: str | None = None) -> object:
    name = "k.png" if key else f"a{next(_names)}.png"  # a replay must be the same request
    command = StartUpload(filename=name, content_type="image/png", size=10)
    return w.images().create_upload(user_id, command, key)  # type: ignore[attr-defined]


def test_more_upload_requests_than_the_minute_allows_are_rate_limited() -> None:
    w = wire(rate_limit_upload_per_minute=3, max_pending_uploads=100)
    user = w.user()
    for _ in range(3):
        _upload(w, user.id)
    with pytest.raises(RateLimited) as refused:
        _upload(w, user.id)
    assert 1 <= refused.value.retry_after <= 61
    assert w.repos.users.get_stats(user.id).uploaded_images == 3
    w.clock.advance(60)  # the next minute
    _upload(w, user.id)


def test_too_many_pending_uploads_are_rate_limited_until_one_leaves_pending() -> None:
    w = wire(rate_limit_upload_per_minute=100, max_pending_uploads=2)
    user, other = w.user(), w.user()
    first = _upload(w, user.id)
    _upload(w, user.id)
    with pytest.raises(RateLimited) as refused:
        _upload(w, user.id)
    assert refused.value.retry_after == 60
    assert w.repos.users.get_stats(user.id).uploaded_images == 2  # nothing written
    _upload(w, other.id)  # per user
    # A replay of an earlier keyed request is not a new upload; a posted file frees a slot.
    w.repos.images.update_status(first.image.id, ImageStatus.PROCESSING)  # type: ignore[attr-defined]
    _upload(w, user.id, "k1")
    assert _upload(w, user.id, "k1").image.id  # type: ignore[attr-defined]
    with pytest.raises(RateLimited):
        _upload(w, user.id)


def test_pending_uploads_older_than_the_sweeper_threshold_do_not_count() -> None:
    w = wire(rate_limit_upload_per_minute=100, max_pending_uploads=1, stuck_image_minutes=30)
    user = w.user()
    _upload(w, user.id)
    with pytest.raises(RateLimited):
        _upload(w, user.id)
    w.clock.advance(31 * 60)
    _upload(w, user.id)


def test_two_uploads_of_one_name_in_the_same_millisecond_get_two_keys() -> None:
    w = wire()
    user = w.user()
    command = StartUpload(filename="same.png", content_type="image/png", size=10)
    first = w.images().create_upload(user.id, command)
    second = w.images().create_upload(user.id, command)  # the clock has not moved
    assert first.image.storage_key != second.image.storage_key
    assert second.upload["fields"]["key"] == second.image.storage_key
    assert w.repos.images.find_by_storage_key(second.image.storage_key) == second.image
