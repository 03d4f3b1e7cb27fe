"""Event-driven use cases: generation, thumbnails, ledger commands, dead letters, the sweeper.

Every one of them may see the same event twice or out of order, so each step is guarded by the
image's status (a conditional write) and each coin effect by an idempotency key.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from imagegen.errors import ImageRejected, InvalidTransition, NotFound, PermanentError
from imagegen.models import Image, ImageStatus, LedgerReason
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.queues import GenerationRequest, LedgerCommand
from imagegen.services.context import AppContext


class Outcome(StrEnum):
    DONE = "done"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    ORPHAN_DELETED = "orphan_deleted"
    REJECTED = "rejected"
    FAILED = "failed"


class GenerationService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def process(self, request: GenerationRequest) -> Outcome:
        images = self.ctx.repos.images
        image = images.find_by_id(request.image_id)
        if image is None:
            return Outcome.IGNORED  # deleted before we got to it
        if image.is_final():
            return Outcome.DUPLICATE
        if image.status is ImageStatus.PENDING:
            try:
                image = images.update_status(image.id, ImageStatus.PROCESSING, expected=ImageStatus.PENDING)
            except InvalidTransition:
                current = images.find_by_id(image.id)
                if current is None or current.status is not ImageStatus.PROCESSING:
                    return Outcome.DUPLICATE
                image = current
        if self.ctx.storage.head(image.storage_key) is not None:
            return Outcome.DUPLICATE  # an earlier delivery stored it; the thumbnailer completes it
        started = time.perf_counter()
        try:
            generated = self.ctx.provider.generate(request.prompt, request.width, request.height)
        except PermanentError as exc:
            logger.warning("generation failed for good", extra={"image_id": image.id, "reason": exc.reason})
            images.fail_and_refund(image.id, exc.reason)
            add_metric("GenerationFailures", MetricUnit.Count, 1)
            return Outcome.FAILED
        add_metric("GenerationMs", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000)
        # TransientError propagates: the message is retried, and after maxReceiveCount the
        # dead-letter consumer fails the image with its refund.
        self.ctx.storage.put(image.storage_key, generated.data, generated.content_type)
        add_metric("ImagesGenerated", MetricUnit.Count, 1)
        return Outcome.DONE


class ThumbnailService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def process(self, key: str, size: int | None = None) -> Outcome:
        from imagegen.imaging import process_image

        storage, images, settings = self.ctx.storage, self.ctx.repos.images, self.ctx.settings
        if not storage.is_original_key(key):
            logger.warning("refusing a key outside the originals prefix", extra={"key": key})
            return Outcome.IGNORED
        image = images.find_by_storage_key(key)
        if image is None:
            storage.delete(key)  # the image was deleted (or never existed): leave nothing behind
            return Outcome.ORPHAN_DELETED
        if image.is_failed():
            # Stored after its image failed (timed out, refunded, rejected): it must not stay.
            storage.delete(key)
            return Outcome.ORPHAN_DELETED
        info = storage.head(key)
        if info is None:
            return Outcome.IGNORED  # out-of-order event for an object already gone
        if image.is_ready():
            if info.etag and info.etag == image.metadata.get("etag"):
                return Outcome.DUPLICATE
            # The original was replaced after it was checked (a presigned POST can be used again
            # while it is valid): what the record describes is gone, so the image fails.
            return self._reject(image, ImageRejected("content_replaced"), replaced=True)
        # Size first, from the object's metadata: we never trust the client or the POST policy.
        if info.size > settings.max_upload_bytes and image.is_uploaded():
            return self._reject(image, ImageRejected("too_large"))
        started = time.perf_counter()
        try:
            processed = process_image(
                storage.get(key),
                max_pixels=settings.max_image_pixels,
                max_bytes=max(settings.max_upload_bytes, info.size if image.is_generated() else 0),
            )
        except ImageRejected as rejected:
            return self._reject(image, rejected)
        thumb_key = storage.thumbnail_key(key, "256")
        preview_key = storage.thumbnail_key(key, "1024")
        storage.put(
            thumb_key,
            processed.thumbnail.data,
            processed.thumbnail.content_type,
            cache_control="public, max-age=31536000, immutable",
        )
        storage.put(
            preview_key,
            processed.preview.data,
            processed.preview.content_type,
            cache_control="public, max-age=31536000, immutable",
        )
        metadata = {
            **image.metadata,
            "width": processed.width,
            "height": processed.height,
            "format": processed.format,
            "sizeBytes": processed.size_bytes,
            "placeholder": processed.placeholder,
            "previewKey": preview_key,
            "previewUrl": storage.get_public_url(preview_key),
            "previewWidth": processed.preview.width,
            "previewHeight": processed.preview.height,
            "etag": info.etag,
        }
        try:
            images.update_status(
                image.id,
                ImageStatus.COMPLETED,
                thumbnail_key=thumb_key,
                thumbnail_url=storage.get_public_url(thumb_key),
                metadata=metadata,
            )
        except (InvalidTransition, NotFound):
            current = images.find_by_id(image.id)
            if current is None or current.is_failed():
                # Deleted or failed while we worked: nothing of it may stay, renditions included.
                storage.delete(key)
                return Outcome.ORPHAN_DELETED
            return Outcome.DUPLICATE
        add_metric("ThumbnailMs", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000)
        add_metric("ImagesCompleted", MetricUnit.Count, 1)
        return Outcome.DONE

    def _reject(self, image: Image, rejected: ImageRejected, *, replaced: bool = False) -> Outcome:
        logger.info("content rejected", extra={"image_id": image.id, "reason": rejected.reason})
        # Fail (and refund) first, then delete: if the delete is lost, the redelivered event finds a
        # FAILED image and deletes the object then; the other order could lose the reason.
        try:
            self.ctx.repos.images.fail_and_refund(image.id, rejected.reason, allow_completed=replaced)
        except InvalidTransition:
            return Outcome.DUPLICATE
        self.ctx.storage.delete(image.storage_key)
        add_metric("UploadsRejected", MetricUnit.Count, 1)
        return Outcome.REJECTED


class LedgerService:
    """Coin changes after the request, and the dead letters of the pipelines."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def apply(self, command: LedgerCommand) -> Outcome:
        if command.command == "refund_image":
            if not command.image_id:
                raise ValueError("refund_image needs image_id")
            return self.fail_image(command.image_id, command.reason or "refunded")
        if command.command == "grant":
            if not command.user_id or command.amount <= 0:
                raise ValueError("grant needs user_id and a positive amount")
            change = self.ctx.repos.users.add_coins(
                command.user_id,
                command.amount,
                reason=LedgerReason.ADMIN_GRANT,
                idempotency_key=command.key,
                note=command.note,
            )
            return Outcome.DONE if change.applied else Outcome.DUPLICATE
        if command.command == "purge_user":
            if not command.user_id:
                raise ValueError("purge_user needs user_id")
            from imagegen.services.accounts import AccountService

            AccountService(self.ctx).delete_account(command.user_id)
            return Outcome.DONE
        raise ValueError(f"unknown ledger command {command.command!r}")

    def fail_image(self, image_id: str, reason: str) -> Outcome:
        images = self.ctx.repos.images
        image = images.find_by_id(image_id)
        if image is None or image.is_ready():
            return Outcome.DUPLICATE
        if image.is_failed():
            self.ctx.storage.delete(image.storage_key)  # a crash may have come between refund and delete
            return Outcome.DUPLICATE
        try:
            _, refund = images.fail_and_refund(image_id, reason)
        except InvalidTransition:
            return Outcome.DUPLICATE
        self.ctx.storage.delete(image.storage_key)
        add_metric("ImagesFailed", MetricUnit.Count, 1)
        return Outcome.FAILED if refund is None else Outcome.DONE

    def fail_by_storage_key(self, key: str, reason: str) -> Outcome:
        image = self.ctx.repos.images.find_by_storage_key(key)
        if image is None:
            self.ctx.storage.delete(key)
            return Outcome.ORPHAN_DELETED
        return self.fail_image(image.id, reason)


