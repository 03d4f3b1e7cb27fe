"""The exporter's use case: stream an export's originals into one ZIP through a multipart upload.

Memory does not grow with the export: each original is read in chunks and written through ``zipfile``
into :class:`~imagegen.archive.PartWriter`, which uploads a part whenever ``PART_SIZE`` bytes are
buffered. Any failure aborts the multipart upload, so nothing half-done is left: a transient one is
raised (the message is delivered again; the dead-letter consumer fails the export for good), a
permanent one fails the export at once. A redelivery of a finished export changes nothing; one of an
export in progress (a crashed attempt) aborts the earlier upload and starts again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from imagegen import archive
from imagegen.archive import Entry, PartWriter, UniqueNames, write_zip
from imagegen.errors import InvalidTransition, NotFound
from imagegen.models import Image, ImageStatus
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import ArchiveStore, Clock, ExportRepository, ImageRepository, MultipartUpload
from imagegen.queues import ExportRequest
from imagegen.services.exports import ZIP_CONTENT_TYPE, expiry_after
from imagegen.settings import Settings

_EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}


class NothingToExport(Exception):
    """Every image of the export is gone: it fails (``no_images``) rather than give an empty ZIP."""


def extension_of(image: Image) -> str:
    """From the format the thumbnailer found in the bytes; else the original key's own extension."""
    fmt = image.metadata.get("format")
    if isinstance(fmt, str) and fmt.lower() in _EXTENSIONS:
        return _EXTENSIONS[fmt.lower()]
    tail = image.storage_key.rpartition("/")[2]
    return tail.rpartition(".")[2].lower() if "." in tail else ""


def zip_time(created_at: str) -> tuple[int, int, int, int, int, int]:
    """The image's creation time as a ZIP entry's (which cannot say before 1980)."""
    try:
        moment = datetime.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return (1980, 1, 1, 0, 0, 0)
    if moment.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


class Exporter:
    def __init__(
        self,
        *,
        exports: ExportRepository,
        images: ImageRepository,
        archives: ArchiveStore,
        settings: Settings,
        clock: Clock,
        part_size: int | None = None,
    ) -> None:
        self.exports = exports
        self.images = images
        self.archives = archives
        self.settings = settings
        self.clock = clock
        self.part_size = part_size  # None: archive.PART_SIZE

    def process(self, request: ExportRequest) -> None:
        user_id, export_id = request.user_id, request.export_id
        export = self.exports.find(user_id, export_id)
        if export is None or not export.is_active():
            return  # deleted (an account erasure), or a duplicate delivery of a finished export
        image_ids = self.exports.find_manifest(user_id, export_id)
        upload = self.archives.start_upload(export.zip_key, ZIP_CONTENT_TYPE)
        try:
            export, earlier = self.exports.start(user_id, export_id, upload.upload_id)
        except (InvalidTransition, NotFound):
            upload.abort()
            return
        if earlier and earlier != upload.upload_id:
            self.archives.abort_upload(export.zip_key, earlier)  # what a crashed attempt left
        missing = [export.missing_count]
        writer = PartWriter(upload, self.part_size or archive.PART_SIZE)
        try:
            count = write_zip(writer, self._entries(user_id, image_ids, missing))
            if count == 0:
                raise NothingToExport()
            upload.complete()
        except NothingToExport:
            self._abort(upload)
            self.exports.fail(user_id, export_id, "no_images")
            add_metric("ExportsFailed", MetricUnit.Count, 1)
            return
        except BaseException:
            self._abort(upload)
            raise
        try:
            self.exports.complete(
                user_id,
                export_id,
                image_count=count,
                missing_count=missing[0],
                size_bytes=writer.tell(),
                expires_at=expiry_after(self.settings.export_ttl_hours, self.clock.time()),
            )
        except (InvalidTransition, NotFound):
            # Failed by the sweeper meanwhile, or the account erased: the ZIP must not outlive it.
            self.archives.delete(export.zip_key)
            return
        add_metric("ExportsCompleted", MetricUnit.Count, 1)
        add_metric("ExportBytes", MetricUnit.Bytes, writer.tell())

    def _entries(self, user_id: str, image_ids: list[str], missing: list[int]) -> Iterator[Entry]:
        """One entry per image still the user's, completed and stored; the rest counted in ``missing``."""
        names = UniqueNames()
        for image_id in image_ids:
            image = self.images.find_by_id(image_id)
            if image is None or image.user_id != user_id or image.status is not ImageStatus.COMPLETED:
                missing[0] += 1
                continue
            opened = self.archives.open(image.storage_key)
            if opened is None:
                missing[0] += 1
                continue
            try:
                yield Entry(
                    name=names.take(image.title, extension_of(image)),
                    size=opened.size,
                    date_time=zip_time(image.created_at),
                    chunks=opened.chunks(),
                )
            finally:
                opened.close()

    @staticmethod
    def _abort(upload: MultipartUpload) -> None:
        try:
            upload.abort()
        except Exception:
            # The bucket's lifecycle rule aborts what is left; the original error matters more.
            logger.exception("could not abort an export's upload")
