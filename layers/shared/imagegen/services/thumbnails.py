"""The thumbnailer's use case: check a stored original by its content, make its renditions, complete it.

Size is checked from the object's metadata before a byte is read; the format from the bytes, never the
name; decompression bombs from the header. A rejected or orphaned object never stays in the bucket.
"""

from __future__ import annotations

import time

from imagegen.errors import ImageRejected, InvalidTransition, NotFound
from imagegen.models import Image, ImageStatus
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import CollectionRepository, ImageRepository, ObjectStore
from imagegen.services.objects import delete_image_objects
from imagegen.settings import Settings

RENDITION_CACHE_CONTROL = "public, max-age=31536000, immutable"


class ThumbnailService:
    def __init__(
        self,
        *,
        images: ImageRepository,
        collections: CollectionRepository,
        storage: ObjectStore,
        settings: Settings,
    ) -> None:
        self.images = images
        self.collections = collections
        self.storage = storage
        self.settings = settings

    def process(self, key: str) -> None:
        from imagegen.imaging import process_image

        storage, images, settings = self.storage, self.images, self.settings
        if not storage.is_original_key(key):
            logger.warning("refusing a key outside the originals prefix", extra={"key": key})
            return
        image = images.find_by_storage_key(key)
        if image is None:
            storage.delete(key)  # the image was deleted (or never existed): leave nothing behind
            return
        if image.is_failed():
            # Stored after its image failed (timed out, refunded, rejected): it must not stay.
            delete_image_objects(storage, image, settings)
            return
        info = storage.head(key)
        if info is None:
            return  # out-of-order event for an object already gone
        if image.is_ready():
            if info.etag and info.etag == image.metadata.get("etag"):
                # A redelivery: finish what a crash after the status move may have left undone.
                self.collections.sync_image(image)
                return
            # The original was replaced after it was checked (a presigned POST can be used again
            # while it is valid): what the record describes is gone, so the image fails.
            self._reject(image, ImageRejected("content_replaced"), replaced=True)
            return
        # Size first, from the object's metadata: we never trust the client or the POST policy.
        if info.size > settings.max_upload_bytes and image.is_uploaded():
            self._reject(image, ImageRejected("too_large"))
            return
        started = time.perf_counter()
        original = storage.get(key)
        try:
            processed = process_image(
                original,
                max_pixels=settings.max_image_pixels,
                max_bytes=max(settings.max_upload_bytes, info.size if image.is_generated() else 0),
            )
        except ImageRejected as rejected:
            self._reject(image, rejected)
            return
        # Keyed by image and content version, never by owner: a shared collection's URLs reveal no
        # owner, and new content gets new keys, so CDN copies are immutable.
        version = storage.content_version(original)
        thumb_key = storage.rendition_key(image.id, version, "256")
        preview_key = storage.rendition_key(image.id, version, "1024")
        storage.put(
            thumb_key,
            processed.thumbnail.data,
            processed.thumbnail.content_type,
            cache_control=RENDITION_CACHE_CONTROL,
        )
        storage.put(
            preview_key,
            processed.preview.data,
            processed.preview.content_type,
            cache_control=RENDITION_CACHE_CONTROL,
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
            "contentVersion": version,
        }
        try:
            completed = images.update_status(
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
                delete_image_objects(storage, image, settings)
            return
        # Collections it joined while PENDING now count it as completed (and may take it as cover).
        self.collections.sync_image(completed)
        add_metric("ThumbnailMs", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000)
        add_metric("ImagesCompleted", MetricUnit.Count, 1)

    def _reject(self, image: Image, rejected: ImageRejected, *, replaced: bool = False) -> None:
        logger.info("content rejected", extra={"image_id": image.id, "reason": rejected.reason})
        # Fail (and refund) first, then delete: if the delete is lost, the redelivered event finds a
        # FAILED image and deletes the object then; the other order could lose the reason.
        try:
            failed, _ = self.images.fail_and_refund(image.id, rejected.reason, allow_completed=replaced)
        except InvalidTransition:
            return
        if replaced:  # it was COMPLETED: shared collections stop showing it
            self.collections.sync_image(failed)
        # The original and any renditions (a replaced original's were made from the old content).
        delete_image_objects(self.storage, image, self.settings)
        add_metric("UploadsRejected", MetricUnit.Count, 1)
