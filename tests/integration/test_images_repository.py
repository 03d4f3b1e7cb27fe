"""ImageRepository on the serialized emulator: atomic charges, status rules, refunds, lists, counters."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from imagegen.errors import (
    AlreadyExists,
    InsufficientCoins,
    InvalidCursor,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from imagegen.models import Generation, Image, ImageStatus, ImageType, LedgerReason, User, UserStats, new_id
from imagegen.persistence import Repositories
from imagegen.ports import Charge, OnceKey

NewUser = Callable[..., User]
Scan = Callable[[], list[dict[str, Any]]]


def _image(
    user: User,
    *,
    type: ImageType = ImageType.GENERATED,
    coins_used: int = 0,
    created_at: str | None = None,
    status: ImageStatus = ImageStatus.PENDING,
) -> Image:
    image_id = new_id()
    extra: dict[str, Any] = {"created_at": created_at} if created_at else {}
    return Image(
        id=image_id,
        user_id=user.id,
        type=type,
        status=status,
        title="A title",
        prompt="a red fox" if type is ImageType.GENERATED else None,
        storage_key=f"images/{user.id}/{image_id}.png",
        storage_url=f"http://example.com/images/{image_id}.png",
        metadata={"width": 1024, "height": 1024, "format": "png"},
        coins_used=coins_used,
        **extra,
    )


def _charge(amount: int = 50) -> Charge:
    return Charge(amount, LedgerReason.IMAGE_GENERATION)


def _create(
    repos: Repositories, image: Image, charge: Charge | None = None, once: OnceKey | None = None
) -> Image:
    """The repository's create, for tests that only need the image it returns."""
    result = repos.images.create(image, charge=charge, once=once or OnceKey(f"server:image:{image.id}"))
    assert result.image is not None
    return result.image


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


def _all_pages(fetch: Callable[[str | None], Any]) -> tuple[list[str], int]:
    ids: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = fetch(cursor)
        pages += 1
        ids += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids, pages
        assert pages < 50


# ---- create -----------------------------------------------------------------------------------


