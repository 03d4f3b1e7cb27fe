"""The sweeper: fails and refunds images stuck past a threshold; removes objects no image points to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from imagegen.models import ImageStatus
from imagegen.observability import logger
from imagegen.ports import EphemeralStore, ImageRepository, ObjectStore
from imagegen.services.ledger import LedgerService
from imagegen.settings import Settings

SWEEP_NAMESPACE = "sweeper"
SWEEP_CURSOR = "orphans"
SWEEP_CURSOR_TTL = 24 * 3600


class Sweeper:
    def __init__(
        self,
        *,
        images: ImageRepository,
        bookmarks: EphemeralStore,
        storage: ObjectStore,
        ledger: LedgerService,
        settings: Settings,
    ) -> None:
        self.images = images
        self.bookmarks = bookmarks
        self.storage = storage
        self.ledger = ledger
        self.settings = settings

    def run(self, now: datetime | None = None, max_objects: int = 1000) -> dict[str, int]:
        now = now or datetime.now(UTC)
        settings = self.settings
        cutoff = (now - timedelta(minutes=settings.stuck_image_minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        counts = {"failed": 0, "orphans": 0}
        for status in (ImageStatus.PENDING, ImageStatus.PROCESSING):
            for image in self.images.find_stuck(status, cutoff):
                reason = (
                    "upload_expired" if image.is_uploaded() and status is ImageStatus.PENDING else "timed_out"
                )
                if self.ledger.fail_image(image.id, reason):
                    counts["failed"] += 1
        counts["orphans"] = self._remove_orphans(cutoff, max_objects)
        logger.info("sweep finished", extra=counts)
        return counts

    def _remove_orphans(self, cutoff: str, max_objects: int) -> int:
        """Check up to ``max_objects`` originals a run, resuming where the last run stopped, so a
        bucket of any size is covered over successive runs."""
        storage, images, ephemeral = self.storage, self.images, self.bookmarks
        saved = ephemeral.get(SWEEP_NAMESPACE, SWEEP_CURSOR)
        start_after = saved.get("after") if saved else None
        removed = checked = 0
        last: str | None = None
        for obj in storage.iter_originals(
            limit=max_objects, start_after=str(start_after) if start_after else None
        ):
            checked += 1
            last = obj.key
            # Only objects older than the threshold: a fresh upload's record may be mid-creation.
            if obj.last_modified >= cutoff:
                continue
            if images.find_by_storage_key(obj.key) is None:
                storage.delete(obj.key)
                removed += 1
        ephemeral.take(SWEEP_NAMESPACE, SWEEP_CURSOR)
        if checked >= max_objects and last:  # more to look at: the next run starts after ``last``
            ephemeral.put_new(SWEEP_NAMESPACE, SWEEP_CURSOR, {"after": last}, SWEEP_CURSOR_TTL)
        return removed
