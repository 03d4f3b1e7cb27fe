"""The sweeper: fails and refunds images stuck past a threshold, resumes account erasures that stopped
half-way, and removes objects no image points to.

A run works until its time budget runs out (the scheduled function passes the Lambda's remaining
time). Paid images come first: a refund owed matters more than a free upload that was never posted,
however many of those there are. One image, or one account, that cannot be finished is logged and
counted, and the run goes on with the next.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from imagegen.models import Image, ImageStatus
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import EphemeralStore, ImageRepository, ObjectStore, UserRepository
from imagegen.services.ledger import LedgerService
from imagegen.settings import Settings
from imagegen.storage.keys import rendition_image_id

SWEEP_NAMESPACE = "sweeper"
SWEEP_CURSOR = "orphans"
SWEEP_RENDITION_CURSOR = "orphan_renditions"
SWEEP_CURSOR_TTL = 24 * 3600
# Seconds kept back from the Lambda's remaining time: the work in flight and the final log line.
SWEEP_RESERVE_SECONDS = 15.0
STUCK_PAGE = 100
# Stuck images read per status and run (they are sorted, paid first, before any is failed).
MAX_STUCK_PER_STATUS = 5000
ERASURES_PER_RUN = 100


class Sweeper:
    def __init__(
        self,
        *,
        images: ImageRepository,
        users: UserRepository,
        bookmarks: EphemeralStore,
        storage: ObjectStore,
        ledger: LedgerService,
        erase_account: Callable[[str], bool],
        settings: Settings,
    ) -> None:
        self.images = images
        self.users = users
        self.bookmarks = bookmarks
        self.storage = storage
        self.ledger = ledger
        self.erase_account = erase_account
        self.settings = settings

    def run(
        self,
        now: datetime | None = None,
        max_objects: int = 1000,
        time_left: Callable[[], float] | None = None,
    ) -> dict[str, int]:
        """One sweep. ``time_left`` says how many seconds the run still has (None: no limit).

        Counts: ``failed`` images failed (and refunded), ``errors`` images or accounts that raised,
        ``left`` stuck images not reached before the budget ran out, ``erased`` accounts whose
        erasure this run finished, ``orphans`` objects removed."""
        now = now or datetime.now(UTC)
        cutoff = (now - timedelta(minutes=self.settings.stuck_image_minutes)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )

        def out_of_time() -> bool:
            return time_left is not None and time_left() < SWEEP_RESERVE_SECONDS

        counts = {"failed": 0, "errors": 0, "left": 0, "erased": 0, "orphans": 0}
        stuck = self._stuck(cutoff, out_of_time, counts)
        stuck.sort(key=lambda image: (image.coins_used == 0, image.created_at, image.id))
        for position, image in enumerate(stuck):
            if out_of_time():
                counts["left"] = len(stuck) - position
                break
            reason = (
                "upload_expired"
                if image.is_uploaded() and image.status is ImageStatus.PENDING
                else "timed_out"
            )
            try:
                if self.ledger.fail_image(image.id, reason):
                    counts["failed"] += 1
            except Exception:
                counts["errors"] += 1
                logger.exception("sweeper could not fail an image", extra={"image_id": image.id})
        if not out_of_time():
            self._resume_erasures(cutoff, out_of_time, counts)
        if not out_of_time():
            counts["orphans"] = self._remove_orphans(cutoff, max_objects)
        if not out_of_time():
            counts["orphans"] += self._remove_orphan_renditions(cutoff, max_objects)
        if counts["errors"]:
            add_metric("SweeperErrors", MetricUnit.Count, counts["errors"])
        logger.info("sweep finished", extra=counts)
        return counts

    def _stuck(self, cutoff: str, out_of_time: Callable[[], bool], counts: dict[str, int]) -> list[Image]:
        found: list[Image] = []
        for status in (ImageStatus.PENDING, ImageStatus.PROCESSING):
            after: Image | None = None
            read = 0
            while read < MAX_STUCK_PER_STATUS and not out_of_time():
                try:
                    page = self.images.find_stuck(status, cutoff, STUCK_PAGE, after=after)
                except Exception:
                    counts["errors"] += 1
                    logger.exception("sweeper could not list stuck images", extra={"status": status.value})
                    break
                found += page
                read += len(page)
                if len(page) < STUCK_PAGE:
                    break
                after = page[-1]
        return found

    def _resume_erasures(self, cutoff: str, out_of_time: Callable[[], bool], counts: dict[str, int]) -> None:
        """Accounts marked ``deleting`` before the cutoff: an erasure whose request failed half-way and
        whose queued purge was lost or dead-lettered."""
        try:
            user_ids = self.users.find_deleting(cutoff, ERASURES_PER_RUN)
        except Exception:
            counts["errors"] += 1
            logger.exception("sweeper could not list unfinished erasures")
            return
        for user_id in user_ids:
            if out_of_time():
                return
            try:
                if self.erase_account(user_id):
                    counts["erased"] += 1
            except Exception:
                counts["errors"] += 1
                logger.exception("sweeper could not finish an erasure", extra={"user_id": user_id})

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

    def _remove_orphan_renditions(self, cutoff: str, max_objects: int) -> int:
        """Renditions (``{THUMBNAIL_PREFIX}/{imageId}/...``) older than the threshold whose image is gone
        or FAILED, or that a COMPLETED image's record does not name (another content version): a
        thumbnailer that died between writing them and finding its image deleted leaves such objects.
        Up to ``max_objects`` a run, resuming where the last run stopped."""
        storage, images, ephemeral = self.storage, self.images, self.bookmarks
        saved = ephemeral.get(SWEEP_NAMESPACE, SWEEP_RENDITION_CURSOR)
        start_after = saved.get("after") if saved else None
        removed = checked = 0
        last: str | None = None
        doomed: list[str] = []
        known: dict[str, Image | None] = {}
        for obj in storage.iter_renditions(
            limit=max_objects, start_after=str(start_after) if start_after else None
        ):
            checked += 1
            last = obj.key
            image_id = rendition_image_id(obj.key, settings=self.settings)
            if obj.last_modified >= cutoff or image_id is None:
                continue
            if image_id not in known:  # an image's renditions are listed together: read it once
                known = {image_id: images.find_by_id(image_id)}
            image = known[image_id]
            named = {image.thumbnail_key, image.metadata.get("previewKey")} if image is not None else set()
            if image is None or image.is_failed() or (image.is_ready() and obj.key not in named):
                doomed.append(obj.key)
        if doomed:
            removed = storage.delete_many(doomed)
        ephemeral.take(SWEEP_NAMESPACE, SWEEP_RENDITION_CURSOR)
        if checked >= max_objects and last:
            ephemeral.put_new(SWEEP_NAMESPACE, SWEEP_RENDITION_CURSOR, {"after": last}, SWEEP_CURSOR_TTL)
        return removed
