"""The event-driven services on in-memory adapters: generator, thumbnailer, ledger commands, sweeper."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from imagegen.commands import GenerateImage, StartUpload
from imagegen.errors import PermanentError, ServiceUnavailable, TransientError
from imagegen.models import Image, ImageStatus, ImageType, LedgerReason
from imagegen.queues import GenerationRequest, LedgerCommand
from PIL import Image as PILImage

from tests.memory import Wiring, wire


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


def _generation(w: Wiring, coins: int = 100) -> tuple[str, Image]:
    user = w.user(coins=coins)
    image = w.images().generate(user.id, GenerateImage(prompt="a lighthouse", width=256, height=256))
    return user.id, image


def _request(image: Image) -> GenerationRequest:
    return GenerationRequest(image.id, image.user_id, image.prompt or "", 256, 256)


# ---- generator -----------------------------------------------------------------------------------
def test_generation_stores_the_original_once_however_often_the_message_comes() -> None:
    w = wire(generation_cost=10)
    _, image = _generation(w)
    w.generation().process(_request(image))
    w.generation().process(_request(image))  # redelivered: the original is there already
    assert w.provider.calls == [("a lighthouse", 256, 256)]
    assert w.repos.images.find_by_id(image.id).status is ImageStatus.PROCESSING  # type: ignore[union-attr]
    assert w.storage.objects[image.storage_key].data == w.provider.image


def test_a_permanent_failure_fails_the_image_with_one_refund() -> None:
    w = wire(generation_cost=10)
    user_id, image = _generation(w)
    w.provider.error = PermanentError("content_filtered")
    w.generation().process(_request(image))
    w.generation().process(_request(image))
    failed = w.repos.images.find_by_id(image.id)
    assert failed is not None and (failed.status, failed.failure_reason) == (
        ImageStatus.FAILED,
        "content_filtered",
    )
    refunds = [e for e in w.repos.ledger.all_for_user(user_id) if e.reason is LedgerReason.REFUND]
    assert len(refunds) == 1 and refunds[0].amount == 10 and w.books_balance(user_id)
    assert image.storage_key not in w.storage.objects


def test_a_transient_failure_propagates_for_the_queue_to_retry() -> None:
    w = wire()
    _, image = _generation(w)
    w.provider.error = TransientError("throttled")
    with pytest.raises(TransientError):
        w.generation().process(_request(image))
    assert w.repos.images.find_by_id(image.id).status is ImageStatus.PROCESSING  # type: ignore[union-attr]


def test_a_deleted_or_finished_image_is_not_generated() -> None:
    w = wire()
    user_id, image = _generation(w)
    w.images().delete(image.id, user_id)
    w.generation().process(_request(image))
    assert w.provider.calls == [] and w.storage.objects == {}


# ---- thumbnailer ---------------------------------------------------------------------------------
def test_a_real_image_completes_with_renditions_and_metadata() -> None:
    w = wire()
    _, image = _generation(w)
    w.storage.put(image.storage_key, _png(640, 480), "image/png")
    w.thumbnails().process(image.storage_key)
    done = w.repos.images.find_by_id(image.id)
    assert done is not None and done.status is ImageStatus.COMPLETED
    assert (done.metadata["width"], done.metadata["height"], done.metadata["format"]) == (640, 480, "png")
    assert done.thumbnail_key in w.storage.objects and done.metadata["previewKey"] in w.storage.objects
    thumb = w.storage.objects[done.thumbnail_key]  # type: ignore[index]
    assert thumb.content_type == "image/webp" and thumb.cache_control == "public, max-age=31536000, immutable"
    assert max(PILImage.open(io.BytesIO(thumb.data)).size) == 256
    w.thumbnails().process(image.storage_key)  # a duplicate event changes nothing
    assert w.repos.images.find_by_id(image.id) == done


def test_renditions_are_keyed_by_image_and_content_version_never_by_owner() -> None:
    w = wire()
    user_id, image = _generation(w)
    data = _png(300, 200)
    w.storage.put(image.storage_key, data, "image/png")
    w.thumbnails().process(image.storage_key)
    done = w.repos.images.find_by_id(image.id)
    assert done is not None
    version = w.storage.content_version(data)
    assert done.thumbnail_key == f"thumbnails/{image.id}/{version}-256.webp"
    assert done.metadata["previewKey"] == f"thumbnails/{image.id}/{version}-1024.webp"
    assert done.metadata["contentVersion"] == version
    assert user_id not in (done.thumbnail_url or "") and user_id not in done.metadata["previewUrl"]
    for key in (done.thumbnail_key, done.metadata["previewKey"]):
        assert w.storage.objects[key].cache_control == "public, max-age=31536000, immutable"


def test_an_image_with_legacy_renditions_is_deleted_with_all_of_them() -> None:
    w = wire()
    user_id, image = _generation(w)
    legacy = [w.storage.legacy_thumbnail_key(image.storage_key, n) for n in ("256", "1024")]
    w.storage.put(image.storage_key, _png(), "image/png")
    for key in legacy:
        w.storage.put(key, b"webp", "image/webp")
    w.repos.images.update_status(
        image.id,
        ImageStatus.COMPLETED,
        thumbnail_key=legacy[0],
        thumbnail_url=f"https://cdn.test/{legacy[0]}",
        metadata={**image.metadata, "previewKey": legacy[1]},
    )
    w.images().delete(image.id, user_id)
    assert w.storage.objects == {}


def test_a_thumbnailer_that_finds_its_image_deleted_removes_what_it_wrote() -> None:
    w = wire()
    _user_id, image = _generation(w)
    w.storage.put(image.storage_key, _png(), "image/png")
    real_update = w.repos.images.update_status

    def deleted_meanwhile(image_id: str, status: ImageStatus, **changes: object) -> Image:
        w.repos.images.delete(image_id)
        return real_update(image_id, status, **changes)

    w.repos.images.update_status = deleted_meanwhile  # type: ignore[method-assign]
    w.thumbnails().process(image.storage_key)
    assert w.storage.objects == {}


def test_something_that_is_not_an_image_fails_is_deleted_and_refunded() -> None:
    w = wire(upload_cost=3)
    user = w.user(coins=10)
    ticket = w.images().create_upload(
        user.id, StartUpload(filename="x.png", content_type="image/png", size=20)
    )
    w.storage.put(ticket.image.storage_key, b"<html>not an image</html>", "image/png")
    w.thumbnails().process(ticket.image.storage_key)
    failed = w.repos.images.find_by_id(ticket.image.id)
    assert failed is not None and (failed.status, failed.failure_reason) == (
        ImageStatus.FAILED,
        "not_an_image",
    )
    assert w.storage.objects == {} and w.repos.users.find_by_id(user.id).coins == 10  # type: ignore[union-attr]


def test_an_upload_larger_than_allowed_is_refused_from_its_size_alone() -> None:
    w = wire(max_upload_bytes=100)
    user = w.user()
    ticket = w.images().create_upload(
        user.id, StartUpload(filename="x.png", content_type="image/png", size=50)
    )
    w.storage.put(ticket.image.storage_key, _png(), "image/png")  # bigger than 100 bytes
    w.thumbnails().process(ticket.image.storage_key)
    assert w.repos.images.find_by_id(ticket.image.id).failure_reason == "too_large"  # type: ignore[union-attr]


def test_an_object_nobody_owns_is_deleted_and_keys_outside_the_prefix_are_left_alone() -> None:
    w = wire()
    w.storage.put("images/nobody/1-x.png", _png(), "image/png")
    w.thumbnails().process("images/nobody/1-x.png")
    assert "images/nobody/1-x.png" not in w.storage.objects
    w.storage.put("elsewhere/x.png", b"x", "image/png")
    w.thumbnails().process("elsewhere/x.png")
    assert "elsewhere/x.png" in w.storage.objects


def test_an_original_replaced_after_completion_fails_the_image() -> None:
    w = wire()
    _, image = _generation(w)
    w.storage.put(image.storage_key, _png(), "image/png")
    w.thumbnails().process(image.storage_key)
    w.storage.put(image.storage_key, _png(32, 32), "image/png")  # a new ETag
    w.thumbnails().process(image.storage_key)
    replaced = w.repos.images.find_by_id(image.id)
    assert replaced is not None and replaced.failure_reason == "content_replaced"
    assert w.storage.objects == {}


# ---- ledger commands -----------------------------------------------------------------------------
def test_a_grant_applies_once_per_key() -> None:
    w = wire()
    user = w.user(coins=0)
    grant = LedgerCommand(command="grant", key="g-1", user_id=user.id, amount=25, note="support")
    w.ledger().apply(grant)
    w.ledger().apply(grant)
    assert w.repos.users.find_by_id(user.id).coins == 25  # type: ignore[union-attr]
    assert [e.note for e in w.repos.ledger.all_for_user(user.id)] == ["support"]


def test_a_refund_command_fails_the_image_once() -> None:
    w = wire(generation_cost=10)
    user_id, image = _generation(w)
    command = LedgerCommand(command="refund_image", key="r", image_id=image.id, reason="support")
    w.ledger().apply(command)
    w.ledger().apply(command)
    assert w.repos.users.find_by_id(user_id).coins == 100  # type: ignore[union-attr]
    assert w.repos.images.find_by_id(image.id).failure_reason == "support"  # type: ignore[union-attr]


def test_purge_hands_the_user_to_account_erasure() -> None:
    erased: list[str] = []
    w = wire()
    w.ledger(erase_account=lambda user_id: erased.append(user_id) or True).apply(
        LedgerCommand(command="purge_user", key="p", user_id="u-9")
    )
    assert erased == ["u-9"]


@pytest.mark.parametrize(
    "command",
    [
        LedgerCommand(command="grant", key="k", user_id="u", amount=0),
        LedgerCommand(command="refund_image", key="k"),
        LedgerCommand(command="purge_user", key="k"),
        LedgerCommand(command="mint", key="k"),
    ],
)
def test_a_malformed_command_is_refused(command: LedgerCommand) -> None:
    with pytest.raises(ValueError):
        wire().ledger().apply(command)


def test_a_dead_lettered_storage_event_fails_its_upload_or_deletes_an_orphan() -> None:
    w = wire()
    user = w.user()
    ticket = w.images().create_upload(
        user.id, StartUpload(filename="a.gif", content_type="image/gif", size=9)
    )
    w.ledger().fail_by_storage_key(ticket.image.storage_key, "processing_failed")
    assert w.repos.images.find_by_id(ticket.image.id).failure_reason == "processing_failed"  # type: ignore[union-attr]
    w.storage.put("images/ghost/1-a.png", b"x", "image/png")
    w.ledger().fail_by_storage_key("images/ghost/1-a.png", "processing_failed")
    assert w.storage.objects == {}


# ---- sweeper -------------------------------------------------------------------------------------
def test_the_sweeper_fails_stuck_images_refunds_them_and_removes_old_orphans() -> None:
    w = wire(generation_cost=10, stuck_image_minutes=30)
    user_id, stuck = _generation(w)
    ticket = w.images().create_upload(
        user_id, StartUpload(filename="n.png", content_type="image/png", size=9)
    )
    w.storage.put("images/ghost/1-orphan.png", b"x", "image/png")
    w.storage.set_last_modified("images/ghost/1-orphan.png", "2000-01-01T00:00:00.000Z")
    later = datetime.now(UTC) + timedelta(hours=1)
    assert w.sweeper().run(now=later) == {"failed": 2, "errors": 0, "left": 0, "erased": 0, "orphans": 1}
    assert w.repos.images.find_by_id(stuck.id).failure_reason == "timed_out"  # type: ignore[union-attr]
    assert w.repos.images.find_by_id(ticket.image.id).failure_reason == "upload_expired"  # type: ignore[union-attr]
    assert w.repos.users.find_by_id(user_id).coins == 100 and w.books_balance(user_id)  # type: ignore[union-attr]
    assert w.sweeper().run(now=later) == {"failed": 0, "errors": 0, "left": 0, "erased": 0, "orphans": 0}


def test_the_sweeper_leaves_fresh_images_alone_and_resumes_its_orphan_scan() -> None:
    w = wire()
    _generation(w)
    for n in range(5):
        w.storage.put(f"images/ghost/{n}-o.png", b"x", "image/png")
        w.storage.set_last_modified(f"images/ghost/{n}-o.png", "2000-01-01T00:00:00.000Z")
    now = datetime.now(UTC)
    removed = [w.sweeper().run(now=now, max_objects=2)["orphans"] for _ in range(3)]
    assert removed == [2, 2, 1] and w.storage.objects == {}
    assert w.repos.images.find_all().items[0].status is ImageStatus.PENDING


def test_the_sweeper_removes_old_renditions_of_deleted_images_and_stale_versions() -> None:
    w = wire()
    _, image = _generation(w)
    w.storage.put(image.storage_key, _png(), "image/png")
    w.thumbnails().process(image.storage_key)
    done = w.repos.images.find_by_id(image.id)
    assert done is not None
    kept = {done.thumbnail_key, done.metadata["previewKey"]}
    stale = w.storage.rendition_key(image.id, "0000", "256")  # another content version
    ghost = w.storage.rendition_key("deleted-image", "abcd", "1024")
    fresh_ghost = w.storage.rendition_key("being-written", "abcd", "256")
    for key in (stale, ghost, fresh_ghost):
        w.storage.put(key, b"webp", "image/webp")
    for key in (*kept, stale, ghost):
        w.storage.set_last_modified(str(key), "2000-01-01T00:00:00.000Z")
    assert w.sweeper().run(now=datetime.now(UTC))["orphans"] == 2
    assert stale not in w.storage.objects and ghost not in w.storage.objects
    assert kept <= set(w.storage.objects) and fresh_ghost in w.storage.objects


# ---- the sweeper under load ----------------------------------------------------------------------
def _starving_uploads(w: Wiring, count: int) -> tuple[str, list[str]]:
    """``count`` free uploads never posted, all older than one paid generation stuck in PENDING."""
    uploader, payer = w.user(), w.user()
    free = []
    for i in range(count):
        image = Image(
            id=f"free-{i:04d}",
            user_id=uploader.id,
            type=ImageType.UPLOADED,
            title="never posted",
            storage_key=w.storage.make_key(uploader.id, f"{i}.png", 1_700_000_000_000 + i),
            storage_url="x",
            created_at=f"2024-01-01T00:00:00.{i % 1000:03d}Z",
        )
        assert w.repos.images.create(image).created
        free.append(image.id)
    paid = w.images().generate(payer.id, GenerateImage(prompt="stuck"))
    return paid.id, free


def test_the_sweeper_fails_paid_images_first_however_many_free_ones_are_older() -> None:
    w = wire(generation_cost=50)
    paid, free = _starving_uploads(w, 120)
    # Time for reading (two pages of PENDING, one of PROCESSING) and one image, then none.
    budget = iter([100.0] * 4 + [0.0] * 1000)
    counts = w.sweeper().run(now=datetime.now(UTC) + timedelta(hours=2), time_left=lambda: next(budget))
    image = w.repos.images.find_by_id(paid)
    assert image is not None and image.status is ImageStatus.FAILED
    assert counts["failed"] == 1 and counts["left"] == 120
    assert all(w.repos.images.find_by_id(i).status is ImageStatus.PENDING for i in free)  # type: ignore[union-attr]
    payer = w.repos.users.find_by_id(image.user_id)
    assert payer is not None and payer.coins == 100  # refunded


def test_the_sweeper_reads_past_its_first_hundred_and_finishes_without_a_budget() -> None:
    w = wire(generation_cost=50)
    paid, free = _starving_uploads(w, 120)
    counts = w.sweeper().run(now=datetime.now(UTC) + timedelta(hours=2))
    assert (counts["failed"], counts["left"], counts["errors"]) == (121, 0, 0)
    assert all(w.repos.images.find_by_id(i).status is ImageStatus.FAILED for i in [paid, *free])  # type: ignore[union-attr]


def test_the_sweeper_stops_when_its_time_runs_out() -> None:
    w = wire()
    _starving_uploads(w, 10)
    left = [100.0]

    def time_left() -> float:
        left[0] -= 10  # every look at the clock costs 10 seconds
        return left[0]

    counts = w.sweeper().run(now=datetime.now(UTC) + timedelta(hours=2), time_left=time_left)
    assert 0 < counts["failed"] < 11 and counts["failed"] + counts["left"] == 11
    assert counts["orphans"] == 0


def test_the_sweeper_goes_on_past_an_image_that_fails_and_counts_it() -> None:
    w = wire(generation_cost=50)
    paid, free = _starving_uploads(w, 3)
    real = w.repos.images.fail_and_refund
    calls: list[str] = []

    def flaky(image_id: str, reason: str, **options: Any) -> object:
        calls.append(image_id)
        if image_id == paid:
            raise ServiceUnavailable("throttled")
        if image_id == free[0]:
            w.repos.images.delete(image_id)  # deleted by its owner while the sweeper works
        return real(image_id, reason, **options)

    w.repos.images.fail_and_refund = flaky  # type: ignore[method-assign]
    counts = w.sweeper().run(now=datetime.now(UTC) + timedelta(hours=2))
    assert calls[0] == paid and len(calls) == 4
    assert (counts["failed"], counts["errors"]) == (2, 1)
    assert w.repos.images.find_by_id(free[1]).status is ImageStatus.FAILED  # type: ignore[union-attr]
