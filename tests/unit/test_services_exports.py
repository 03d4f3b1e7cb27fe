"""Exports on the in-memory adapters: creation rules, the exporter's ZIP, failures, the sweeper's part."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from imagegen.commands import BatchImages, CreateCollection, CreateExport
from imagegen.errors import NotFound, RateLimited, ServiceUnavailable, ValidationError
from imagegen.models import ExportStatus, Image, ImageStatus, ImageType
from imagegen.queues import ExportRequest

from tests.memory import Wiring, wire


def _image(
    w: Wiring, user_id: str, title: str, data: bytes, *, status: ImageStatus = ImageStatus.COMPLETED
) -> Image:
    image_id = w.ids.new_id()
    key = w.storage.make_key(user_id, f"{image_id}.png")
    image = Image(
        id=image_id,
        user_id=user_id,
        type=ImageType.UPLOADED,
        title=title,
        storage_key=key,
        storage_url=w.storage.get_public_url(key),
        status=status,
        metadata={"format": "png"},
    )
    w.repos.images.create(image)
    w.storage.put(key, data, "image/png")
    return image


def _create(w: Wiring, user_id: str, ids: list[str]) -> Any:
    return w.exports().create(user_id, CreateExport.from_json({"imageIds": ids}))


def _zip_of(w: Wiring, key: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(w.storage.get(key)))


def test_create_counts_what_cannot_be_exported_and_queues_the_rest() -> None:
    w = wire()
    me, other = w.user(), w.user()
    mine = _image(w, me.id, "Sunset", b"a" * 100)
    pending = _image(w, me.id, "Later", b"b", status=ImageStatus.PENDING)
    theirs = _image(w, other.id, "Not yours", b"c")
    export = _create(w, me.id, [mine.id, pending.id, theirs.id, "no-such-image", mine.id])
    assert export.status is ExportStatus.PENDING
    assert (export.image_count, export.missing_count) == (1, 3)  # the repeated id counts once
    assert export.zip_key == f"exports/{me.id}/{export.id}.zip"
    ((queue, message),) = w.publisher.sent
    assert queue == "queue://exports"
    assert message == ExportRequest(export.id, me.id)
    assert w.repos.exports.find_manifest(me.id, export.id) == [mine.id]
    as_json = w.exports().to_json(export)
    assert as_json["downloadUrl"] is None and as_json["missingCount"] == 3


def test_nothing_exportable_is_not_found_and_nothing_is_created() -> None:
    w = wire()
    me, other = w.user(), w.user()
    theirs = _image(w, other.id, "Theirs", b"c")
    with pytest.raises(NotFound):
        _create(w, me.id, [theirs.id, "missing"])
    assert w.publisher.sent == [] and w.repos.exports.exports == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"imageIds": ["a"], "collectionId": "c"},
        {"imageIds": []},
        {"imageIds": ["x"] * 1001},
        {"imageIds": ["ok", "bad\u0000id"]},
        {"imageIds": ["y" * 129]},
    ],
)
def test_the_command_takes_exactly_one_of_ids_or_collection(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateExport.from_json(body)


def test_the_command_deduplicates_ids_in_order() -> None:
    assert CreateExport.from_json({"imageIds": ["b", "a", "b"]}).image_ids == ("b", "a")
    assert CreateExport.from_json({"collectionId": "c1"}).collection_id == "c1"


def test_at_most_max_active_exports_then_429_until_one_finishes() -> None:
    w = wire(max_active_exports=2)
    me = w.user()
    image = _image(w, me.id, "One", b"1" * 10)
    first = _create(w, me.id, [image.id])
    _create(w, me.id, [image.id])
    with pytest.raises(RateLimited) as caught:
        _create(w, me.id, [image.id])
    assert caught.value.retry_after > 0
    w.exporter().process(ExportRequest(first.id, me.id))
    assert w.repos.exports.find(me.id, first.id).status is ExportStatus.COMPLETED  # type: ignore[union-attr]
    assert _create(w, me.id, [image.id]).status is ExportStatus.PENDING  # a slot came free


def test_a_collection_export_takes_the_collections_images() -> None:
    w = wire()
    me = w.user()
    a, b = _image(w, me.id, "A", b"a"), _image(w, me.id, "B", b"b")
    trip = w.collections().create(me.id, CreateCollection(title="Trip"))
    added = w.batch().run(
        me.id,
        BatchImages.from_json(
            {"action": "addToCollection", "collectionId": trip.id, "imageIds": [a.id, b.id]}
        ),
    )
    assert [status.value for _, status in added] == ["ok", "ok"]
    export = w.exports().create(me.id, CreateExport.from_json({"collectionId": trip.id}))
    assert (export.image_count, export.missing_count) == (2, 0)
    assert w.repos.exports.find_manifest(me.id, export.id) == [b.id, a.id]  # most recently added first
    with pytest.raises(NotFound):
        w.exports().create(me.id, CreateExport.from_json({"collectionId": "someone-elses"}))


def test_the_exporter_writes_one_zip_with_unique_safe_names() -> None:
    w = wire()
    me = w.user()
    images = [
        _image(w, me.id, "Sunset", b"s" * 70_000),
        _image(w, me.id, "sunset", b"t" * 5),
        _image(w, me.id, "../../etc/passwd", b"p" * 10),
    ]
    export = _create(w, me.id, [i.id for i in images])
    w.exporter().process(ExportRequest(export.id, me.id))
    done = w.repos.exports.find(me.id, export.id)
    assert done is not None and done.status is ExportStatus.COMPLETED
    archive = _zip_of(w, done.zip_key)
    assert archive.testzip() is None
    assert archive.namelist() == ["Sunset.png", "sunset (2).png", "etc-passwd.png"]
    assert archive.read("Sunset.png") == b"s" * 70_000
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    assert (done.image_count, done.missing_count) == (3, 0)
    assert done.size_bytes == len(w.storage.get(done.zip_key))
    url = w.exports().download_url(done)
    assert url is not None and "filename=images-" in url and "type=application%2Fzip" in url
    assert w.archives.uploads == {}


def test_images_deleted_meanwhile_are_left_out_and_counted() -> None:
    w = wire()
    me = w.user()
    kept, deleted, object_gone = (_image(w, me.id, t, t.encode()) for t in ("Kept", "Deleted", "Gone"))
    export = _create(w, me.id, [kept.id, deleted.id, object_gone.id])
    w.images().delete(deleted.id, me.id)
    w.storage.objects.pop(object_gone.storage_key)
    w.exporter().process(ExportRequest(export.id, me.id))
    done = w.repos.exports.find(me.id, export.id)
    assert done is not None and done.status is ExportStatus.COMPLETED
    assert (done.image_count, done.missing_count) == (1, 2)
    assert _zip_of(w, done.zip_key).namelist() == ["Kept.png"]


def test_all_images_gone_fails_the_export_and_leaves_nothing() -> None:
    w = wire()
    me = w.user()
    image = _image(w, me.id, "Only", b"o")
    export = _create(w, me.id, [image.id])
    w.images().delete(image.id, me.id)
    w.exporter().process(ExportRequest(export.id, me.id))
    done = w.repos.exports.find(me.id, export.id)
    assert done is not None and (done.status, done.failure_reason) == (ExportStatus.FAILED, "no_images")
    assert export.zip_key not in w.storage.objects
    assert w.archives.uploads == {} and len(w.archives.aborted) == 1
    assert w.repos.exports.active[me.id] == 0


def test_a_failing_upload_is_aborted_retried_then_dead_lettered_once() -> None:
    w = wire()
    me = w.user()
    image = _image(w, me.id, "Big", b"x" * 100)
    export = _create(w, me.id, [image.id])
    w.archives.fail_part = 1
    with pytest.raises(ServiceUnavailable):
        w.exporter().process(ExportRequest(export.id, me.id))
    assert export.zip_key not in w.storage.objects
    assert w.archives.uploads == {} and len(w.archives.aborted) == 1
    current = w.repos.exports.find(me.id, export.id)
    assert current is not None and current.status is ExportStatus.PROCESSING
    for _ in range(2):  # the dead-letter consumer, delivered twice
        w.exports().fail_dead_letter(ExportRequest(export.id, me.id))
    failed = w.repos.exports.find(me.id, export.id)
    assert failed is not None and (failed.status, failed.failure_reason) == (
        ExportStatus.FAILED,
        "export_failed",
    )
    assert w.repos.exports.active[me.id] == 0
    w.archives.fail_part = None
    w.exporter().process(ExportRequest(export.id, me.id))  # a late redelivery changes nothing
    assert export.zip_key not in w.storage.objects


def test_a_redelivery_of_a_completed_export_changes_nothing() -> None:
    w = wire()
    me = w.user()
    export = _create(w, me.id, [_image(w, me.id, "A", b"a").id])
    w.exporter().process(ExportRequest(export.id, me.id))
    first = w.storage.head(export.zip_key)
    w.exporter().process(ExportRequest(export.id, me.id))
    assert w.storage.head(export.zip_key) == first
    assert len(w.archives.aborted) == 0


def test_a_redelivery_after_a_crash_aborts_the_earlier_upload() -> None:
    w = wire()
    me = w.user()
    export = _create(w, me.id, [_image(w, me.id, "A", b"a").id])
    crashed = w.archives.start_upload(export.zip_key, "application/zip")
    w.repos.exports.start(me.id, export.id, crashed.upload_id)
    w.exporter().process(ExportRequest(export.id, me.id))
    assert crashed.upload_id in w.archives.aborted
    done = w.repos.exports.find(me.id, export.id)
    assert done is not None and done.status is ExportStatus.COMPLETED


def test_the_sweep_fails_stuck_exports_and_removes_expired_ones() -> None:
    w = wire(export_ttl_hours=1)
    me = w.user()
    image = _image(w, me.id, "A", b"a")
    stuck = _create(w, me.id, [image.id])
    w.repos.exports.start(
        me.id, stuck.id, w.archives.start_upload(stuck.zip_key, "application/zip").upload_id
    )
    done = _create(w, me.id, [image.id])
    w.exporter().process(ExportRequest(done.id, me.id))
    service = w.exports()
    assert service.sweep(now=datetime.now(UTC)) == {
        "exports_failed": 0,
        "exports_removed": 0,
        "export_errors": 0,
    }
    counts = service.sweep(now=datetime.now(UTC) + timedelta(minutes=45))
    assert counts == {"exports_failed": 1, "exports_removed": 0, "export_errors": 0}
    failed = w.repos.exports.find(me.id, stuck.id)
    assert failed is not None and failed.failure_reason == "timed_out"
    assert w.archives.uploads == {}  # its upload aborted
    later = datetime.now(UTC) + timedelta(hours=2)
    assert service.sweep(now=later)["exports_removed"] == 2
    assert w.repos.exports.exports == {} and done.zip_key not in w.storage.objects
    assert w.repos.exports.active[me.id] == 0


def test_an_expired_export_has_no_download_url() -> None:
    w = wire(export_ttl_hours=1)
    me = w.user()
    export = _create(w, me.id, [_image(w, me.id, "A", b"a").id])
    w.exporter().process(ExportRequest(export.id, me.id))
    done = w.repos.exports.find(me.id, export.id)
    assert done is not None and w.exports().download_url(done) is not None
    w.clock.advance(2 * 3600)
    assert w.exports().download_url(done) is None


def test_account_erasure_removes_the_users_zips() -> None:
    w = wire()
    me = w.user()
    export = _create(w, me.id, [_image(w, me.id, "A", b"a").id])
    w.exporter().process(ExportRequest(export.id, me.id))
    assert export.zip_key in w.storage.objects
    assert w.accounts().delete_account(me.id)
    assert not [k for k in w.storage.objects if k.startswith(f"exports/{me.id}/")]
