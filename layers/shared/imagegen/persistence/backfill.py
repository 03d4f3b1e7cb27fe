"""Moving existing images to the write-sharded index keys (``docs/data-model.md``, "Migration").

The persistence half of ``python -m ops.backfill``: one page of a (segmented) Scan of the image items,
and the rewrite of one image's ``gsi3pk``/``gsi4pk`` to the values the current code writes. The
command around it keeps the checkpoint and the rate.

A rewrite is one UpdateItem conditional on the status that was read, so a status move made meanwhile
(which writes the new gsi3 key itself) is never overwritten with a stale one: the item is read again
(consistently) and retried. An image already on the new keys is not written (idempotent); an image
deleted meanwhile is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pynamodb.expressions.update import Action

from imagegen.models import ImageStatus
from imagegen.persistence.binding import TableModels, bind
from imagegen.persistence.cursor import RawKey
from imagegen.persistence.dynamo import ConditionFailed, translated
from imagegen.persistence.keys import IMAGE_SK, image_all_index_pk, image_pk, image_status_index_pk

_ATTRIBUTES = ["pk", "sk", "id", "status", "gsi3pk", "gsi4pk"]
_ATTEMPTS = 5


class Outcome(StrEnum):
    MIGRATED = "migrated"
    CURRENT = "current"  # already on the new keys
    GONE = "gone"  # deleted since the scan saw it


@dataclass(frozen=True)
class ScannedImage:
    image_id: str
    status: ImageStatus
    gsi3pk: str | None
    gsi4pk: str | None

    @property
    def current(self) -> bool:
        return self.gsi3pk == image_status_index_pk(
            self.image_id, self.status
        ) and self.gsi4pk == image_all_index_pk(self.image_id)


@dataclass(frozen=True)
class ScanPage:
    images: list[ScannedImage]
    scanned: int
    last_key: RawKey | None


class ImageIndexBackfill:
    def __init__(self, table_name: str) -> None:
        self._table: TableModels = bind(table_name)

    def scan_page(self, segment: int, total_segments: int, start: RawKey | None, page_size: int) -> ScanPage:
        """One page of segment ``segment`` of a parallel Scan for image items, from ``start``."""
        image = self._table.image
        with translated():
            result = image.scan(
                filter_condition=image.pk.startswith("IMAGE#") & (image.sk == IMAGE_SK),
                segment=segment,
                total_segments=total_segments,
                page_size=page_size,
                last_evaluated_key=start,
                attributes_to_get=_ATTRIBUTES,
            )
            page: dict[str, Any] = next(result.page_iter)
        images = [_scanned(raw) for raw in page.get("Items") or []]
        return ScanPage(
            images=[i for i in images if i is not None],
            scanned=int(page.get("ScannedCount") or 0),
            last_key=page.get("LastEvaluatedKey"),
        )

    def migrate(self, found: ScannedImage) -> Outcome:
        image = self._table.image
        for _ in range(_ATTEMPTS):
            if found.current:
                return Outcome.CURRENT
            item = image(image_pk(found.image_id), IMAGE_SK)
            actions: list[Action] = [
                image.gsi3pk.set(image_status_index_pk(found.image_id, found.status)),
                image.gsi4pk.set(image_all_index_pk(found.image_id)),
            ]
            try:
                with translated():
                    item.update(actions=actions, condition=image.status == found.status.value)
            except ConditionFailed:
                reread = self._read(found.image_id)
                if reread is None:
                    return Outcome.GONE
                found = reread
                continue
            return Outcome.MIGRATED
        raise ConditionFailed(f"image {found.image_id} kept changing")

    def _read(self, image_id: str) -> ScannedImage | None:
        image = self._table.image
        with translated():
            try:
                item = image.get(image_pk(image_id), IMAGE_SK, consistent_read=True)
            except image.DoesNotExist:
                return None
        return ScannedImage(item.id, ImageStatus(item.status), item.gsi3pk, item.gsi4pk)


def _scanned(raw: dict[str, Any]) -> ScannedImage | None:
    try:
        return ScannedImage(
            image_id=raw["id"]["S"],
            status=ImageStatus(raw["status"]["S"]),
            gsi3pk=raw.get("gsi3pk", {}).get("S"),
            gsi4pk=raw.get("gsi4pk", {}).get("S"),
        )
    except (KeyError, ValueError):
        return None  # not an image as this code writes them: left alone
