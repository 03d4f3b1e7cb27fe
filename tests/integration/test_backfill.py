"""``python -m ops.backfill`` on the emulator: thousands of images of the old layout moved to the
write shards, interrupted and resumed, idempotent, never overwriting a status moved meanwhile."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
from imagegen.models import Image, ImageStatus, ImageType, new_id
from imagegen.persistence import Repositories
from imagegen.persistence.backfill import ImageIndexBackfill, Outcome, ScannedImage
from imagegen.persistence.binding import bind
from imagegen.persistence.keys import (
    IMAGES_PARTITION,
    image_all_index_pk,
    image_status_index_pk,
    status_pk,
)

from ops import backfill as command
from ops.backfill import Checkpoint, Options, RateLimiter

LEGACY_IMAGES = 2000
STATUSES = [ImageStatus.PENDING, ImageStatus.PROCESSING, ImageStatus.COMPLETED, ImageStatus.FAILED]


def _image(i: int, status: ImageStatus) -> Image:
    image_id = new_id()
    return Image(
        id=image_id,
        user_id=f"user-{i % 50}",
        type=ImageType.GENERATED,
        status=status,
        title="A title",
        prompt="a fox",
        storage_key=f"images/user-{i % 50}/{image_id}.png",
        storage_url=f"http://example.com/{image_id}.png",
        created_at=f"2024-05-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
    )


def _write_legacy(table: str, count: int) -> list[Image]:
    """Images as the release before the shards wrote them: ``IMAGES`` and ``STATUS#{status}``."""
    model = bind(table).image
    client = boto3.client("dynamodb")
    images = [_image(i, STATUSES[i % 4]) for i in range(count)]
    requests = []
    for image in images:
        raw: dict[str, Any] = model.from_image(image).serialize()
        raw["gsi3pk"] = {"S": status_pk(image.status)}
        raw["gsi4pk"] = {"S": IMAGES_PARTITION}
        requests.append({"PutRequest": {"Item": raw}})
    for start in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={table: requests[start : start + 25]})
    return images


