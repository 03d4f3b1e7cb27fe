"""Object storage over the S3 API: AWS S3, Cloudflare R2 and moto run the same code.

- :mod:`~imagegen.storage.keys`: the key layout and the filename sanitizer;
- :mod:`~imagegen.storage.endpoint`: the endpoint, the shared client and public URLs;
- :mod:`~imagegen.storage.errors`: SDK failures as domain errors;
- :mod:`~imagegen.storage.presign`: presigned downloads and browser uploads;
- :mod:`~imagegen.storage.service`: :class:`StorageService`, the object I/O.

Importing this package does not import boto3 or botocore.
"""

from __future__ import annotations

from imagegen.storage.errors import StorageError
from imagegen.storage.keys import (
    FALLBACK_FILENAME,
    MAX_FILENAME_LENGTH,
    THUMBNAIL_NAMES,
    content_version,
    image_object_keys,
    is_original_key,
    legacy_rendition_keys,
    legacy_thumbnail_key,
    make_key,
    rendition_image_id,
    rendition_key,
    rendition_prefix,
    sanitize_filename,
)
from imagegen.storage.service import ObjectInfo, StorageService, StoredObject

__all__ = [
    "FALLBACK_FILENAME",
    "MAX_FILENAME_LENGTH",
    "THUMBNAIL_NAMES",
    "ObjectInfo",
    "StorageError",
    "StorageService",
    "StoredObject",
    "content_version",
    "image_object_keys",
    "is_original_key",
    "legacy_rendition_keys",
    "legacy_thumbnail_key",
    "make_key",
    "rendition_image_id",
    "rendition_key",
    "rendition_prefix",
    "sanitize_filename",
]
