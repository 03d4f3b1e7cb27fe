"""Thumbnails: a pure function of bytes, :func:`process_image`, that checks an image and makes its
renditions. One module per job: ``sniff`` (format), ``headers`` (dimensions before any decoder),
``colour`` (modes, sRGB), ``geometry`` (sizes, orientation), ``webp`` (still WebP decoded at reduced
size by libwebp), ``encode`` (WebP), ``blurhash`` (placeholder) and ``pipeline`` (the order of work).

Importing this package imports Pillow: import it where thumbnails are made, not at a function's init.
"""

from __future__ import annotations

from imagegen.imaging.blurhash import blurhash_encode
from imagegen.imaging.encode import PREVIEW_WEBP_METHOD, THUMBNAIL_WEBP_METHOD, WEBP_QUALITY
from imagegen.imaging.pipeline import (
    PREVIEW_MAX_SIDE,
    THUMBNAIL_MAX_SIDE,
    ProcessedImage,
    Rendition,
    process_image,
)
from imagegen.imaging.sniff import sniff_format

__all__ = [
    "PREVIEW_MAX_SIDE",
    "PREVIEW_WEBP_METHOD",
    "THUMBNAIL_MAX_SIDE",
    "THUMBNAIL_WEBP_METHOD",
    "WEBP_QUALITY",
    "ProcessedImage",
    "Rendition",
    "blurhash_encode",
    "process_image",
    "sniff_format",
]