SWEEP_NAMESPACE = "sweeper"
SWEEP_CURSOR = "orphans"
SWEEP_CURSOR_TTL = 24 * 3600


class Sweeper:
    """Fails and refunds images stuck past a threshold; removes objects no image points to."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def run(self, now: datetime | None = None, max_objects: int = 1000) -> dict[str, int]:
        now = now or datetime.now(UTC)
        settings = self.ctx.settings
        cutoff = (now - timedelta(minutes=settings.stuck_image_minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        ledger = LedgerService(self.ctx)
        counts = {"failed": 0, "orphans": 0}
        for status in (ImageStatus.PENDING, ImageStatus.PROCESSING):
            for image in self.ctx.repos.images.find_stuck(status, cutoff):
                reason = (
                    "upload_expired" if image.is_uploaded() and status is ImageStatus.PENDING else "timed_out"
                )
                if ledger.fail_image(image.id, reason) in (Outcome.DONE, Outcome.FAILED):
                    counts["failed"] += 1
        counts["orphans"] = self._remove_orphans(cutoff, max_objects)
        logger.info("sweep finished", extra=counts)
        return counts

    def _remove_orphans(self, cutoff: str, max_objects: int) -> int:
        """Check up to ``max_objects`` originals a run, resuming where the last run stopped, so a
        bucket of any size is covered over successive runs."""
        storage, images, ephemeral = self.ctx.storage, self.ctx.repos.images, self.ctx.repos.ephemeral
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
