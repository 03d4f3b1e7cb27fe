"""StorageService: object I/O over the S3 API (AWS S3, Cloudflare R2 and moto run the same code).

Importing this module does not import boto3: the client is built on first use (see
:mod:`imagegen.storage.endpoint`). Every SDK failure becomes a domain error
(:mod:`imagegen.storage.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from imagegen.errors import NotFound, ServiceUnavailable
from imagegen.models import iso_utc
from imagegen.settings import Settings, get_settings
from imagegen.storage import keys, presign
from imagegen.storage.endpoint import public_url, s3_client
from imagegen.storage.errors import StorageError, is_unavailable, translated
from imagegen.storage.presign import check_content_type

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

DELETE_BATCH: Final = 1000  # the most keys one DeleteObjects call accepts
MAX_LIST_PAGE: Final = 1000  # the most keys one ListObjectsV2 call returns


@dataclass(frozen=True)
class StoredObject:
    key: str
    url: str
    size: int
    content_type: str


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about an object. ``content_type`` is None in listings (ListObjectsV2 omits it);
    ``last_modified`` is ISO 8601 UTC with milliseconds and ``Z``, like every timestamp of the API, so
    it compares with those as a string."""

    key: str
    size: int
    content_type: str | None = None
    etag: str | None = None
    last_modified: str = ""


def _as_bytes(data: bytes | bytearray | memoryview | BinaryIO) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    # Images are capped at MAX_UPLOAD_BYTES (10 MiB by default): reading them whole is cheaper than a
    # multipart transfer, and gives the exact size for the result.
    return data.read()


def _summary(obj: Any) -> ObjectInfo:
    modified = obj.get("LastModified")
    return ObjectInfo(
        key=str(obj["Key"]),
        size=int(obj.get("Size", 0)),
        etag=obj.get("ETag"),
        # S3 always sends it; if a look-alike does not, "now" never makes an object look old.
        last_modified=iso_utc(modified if isinstance(modified, datetime) else datetime.now(UTC)),
    )


class StorageService:
    """The bucket's objects: keys, URLs, reads, writes and deletes. One per process (see
    ``imagegen.services.context``)."""

    def __init__(self, settings: Settings | None = None, *, client: S3Client | None = None) -> None:
        self.settings = settings or get_settings()
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = s3_client(self.settings)
        return self._client

    @property
    def bucket(self) -> str:
        return self.settings.bucket_name

    # keys, bound to this service's settings
    def make_key(self, user_id: str, filename: str, now_ms: int | None = None) -> str:
        return keys.make_key(user_id, filename, now_ms, settings=self.settings)

    def rendition_key(self, image_id: str, version: str, name: str | int) -> str:
        return keys.rendition_key(image_id, version, name, settings=self.settings)

    def content_version(self, data: bytes) -> str:
        return keys.content_version(data)

    def is_original_key(self, key: str) -> bool:
        return keys.is_original_key(key, settings=self.settings)

    # URLs
    def get_public_url(self, key: str) -> str:
        return public_url(key, self.settings)

    def create_signed_url(
        self,
        key: str,
        expiration: int,
        download_filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        return presign.signed_url(self.client, self.bucket, key, expiration, download_filename, content_type)

    def create_presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> dict[str, Any]:
        return presign.presigned_post(self.client, self.bucket, key, content_type, max_bytes, expires_in)

    def create_presigned_put(self, key: str, content_type: str, size: int, expires_in: int) -> dict[str, Any]:
        return presign.presigned_put(self.client, self.bucket, key, content_type, size, expires_in)

    # writing
    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview | BinaryIO,
        content_type: str,
        cache_control: str | None = None,
    ) -> StoredObject:
        body = _as_bytes(data)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": check_content_type(content_type),
        }
        if cache_control:
            params["CacheControl"] = cache_control
        with translated("put", key):
            self.client.put_object(**params)
        return StoredObject(key=key, url=self.get_public_url(key), size=len(body), content_type=content_type)

    # reading
    def get(self, key: str) -> bytes:
        with translated("get", key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, type and ETag; None when it does not exist."""
        try:
            with translated("head", key):
                response = self.client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(response.get("ContentLength", 0)),
            content_type=response.get("ContentType"),
            etag=response.get("ETag"),
            last_modified=iso_utc(response.get("LastModified") or datetime.now(UTC)),
        )

    def iter_prefix(
        self, prefix: str, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` in key order (after ``start_after``), at most ``limit`` of them.

        Pages are fetched as they are consumed: stopping early makes no further request."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": prefix,
            "PaginationConfig": {"PageSize": MAX_LIST_PAGE},
        }
        if start_after:
            params["StartAfter"] = start_after
        with translated("list"):
            pages = iter(self.client.get_paginator("list_objects_v2").paginate(**params))
        seen = 0
        while True:
            with translated("list"):
                page = next(pages, None)
            if page is None:
                return
            for obj in page.get("Contents", []):
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield _summary(obj)

    def iter_originals(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every user's originals (the sweeper looks for objects no image points to)."""
        prefix = self.settings.bucket_prefix + "/" if self.settings.bucket_prefix else ""
        return (obj for obj in self.iter_prefix(prefix, limit, start_after) if self.is_original_key(obj.key))

    def iter_renditions(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every rendition of the current layout (the sweeper looks for those of deleted images)."""
        prefix = self.settings.thumbnail_prefix + "/" if self.settings.thumbnail_prefix else ""
        return (
            obj
            for obj in self.iter_prefix(prefix, limit, start_after)
            if keys.rendition_image_id(obj.key, settings=self.settings) is not None
        )

    # deleting
    def delete(self, key: str) -> None:
        """Removes an object and, for an original, its renditions of the legacy layout. Deleting what
        is already gone is fine: events arrive twice and deletes race with the thumbnailer."""
        self.delete_many([key, *keys.legacy_rendition_keys(key, settings=self.settings)])

    def delete_renditions(self, image_id: str) -> int:
        """Every rendition of the image in the current layout, whatever its content version."""
        return self.delete_prefix(keys.rendition_prefix(image_id, settings=self.settings))

    def delete_many(self, object_keys: Iterable[str]) -> int:
        """Deletes the keys in batches of 1000 (DeleteObjects' limit); returns how many were asked."""
        unique = list(dict.fromkeys(k for k in object_keys if k))
        for start in range(0, len(unique), DELETE_BATCH):
            batch = unique[start : start + DELETE_BATCH]
            with translated("delete", batch[0]):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code", "")) for e in errors})
                log.error("storage delete left %d objects: %s", len(errors), codes, extra={"key": batch[0]})
                if any(is_unavailable(c, 0) for c in codes):
                    raise ServiceUnavailable("Storage is busy; try again")
                raise StorageError("Some objects could not be deleted")
        return len(unique)

    def delete_prefix(self, prefix: str) -> int:
        """Deletes everything under ``prefix`` (a user's cascade); returns how many objects went.

        The prefix must end with "/": "images/u1" would also take "images/u10/..."."""
        if not prefix.strip("/") or not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"refusing to delete under {prefix!r}: give a folder such as 'images/<user>/'")
        deleted = 0
        batch: list[str] = []
        for obj in self.iter_prefix(prefix):
            batch.append(obj.key)
            if len(batch) == DELETE_BATCH:
                deleted += self.delete_many(batch)
                batch = []
        if batch:
            deleted += self.delete_many(batch)
        return deleted