def test_create_free_image_and_read_it_back(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(0)
    image = _image(user, type=ImageType.UPLOADED)

    created = repos.images.create(image, once=OnceKey("server:image:1", "h"))
    assert (created.image, created.created, created.request_hash) == (image, True, "h")
    assert repos.images.find_by_id(image.id) == image
    assert repos.images.find_by_storage_key(image.storage_key) == image
    assert repos.users.get_stats(user.id) == UserStats(1, 0, 1, 0)
    assert set(image.to_json()) == {
        "id",
        "userId",
        "type",
        "status",
        "title",
        "description",
        "prompt",
        "storageKey",
        "storageUrl",
        "thumbnailKey",
        "thumbnailUrl",
        "metadata",
        "coinsUsed",
        "failureReason",
        "createdAt",
        "updatedAt",
        "generation",
        "sourceImageId",
    }


def test_generation_options_and_source_are_stored_and_read_back(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user(100)
    generation = Generation(
        "bedrock",
        "amazon.nova-canvas-v1:0",
        seed=858_993_459,
        style="photographic",
        negative_prompt="fog",
        quality="premium",
        strength=0.35,
    )
    image = replace(_image(user), generation=generation, source_image_id="source-1")
    repos.images.create(image)
    found = repos.images.find_by_id(image.id)
    assert found is not None and found.generation == generation and found.source_image_id == "source-1"
    moved = repos.images.update_status(image.id, ImageStatus.PROCESSING, expected=ImageStatus.PENDING)
    assert moved.generation == generation
    listed = repos.images.find_by_user_id(user.id).items
    assert [i.generation for i in listed] == [generation]


def test_create_with_charge_debits_in_the_same_transaction(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    image = _image(user, coins_used=50)

    _create(repos, image, charge=_charge(50))

    assert repos.users.find_by_id(user.id).coins == 50  # type: ignore[union-attr]
    entry = repos.ledger.all_for_user(user.id)[-1]
    assert (entry.amount, entry.balance_after, entry.reason, entry.image_id) == (
        -50,
        50,
        LedgerReason.IMAGE_GENERATION,
        image.id,
    )
    assert repos.users.get_stats(user.id) == UserStats(1, 1, 0, 50)


def test_insufficient_coins_create_nothing_and_take_nothing(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user(40)
    before = table_items()
    image = _image(user, coins_used=50)

    with pytest.raises(InsufficientCoins) as caught:
        _create(repos, image, charge=_charge(50))

    assert (caught.value.required, caught.value.available) == (50, 40)
    assert table_items() == before
    assert repos.images.find_by_id(image.id) is None
    assert repos.images.find_by_storage_key(image.storage_key) is None


def test_replayed_charge_returns_the_first_image(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    first = _image(user, coins_used=50)
    retry = _image(user, coins_used=50)  # a retried request picks a new id and key

    _create(repos, first, charge=_charge(50), once=OnceKey("generate:req-1"))
    again = _create(repos, retry, charge=_charge(50), once=OnceKey("generate:req-1"))

    assert again == first
    assert repos.images.find_by_id(retry.id) is None
    assert repos.users.find_by_id(user.id).coins == 50  # type: ignore[union-attr]
    assert repos.users.get_stats(user.id).total_images == 1


def test_replay_of_a_deleted_image_finds_nothing_and_creates_nothing(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user(100)
    first = _image(user, coins_used=50)
    _create(repos, first, charge=_charge(50), once=OnceKey("k", "hash-1"))
    repos.images.delete(first.id)
    again = repos.images.create(_image(user, coins_used=50), charge=_charge(50), once=OnceKey("k", "hash-2"))
    assert (again.image, again.created, again.request_hash) == (None, False, "hash-1")
    assert repos.images.find_created(user.id, "k") == again
    assert repos.images.find_created(user.id, "other") is None
    assert repos.users.find_by_id(user.id).coins == 50  # type: ignore[union-attr]


def test_coins_used_must_match_the_charge(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    with pytest.raises(ValidationError):
        _create(repos, _image(user, coins_used=50))
    with pytest.raises(ValidationError):
        _create(repos, _image(user, coins_used=10), charge=_charge(50))
    assert repos.users.get_stats(user.id) == UserStats()


def test_duplicate_storage_key_or_id_is_refused_without_charging(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user(100)
    first = _image(user)
    _create(repos, first)
    same_key = Image(**{**first.__dict__, "id": new_id(), "coins_used": 10})
    same_id = Image(**{**first.__dict__, "storage_key": "images/other.png", "coins_used": 10})

    for n, duplicate in enumerate((same_key, same_id)):
        with pytest.raises(AlreadyExists):
            _create(repos, duplicate, charge=_charge(10), once=OnceKey(f"another-request-{n}"))

    assert repos.users.find_by_id(user.id).coins == 100  # type: ignore[union-attr]
    assert repos.users.get_stats(user.id).total_images == 1


def test_create_for_a_missing_user_is_not_found(repos: Repositories) -> None:
    ghost = User(id=new_id(), email="ghost@example.com", google_id="g")
    image = _image(ghost)
    with pytest.raises(NotFound):
        _create(repos, image)
    assert repos.images.find_by_id(image.id) is None


def test_missing_images_are_none(repos: Repositories) -> None:
    assert repos.images.find_by_id(new_id()) is None
    assert repos.images.find_by_id("") is None
    assert repos.images.find_by_storage_key("images/nothing.png") is None
    assert repos.images.find_by_storage_key("") is None
    assert repos.images.delete(new_id()) is None
    with pytest.raises(NotFound):
        repos.users.get_stats(new_id())


# ---- update and delete ------------------------------------------------------------------------


def test_update_title_and_description(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))

    updated = repos.images.update(image.id, title="  New title ", description="words")
    assert (updated.title, updated.description) == ("New title", "words")
    cleared = repos.images.update(image.id, clear_description=True)
    assert cleared.description is None and cleared.title == "New title"
    assert repos.images.find_by_id(image.id) == cleared
    assert repos.images.update(image.id) == cleared


def test_update_validates_and_reports_missing_images(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))
    with pytest.raises(ValidationError):
        repos.images.update(image.id, title="   ")
    with pytest.raises(ValidationError):
        repos.images.update(image.id, description="x" * 2001)
    with pytest.raises(NotFound):
        repos.images.update(new_id(), title="x")
    assert repos.images.find_by_id(image.id) == image


def test_delete_removes_image_alias_and_counts(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user(100)
    kept = _create(repos, _image(user, type=ImageType.UPLOADED))
    gone = _create(repos, _image(user, coins_used=50), charge=_charge(50))

    assert repos.images.delete(gone.id) == gone
    assert repos.images.delete(gone.id) is None
    assert repos.images.find_by_id(gone.id) is None
    assert repos.images.find_by_storage_key(gone.storage_key) is None
    # Spending history stays: coins used are net of refunds, not of deletions.
    assert repos.users.get_stats(user.id) == UserStats(1, 0, 1, 50)
    # Only the coin history (ledger entry, idempotency record) still names it.
    assert {i["entity"] for i in table_items() if gone.id in repr(i)} == {"LEDGER", "OP"}
    assert repos.images.find_by_id(kept.id) == kept


def test_concurrent_deletes_decrement_once(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    image = _create(repos, _image(user))
    results = _parallel(8, lambda _: repos.images.delete(image.id))
    assert sum(r == image for r in results) == 1
    assert all(r is None for r in results if r != image)
    assert repos.users.get_stats(user.id).total_images == 0


# ---- status -----------------------------------------------------------------------------------


def test_status_moves_follow_the_rules(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))

    processing = repos.images.update_status(image.id, ImageStatus.PROCESSING, expected=ImageStatus.PENDING)
    done = repos.images.update_status(
        image.id,
        ImageStatus.COMPLETED,
        thumbnail_key="thumbnails/a.webp",
        thumbnail_url="http://example.com/thumbnails/a.webp",
        metadata={"width": 800, "height": 600, "format": "png", "sizeBytes": 1234, "previewUrl": "http://p"},
    )

    assert processing.status is ImageStatus.PROCESSING
    assert done.status is ImageStatus.COMPLETED
    assert done.thumbnail_key == "thumbnails/a.webp"
    assert done.metadata["sizeBytes"] == 1234
    assert repos.images.find_by_id(image.id) == done
    for target in (ImageStatus.PENDING, ImageStatus.PROCESSING, ImageStatus.FAILED, ImageStatus.COMPLETED):
        with pytest.raises(InvalidTransition):
            repos.images.update_status(image.id, target)
    assert repos.images.find_by_id(image.id) == done


def test_expected_status_is_enforced(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))
    with pytest.raises(InvalidTransition):
        repos.images.update_status(image.id, ImageStatus.COMPLETED, expected=ImageStatus.PROCESSING)
    with pytest.raises(InvalidTransition):
        repos.images.update_status(image.id, ImageStatus.PENDING, expected=ImageStatus.PROCESSING)
    assert repos.images.find_by_id(image.id) == image


def test_status_changes_are_limited_and_validated(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))
    with pytest.raises(TypeError):
        repos.images.update_status(image.id, ImageStatus.PROCESSING, title="sneaky")
    with pytest.raises(ValidationError):
        repos.images.update_status(image.id, ImageStatus.COMPLETED, metadata=["not", "an", "object"])
    with pytest.raises(NotFound):
        repos.images.update_status(new_id(), ImageStatus.PROCESSING)
    assert repos.images.find_by_id(image.id) == image


def test_racing_moves_from_the_same_status_have_one_winner(repos: Repositories, new_user: NewUser) -> None:
    image = _create(repos, _image(new_user()))

    results = _parallel(
        10,
        lambda _: repos.images.update_status(image.id, ImageStatus.PROCESSING, expected=ImageStatus.PENDING),
    )

    assert sum(isinstance(r, Image) for r in results) == 1
    assert all(isinstance(r, InvalidTransition) for r in results if not isinstance(r, Image))

    finals = [ImageStatus.COMPLETED, ImageStatus.FAILED] * 4
    results = _parallel(8, lambda i: repos.images.update_status(image.id, finals[i]))
    winners = [r for r in results if isinstance(r, Image)]
    assert len(winners) == 1
    assert repos.images.find_by_id(image.id).status is winners[0].status  # type: ignore[union-attr]


# ---- fail and refund --------------------------------------------------------------------------


def test_fail_and_refund_gives_the_coins_back_once(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    image = _create(repos, _image(user, coins_used=50), charge=_charge(50))
    repos.images.update_status(image.id, ImageStatus.PROCESSING)

    failed, entry = repos.images.fail_and_refund(image.id, "provider_error")
    again, none = repos.images.fail_and_refund(image.id, "provider_error")

    assert failed.status is ImageStatus.FAILED and failed.failure_reason == "provider_error"
    assert entry is not None
    assert (entry.amount, entry.balance_after, entry.reason, entry.image_id) == (
        50,
        100,
        LedgerReason.REFUND,
        image.id,
    )
    assert none is None and again == repos.images.find_by_id(image.id)
    assert repos.users.find_by_id(user.id).coins == 100  # type: ignore[union-attr]
    assert repos.users.get_stats(user.id) == UserStats(1, 1, 0, 0)
    assert [e.amount for e in repos.ledger.all_for_user(user.id)] == [100, -50, 50]


def test_fail_and_refund_exactly_once_under_concurrency(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    image = _create(repos, _image(user, coins_used=50), charge=_charge(50))

    results = _parallel(10, lambda _: repos.images.fail_and_refund(image.id, "timed_out"))

    assert all(isinstance(r, tuple) for r in results), results
    assert sum(entry is not None for _, entry in results) == 1
    refunds = [e for e in repos.ledger.all_for_user(user.id) if e.reason is LedgerReason.REFUND]
    assert len(refunds) == 1
    assert repos.users.find_by_id(user.id).coins == 100  # type: ignore[union-attr]


def test_fail_of_a_free_image_writes_no_entry(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(0)
    image = _create(repos, _image(user, type=ImageType.UPLOADED))
    failed, entry = repos.images.fail_and_refund(image.id, "not_an_image")
    assert failed.status is ImageStatus.FAILED and entry is None
    assert repos.ledger.all_for_user(user.id) == []
    assert repos.images.find_stuck(ImageStatus.FAILED, "9999") == [failed]


def test_fail_of_a_completed_or_missing_image_is_refused(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    image = _create(repos, _image(user, coins_used=50), charge=_charge(50))
    repos.images.update_status(image.id, ImageStatus.COMPLETED)
    with pytest.raises(InvalidTransition):
        repos.images.fail_and_refund(image.id, "late")
    with pytest.raises(NotFound):
        repos.images.fail_and_refund(new_id(), "late")
    with pytest.raises(ValidationError):
        repos.images.fail_and_refund(image.id, "")
    assert repos.users.find_by_id(user.id).coins == 50  # type: ignore[union-attr]


# ---- lists ------------------------------------------------------------------------------------


def _seed(repos: Repositories, user: User, count: int, **kwargs: Any) -> list[Image]:
    images = [_image(user, created_at=f"2024-05-01T10:00:{i:02d}.000Z", **kwargs) for i in range(count)]
    for image in images:
        _create(repos, image)
    return images


def test_user_images_newest_first_with_cursors(repos: Repositories, new_user: NewUser) -> None:
    user, other = new_user(), new_user()
    mine = _seed(repos, user, 7)
    _seed(repos, other, 3)

    ids, pages = _all_pages(lambda c: repos.images.find_by_user_id(user.id, limit=3, cursor=c))

    assert ids == [i.id for i in reversed(mine)]
    assert pages == 3
    exact, exact_pages = _all_pages(lambda c: repos.images.find_by_user_id(user.id, limit=7, cursor=c))
    assert exact == ids and exact_pages == 1


def test_type_filter_uses_its_own_index(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    generated = _seed(repos, user, 3, type=ImageType.GENERATED)
    uploaded = _seed(repos, user, 2, type=ImageType.UPLOADED)

    assert [i.id for i in repos.images.find_by_user_id(user.id, type=ImageType.GENERATED).items] == [
        i.id for i in reversed(generated)
    ]
    assert [i.id for i in repos.images.find_by_user_id(user.id, type=ImageType.UPLOADED).items] == [
        i.id for i in reversed(uploaded)
    ]
    ids, _ = _all_pages(
        lambda c: repos.images.find_by_user_id(user.id, limit=1, cursor=c, type=ImageType.UPLOADED)
    )
    assert ids == [i.id for i in reversed(uploaded)]


def test_status_filter_fills_pages_across_many_non_matching_items(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user()
    images = _seed(repos, user, 30)
    done = images[::7]  # 5 of 30
    for image in done:
        repos.images.update_status(image.id, ImageStatus.COMPLETED)

    ids, pages = _all_pages(
        lambda c: repos.images.find_by_user_id(user.id, limit=2, cursor=c, status=ImageStatus.COMPLETED)
    )

    assert ids == [i.id for i in reversed(done)]
    assert pages == 3
    page = repos.images.find_by_user_id(user.id, limit=2, status=ImageStatus.COMPLETED)
    assert len(page.items) == 2


def test_admin_lists_every_image_by_status_and_type(repos: Repositories, new_user: NewUser) -> None:
    a, b = new_user(), new_user()
    a_images = _seed(repos, a, 3, type=ImageType.UPLOADED)
    b_images = _seed(repos, b, 3)
    repos.images.update_status(b_images[0].id, ImageStatus.PROCESSING)

    everything, _ = _all_pages(lambda c: repos.images.find_all(limit=4, cursor=c))
    processing = repos.images.find_all(status=ImageStatus.PROCESSING)
    pending_uploads = repos.images.find_all(status=ImageStatus.PENDING, type=ImageType.UPLOADED)
    generated = repos.images.find_all(type=ImageType.GENERATED)

    assert sorted(everything) == sorted(i.id for i in a_images + b_images)
    assert [i.id for i in processing.items] == [b_images[0].id]
    assert sorted(i.id for i in pending_uploads.items) == sorted(i.id for i in a_images)
    assert sorted(i.id for i in generated.items) == sorted(i.id for i in b_images)


@pytest.mark.parametrize(("field", "value"), [("type", "JPEG"), ("status", "DONE")])
def test_unknown_filters_are_validation_errors(repos: Repositories, field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        repos.images.find_all(**{field: value})  # type: ignore[arg-type]
    assert caught.value.errors[0].field == field


def test_find_stuck_returns_old_images_oldest_first(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    old = [_image(user, created_at=f"2024-01-01T00:00:0{i}.000Z") for i in range(3)]
    new = _image(user, created_at="2024-01-02T00:00:00.000Z")
    for image in [*old, new]:
        _create(repos, image)
    repos.images.update_status(old[1].id, ImageStatus.PROCESSING)

    assert [i.id for i in repos.images.find_stuck(ImageStatus.PENDING, "2024-01-01T12:00:00.000Z")] == [
        old[0].id,
        old[2].id,
    ]
    assert [i.id for i in repos.images.find_stuck(ImageStatus.PROCESSING, "2024-01-01T12:00:00.000Z")] == [
        old[1].id
    ]
    assert len(repos.images.find_stuck(ImageStatus.PENDING, "2025-01-01T00:00:00.000Z", limit=1)) == 1
    with pytest.raises(ValidationError):
        repos.images.find_stuck(ImageStatus.PENDING, "2025", limit=0)


def test_find_stuck_pages_after_the_last_image_seen(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    # Two in the same millisecond: the id orders them.
    stamps = [
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.000Z",
        *(f"2024-01-01T00:00:0{i}.000Z" for i in range(1, 5)),
    ]
    for stamp in stamps:
        _create(repos, _image(user, created_at=stamp))
    cutoff = "2024-01-01T00:00:04.000Z"
    expected = [i.id for i in repos.images.find_stuck(ImageStatus.PENDING, cutoff, limit=10)]
    assert len(expected) == 5
    seen: list[str] = []
    after = None
    while True:
        page = repos.images.find_stuck(ImageStatus.PENDING, cutoff, limit=2, after=after)
        seen += [i.id for i in page]
        if len(page) < 2:
            break
        after = page[-1]
    assert seen == expected


def test_count_pending_uploads_counts_the_users_recent_pending_uploads_up_to_a_limit(
    repos: Repositories, new_user: NewUser
) -> None:
    user, other = new_user(), new_user()
    recent = [
        _image(user, type=ImageType.UPLOADED, created_at=f"2024-01-02T00:00:0{i}.000Z") for i in range(4)
    ]
    for image in [
        *recent,
        _image(user, type=ImageType.UPLOADED, created_at="2024-01-01T00:00:00.000Z"),  # before the window
        _image(user, type=ImageType.GENERATED, created_at="2024-01-02T00:00:00.000Z"),  # not an upload
        _image(other, type=ImageType.UPLOADED, created_at="2024-01-02T00:00:00.000Z"),  # someone else's
    ]:
        _create(repos, image)
    repos.images.update_status(recent[0].id, ImageStatus.PROCESSING)
    since = "2024-01-02T00:00:00.000Z"
    assert repos.images.count_pending_uploads(user.id, since, 10) == 3
    assert repos.images.count_pending_uploads(user.id, since, 2) == 2
    assert repos.images.count_pending_uploads(user.id, "2023-01-01T00:00:00.000Z", 10) == 4


# ---- cursors ----------------------------------------------------------------------------------


def _tampered(cursor: str) -> str:
    body, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["gsi1pk"]["S"] = payload["gsi1pk"]["S"].replace("USER#", "USER#x")
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


def test_forged_truncated_and_foreign_cursors_are_refused(repos: Repositories, new_user: NewUser) -> None:
    alice, bob = new_user(), new_user()
    _seed(repos, alice, 3)
    _seed(repos, bob, 3)
    alice_cursor = repos.images.find_by_user_id(alice.id, limit=1).next_cursor
    typed_cursor = repos.images.find_by_user_id(alice.id, limit=1, type=ImageType.GENERATED).next_cursor
    assert alice_cursor and typed_cursor

    bad = [
        _tampered(alice_cursor),
        alice_cursor[:-3],
        alice_cursor[: len(alice_cursor) // 2],
        alice_cursor + "A",
        "garbage",
        "",
        ".",
        "x" * 5000,
    ]
    for cursor in bad:
        with pytest.raises(InvalidCursor):
            repos.images.find_by_user_id(alice.id, cursor=cursor)
    # Another user's list, another filter, another index: same code, never their data.
    with pytest.raises(InvalidCursor):
        repos.images.find_by_user_id(bob.id, limit=1, cursor=alice_cursor)
    with pytest.raises(InvalidCursor):
        repos.images.find_by_user_id(alice.id, cursor=alice_cursor, status=ImageStatus.PENDING)
    with pytest.raises(InvalidCursor):
        repos.images.find_by_user_id(alice.id, cursor=typed_cursor)
    with pytest.raises(InvalidCursor):
        repos.images.find_all(cursor=alice_cursor)
    with pytest.raises(InvalidCursor):
        repos.ledger.find_by_user_id(alice.id, cursor=alice_cursor)
    assert len(repos.images.find_by_user_id(alice.id, limit=1, cursor=alice_cursor).items) == 1


@pytest.mark.parametrize("limit", [0, 101, True, None])
def test_image_list_limit_is_validated(repos: Repositories, new_user: NewUser, limit: Any) -> None:
    user = new_user()
    with pytest.raises(ValidationError) as caught:
        repos.images.find_by_user_id(user.id, limit=limit)
    assert caught.value.errors[0].field == "limit"


def test_stats_follow_create_delete_and_refund(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(200)
    a = _create(repos, _image(user, coins_used=50), charge=_charge(50))
    b = _create(repos, _image(user, coins_used=50), charge=_charge(50))
    c = _create(repos, _image(user, type=ImageType.UPLOADED))
    assert repos.users.get_stats(user.id) == UserStats(3, 2, 1, 100)
    repos.images.fail_and_refund(a.id, "timed_out")
    assert repos.users.get_stats(user.id) == UserStats(3, 2, 1, 50)
    repos.images.delete(b.id)
    repos.images.delete(c.id)
    assert repos.users.get_stats(user.id) == UserStats(1, 1, 0, 50)
