"""Exports: a set of the caller's images (ids, or a collection) as one ZIP to download.

``create`` records the export with the ids to put in it and queues it; the exporter function builds
the ZIP (:mod:`imagegen.services.exporter`). At most ``MAX_ACTIVE_EXPORTS`` of a user's exports are
PENDING or PROCESSING at once: the count is changed in the transactions that create and finish them.
The ZIP and the record go ``EXPORT_TTL_HOURS`` after completion: :meth:`ExportService.sweep` removes
them everywhere (an S3 lifecycle rule and the table's TTL are the backstops on AWS).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from imagegen.commands import EXPORT_IDS_MAX, CreateExport
from imagegen.errors import NotFound, RateLimited, ServiceUnavailable
from imagegen.models import ACTIVE_EXPORT_STATUSES, Export, ExportStatus, iso_utc
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import (
    ActiveExportsLimit,
    ArchiveStore,
    Clock,
    CollectionImages,
    ExportRepository,
    IdSource,
    ObjectStore,
    Page,
    Publisher,
)
from imagegen.queues import ExportRequest
from imagegen.settings import Settings
from imagegen.storage.archives import export_key

# Retry-After when MAX_ACTIVE_EXPORTS are under way: an export of a few hundred MB takes seconds.
ACTIVE_RETRY_AFTER = 30
ZIP_CONTENT_TYPE = "application/zip"
SWEEP_PAGE = 100
SWEEP_RESERVE_SECONDS = 15.0


def expiry_after(hours: int, now: float) -> str:
    """The ISO time ``hours`` after ``now`` (seconds since the epoch)."""
    return iso_utc(datetime.fromtimestamp(now + hours * 3600, UTC))


def download_name(export: Export) -> str:
    return f"images-{export.created_at[:10]}-{export.id[:8]}.zip"


class ExportService:
    def __init__(
        self,
        *,
        exports: ExportRepository,
        collections: CollectionImages,
        storage: ObjectStore,
        archives: ArchiveStore,
        publisher: Publisher,
        settings: Settings,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self.exports = exports
        self.collections = collections
        self.storage = storage
        self.archives = archives
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.ids = ids

    # ---- the caller's exports --------------------------------------------------------------
    def create(self, user_id: str, command: CreateExport) -> Export:
        """A PENDING export of the caller's completed images among the ids (others are counted in
        ``missing_count``), queued for the exporter; ``NotFound`` when there are none."""
        field_name = "imageIds"
        if command.collection_id is not None:
            field_name = "collectionId"
            requested = self.collections.image_ids_in_collection(
                user_id, command.collection_id, EXPORT_IDS_MAX
            )
        else:
            requested = list(command.image_ids)
        requested = list(dict.fromkeys(requested))
        images = self.exports.exportable_images(user_id, requested) if requested else []
        if not images:
            # Nothing to export: none of the ids names an image of the caller's that is completed
            # (someone else's image is indistinguishable from a missing one).
            raise NotFound(f"None of the images ({field_name}) can be exported: none is yours and completed.")
        now = self.clock.time()
        export_id = self.ids.new_id()
        export = Export(
            id=export_id,
            user_id=user_id,
            zip_key=export_key(user_id, export_id),
            expires_at=expiry_after(self.settings.export_ttl_hours, now),
            image_count=len(images),
            missing_count=len(requested) - len(images),
            created_at=iso_utc(datetime.fromtimestamp(now, UTC)),
        )
        try:
            self.exports.create(
                export, [image.id for image in images], max_active=self.settings.max_active_exports
            )
        except ActiveExportsLimit:
            raise RateLimited(retry_after=ACTIVE_RETRY_AFTER) from None
        try:
            self.publisher.publish(self.settings.export_queue_url, ExportRequest(export.id, user_id))
        except ServiceUnavailable:
            logger.exception("export enqueue failed", extra={"export_id": export.id})
            self.exports.fail(user_id, export.id, "enqueue_failed")
            raise
        add_metric("ExportsRequested", MetricUnit.Count, 1)
        return export

    def get(self, user_id: str, export_id: str) -> Export:
        export = self.exports.find(user_id, export_id)
        if export is None:
            raise NotFound("No such export.")
        return export

    def list_for_user(self, user_id: str, limit: int, cursor: str | None) -> Page[Export]:
        return self.exports.find_by_user_id(user_id, limit, cursor)

    def download_url(self, export: Export) -> str | None:
        """A signed URL of the ZIP (``SIGNED_URL_TTL`` seconds), saved as an attachment; None until it is
        COMPLETED and after it expired."""
        if export.status is not ExportStatus.COMPLETED or export.expires_at <= self._now():
            return None
        return self.storage.create_signed_url(
            export.zip_key,
            self.settings.signed_url_ttl,
            download_filename=download_name(export),
            content_type=ZIP_CONTENT_TYPE,
        )

    def to_json(self, export: Export) -> dict[str, object]:
        return export.to_json(self.download_url(export))

    def _now(self) -> str:
        return iso_utc(datetime.fromtimestamp(self.clock.time(), UTC))

    # ---- the sweeper's part ----------------------------------------------------------------
    def sweep(
        self, now: datetime | None = None, time_left: Callable[[], float] | None = None
    ) -> dict[str, int]:
        """The sweeper's part: fail exports PENDING or PROCESSING for over ``STUCK_IMAGE_MINUTES`` since
        their last change (aborting their upload), then remove expired ones, ZIP first, record last.
        Counts: ``exports_failed``, ``exports_removed``, ``export_errors``."""
        moment = now or datetime.fromtimestamp(self.clock.time(), UTC)
        stuck_before = iso_utc(moment - timedelta(minutes=self.settings.stuck_image_minutes))

        def out_of_time() -> bool:
            return time_left is not None and time_left() < SWEEP_RESERVE_SECONDS

        counts = {"exports_failed": 0, "exports_removed": 0, "export_errors": 0}
        for status in sorted(ACTIVE_EXPORT_STATUSES):
            if out_of_time():
                return counts
            try:
                stuck = self.exports.find_stuck(status, stuck_before, SWEEP_PAGE)
            except Exception:
                counts["export_errors"] += 1
                logger.exception("sweeper could not list stuck exports")
                continue
            for export in stuck:
                if out_of_time():
                    return counts
                try:
                    if self._fail(export, "timed_out"):
                        counts["exports_failed"] += 1
                except Exception:
                    counts["export_errors"] += 1
                    logger.exception("sweeper could not fail an export", extra={"export_id": export.id})
        try:
            expired = self.exports.find_expired(iso_utc(moment), SWEEP_PAGE)
        except Exception:
            counts["export_errors"] += 1
            logger.exception("sweeper could not list expired exports")
            return counts
        for export in expired:
            if out_of_time():
                break
            try:
                if export.is_active():
                    self._fail(export, "expired")
                self.archives.delete(export.zip_key)
                if self.exports.delete(export.user_id, export.id):
                    counts["exports_removed"] += 1
            except Exception:
                counts["export_errors"] += 1
                logger.exception("sweeper could not remove an export", extra={"export_id": export.id})
        return counts

    def _fail(self, export: Export, reason: str) -> bool:
        failed = self.exports.fail(export.user_id, export.id, reason)
        if export.upload_id:
            self.archives.abort_upload(export.zip_key, export.upload_id)
        return failed is not None and failed.status is ExportStatus.FAILED and failed.failure_reason == reason

    def fail_dead_letter(self, request: ExportRequest) -> None:
        """A request the exporter kept failing on (the dead-letter queue): FAILED, once."""
        export = self.exports.find(request.user_id, request.export_id)
        if export is None or not export.is_active():
            return
        self._fail(export, "export_failed")
        add_metric("ExportsFailed", MetricUnit.Count, 1)