def _index_keys(table: str) -> dict[str, tuple[str, str, str]]:
    client = boto3.client("dynamodb")
    found: dict[str, tuple[str, str, str]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            if raw["pk"]["S"].startswith("IMAGE#"):
                found[raw["id"]["S"]] = (raw["status"]["S"], raw["gsi3pk"]["S"], raw["gsi4pk"]["S"])
    return found


def _all_on_new_keys(table: str) -> bool:
    return all(
        gsi3 == image_status_index_pk(image_id, ImageStatus(status)) and gsi4 == image_all_index_pk(image_id)
        for image_id, (status, gsi3, gsi4) in _index_keys(table).items()
    )


def _options(table: str, checkpoint: Path, **kwargs: Any) -> Options:
    return Options(table=table, checkpoint=checkpoint, page_size=250, rate=1_000_000, **kwargs)


def test_thousands_of_images_move_across_an_interruption_and_a_crash(
    table: str, repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = _write_legacy(table, LEGACY_IMAGES)
    checkpoint = tmp_path / "backfill.json"
    out = io.StringIO()

    # A dry run counts and writes nothing.
    assert command.run(_options(table, checkpoint, segments=3, dry_run=True), out) == 0
    assert f"images {LEGACY_IMAGES}" in out.getvalue() and f"remaining {LEGACY_IMAGES}" in out.getvalue()
    assert not checkpoint.exists() and not any(
        gsi4.startswith("IMAGES#") for _, _, gsi4 in _index_keys(table).values()
    )

    # Stopped after 4 pages: the checkpoint holds each segment's position.
    assert command.run(_options(table, checkpoint, segments=3, stop_after=4), out) == 3
    saved = json.loads(checkpoint.read_text())
    assert saved["table"] == table and saved["segments"] == 3 and len(saved["positions"]) == 3
    first_part = saved["counts"]["migrated"]
    assert 0 < first_part < LEGACY_IMAGES

    # Resumed, then a crash in the middle of a page (after 100 more rewrites).
    real_migrate = ImageIndexBackfill.migrate
    calls = Counter[str]()

    def crashing(self: ImageIndexBackfill, found: ScannedImage) -> Outcome:
        calls["n"] += 1
        if calls["n"] > 100:
            raise RuntimeError("the process died")
        return real_migrate(self, found)

    monkeypatch.setattr(ImageIndexBackfill, "migrate", crashing)
    with pytest.raises(RuntimeError):
        command.run(_options(table, checkpoint, segments=3), out)
    monkeypatch.setattr(ImageIndexBackfill, "migrate", real_migrate)
    assert not _all_on_new_keys(table)

    # Resumed to the end: every image on its new keys, the page cut short done again harmlessly.
    assert command.run(_options(table, checkpoint, segments=3), out) == 0
    assert _all_on_new_keys(table)
    counts = json.loads(checkpoint.read_text())["counts"]
    # The crashed page's counts died with it; done again, its 100 rewritten images were current.
    assert counts["images"] == LEGACY_IMAGES
    assert (counts["migrated"], counts["current"]) == (LEGACY_IMAGES - 100, 100)
    assert Checkpoint.load(checkpoint, table, 3).finished

    # The merged reads see every image once, from the new partitions only.
    page = repos.images.find_all(limit=100, status=ImageStatus.FAILED)
    failed = sorted((i for i in legacy if i.status is ImageStatus.FAILED), key=lambda i: i.created_at)
    assert [i.id for i in page.items] == [i.id for i in reversed(failed)][:100]

    # Idempotent: a fresh run over the migrated table writes nothing.
    again = io.StringIO()
    assert command.run(_options(table, tmp_path / "again.json", segments=2), again) == 0
    assert "migrated 0" in again.getvalue() and f"current {LEGACY_IMAGES}" in again.getvalue()


def test_a_status_moved_after_the_scan_is_not_overwritten(table: str, repos: Repositories) -> None:
    [image] = _write_legacy(table, 1)
    backfill = ImageIndexBackfill(table)
    [seen] = backfill.scan_page(0, 1, None, 100).images
    assert seen.status is ImageStatus.PENDING and not seen.current
    # Meanwhile the generator moves it (its write carries the new gsi3 key).
    repos.images.update_status(image.id, ImageStatus.PROCESSING)

    assert backfill.migrate(seen) is Outcome.MIGRATED
    status, gsi3, gsi4 = _index_keys(table)[image.id]
    assert status == "PROCESSING"
    assert gsi3 == image_status_index_pk(image.id, ImageStatus.PROCESSING)
    assert gsi4 == image_all_index_pk(image.id)
    assert backfill.migrate(backfill.scan_page(0, 1, None, 100).images[0]) is Outcome.CURRENT
    # Deleted meanwhile: skipped, nothing recreated.
    repos.images.delete(image.id)
    assert backfill.migrate(seen) is Outcome.GONE
    assert _index_keys(table) == {}


def test_users_and_other_items_are_left_alone(table: str, repos: Repositories, tmp_path: Path) -> None:
    from imagegen.models import User

    user = User(id=new_id(), email="a@example.com", google_id="g-1", first_name="A")
    repos.users.create(user, signup_bonus=10)
    before = boto3.client("dynamodb").scan(TableName=table)["Items"]
    out = io.StringIO()
    assert command.run(_options(table, tmp_path / "c.json"), out) == 0
    assert "images 0" in out.getvalue()
    after = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert sorted(map(str, before)) == sorted(map(str, after))


def test_a_checkpoint_of_another_table_or_layout_is_refused(table: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "c.json"
    Checkpoint("other-table", 1).save(checkpoint)
    with pytest.raises(ValueError):
        command.run(_options(table, checkpoint), io.StringIO())
    Checkpoint(table, 4).save(checkpoint)
    with pytest.raises(ValueError):
        command.run(_options(table, checkpoint, segments=2), io.StringIO())
    assert command.main(["--table", table, "--checkpoint", str(checkpoint), "--segments", "2"]) == 2
    assert command.main(["--table", table, "--rate", "0"]) == 2


def test_the_rate_limiter_spaces_writes() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(50, clock=lambda: now[0], sleep=sleep)
    for _ in range(101):
        limiter.acquire()
    # 101 writes at 50 per second: the first is immediate, then about 2 s for the rest.
    assert now[0] == pytest.approx(2.0, abs=0.05)
    assert all(s <= 1 / 50 + 1e-9 for s in slept)
