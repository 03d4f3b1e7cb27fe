"""Object keys: the filename sanitizer and the key layout of originals and renditions.

Originals live at ``{BUCKET_PREFIX}/{userId}/{timestampMs}-{sanitized-name}``, renditions at
``{THUMBNAIL_PREFIX}/{imageId}/{contentVersion}-{256|1024}.webp``: without the owner's id (a shared
collection's URLs reveal no owner), and under a ``contentVersion`` derived from the original's bytes, so a
rendition's key changes whenever its content does and CDN copies can be cached as immutable. Renditions
live under a different prefix so the upload notification never fires on the thumbnailer's own output.

Images completed before this layout keep their renditions at the legacy keys
``{THUMBNAIL_PREFIX}/{userId}/{timestampMs}-{stem}-{name}.webp`` (``legacy_rendition_keys``), which the
records name and every delete still removes.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from typing import Final

from imagegen.settings import Settings, get_settings

MAX_FILENAME_LENGTH: Final = 100
# Longer "extensions" are just the tail of a dotted name, not worth preserving when truncating.
_MAX_EXTENSION_LENGTH: Final = 10
FALLBACK_FILENAME: Final = "file"
THUMBNAIL_NAMES: Final[tuple[str, ...]] = ("256", "1024")
THUMBNAIL_EXTENSION: Final = "webp"

_DISALLOWED = re.compile(r"[^a-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_DOT_RUNS = re.compile(r"[-.]*\.[-.]*")  # any run of dots and dashes holding a dot
_EXTENSION = re.compile(r"[a-z0-9]+")
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_THUMBNAIL_NAME = re.compile(r"[a-z0-9]{1,16}")
_IMAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CONTENT_VERSION = re.compile(r"[a-z0-9]{1,32}")
# Part of every content version: a change to the rendition pipeline (sizes, encoder settings) bumps it,
# so renditions made by the new pipeline never reuse the keys of the old ones.
RENDITION_PIPELINE_VERSION: Final = "1"
CONTENT_VERSION_LENGTH: Final = 16
_ORIGINAL_NAME = rf"(?P<ts>[0-9]{{1,20}})-(?P<name>[a-z0-9][a-z0-9._-]{{0,{MAX_FILENAME_LENGTH - 1}}})"


def sanitize_filename(name: str) -> str:
    """A safe, readable object-name tail: ``[a-z0-9._-]``, starting with a letter or digit.

    Never empty, never longer than ``MAX_FILENAME_LENGTH``, no ``..``, no ``/``, and idempotent.
    Accents survive as their base letter ("café.png" -> "cafe.png") since NFKD splits them off first.
    """
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = _DISALLOWED.sub("-", ascii_only.lower())
    # "..", "-." and ".-" all become one dot: no traversal, and "photo (1).png" reads "photo-1.png".
    text = _DASHES.sub("-", _DOT_RUNS.sub(".", text))
    text = text.rstrip("-.")
    stem, dot, extension = text.rpartition(".")
    if dot and not stem.strip("-._") and _is_extension(extension):
        text = f"{FALLBACK_FILENAME}.{extension}"  # "日本.png" or ".png": keep the type readable
    # A leading "_" would survive the filters; the key format wants a letter or digit first.
    text = text.lstrip("-._")
    if len(text) > MAX_FILENAME_LENGTH:
        text = _truncate(text)
    return text or FALLBACK_FILENAME


def _is_extension(text: str) -> bool:
    return len(text) <= _MAX_EXTENSION_LENGTH and _EXTENSION.fullmatch(text) is not None


def _truncate(text: str) -> str:
    stem, dot, extension = text.rpartition(".")
    if dot and stem and _is_extension(extension):
        stem = stem[: MAX_FILENAME_LENGTH - len(extension) - 1].rstrip("-._") or FALLBACK_FILENAME
        return f"{stem}.{extension}"
    return text[:MAX_FILENAME_LENGTH].rstrip("-._")


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _check_user_id(user_id: str) -> str:
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise ValueError(f"not a usable user id for an object key: {user_id!r}")
    return user_id


def make_key(
    user_id: str, filename: str, now_ms: int | None = None, *, settings: Settings | None = None
) -> str:
    """``{BUCKET_PREFIX}/{userId}/{timestampMs}-{sanitized}``: chosen up front, before any upload."""
    s = settings or get_settings()
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
        raise ValueError(f"now_ms must be a non-negative integer, got {now_ms!r}")
    return _join(s.bucket_prefix, _check_user_id(user_id), f"{stamp}-{sanitize_filename(filename)}")


def _original_pattern(s: Settings) -> re.Pattern[str]:
    prefix = re.escape(s.bucket_prefix) + "/" if s.bucket_prefix else ""
    return re.compile(f"{prefix}(?P<user>{_USER_ID.pattern})/{_ORIGINAL_NAME}")


def is_original_key(key: str, *, settings: Settings | None = None) -> bool:
    """True only for keys that ``make_key`` could have produced (the thumbnailer refuses the rest)."""
    s = settings or get_settings()
    if s.thumbnail_prefix and key.startswith(s.thumbnail_prefix + "/"):
        return False
    return _original_pattern(s).fullmatch(key) is not None


def content_version(data: bytes) -> str:
    """The ``contentVersion`` of renditions made from ``data``: 16 hex digits of a SHA-256 over the
    pipeline version and the original's bytes. Same bytes, same version (a redelivered event rewrites
    the same keys); other bytes, another version."""
    digest = hashlib.sha256(RENDITION_PIPELINE_VERSION.encode("ascii") + b"\x00" + data).hexdigest()
    return digest[:CONTENT_VERSION_LENGTH]


def _check_image_id(image_id: str) -> str:
    if not isinstance(image_id, str) or not _IMAGE_ID.fullmatch(image_id):
        raise ValueError(f"not a usable image id for an object key: {image_id!r}")
    return image_id


def rendition_prefix(image_id: str, *, settings: Settings | None = None) -> str:
    """``{THUMBNAIL_PREFIX}/{imageId}/``: every rendition of the image, whatever its version."""
    s = settings or get_settings()
    return _join(s.thumbnail_prefix, _check_image_id(image_id)) + "/"


def rendition_key(image_id: str, version: str, name: str | int, *, settings: Settings | None = None) -> str:
    """``{THUMBNAIL_PREFIX}/{imageId}/{contentVersion}-{name}.webp``."""
    label = str(name)
    if not _THUMBNAIL_NAME.fullmatch(label):
        raise ValueError(f"not a rendition name: {name!r}")
    if not isinstance(version, str) or not _CONTENT_VERSION.fullmatch(version):
        raise ValueError(f"not a content version: {version!r}")
    return f"{rendition_prefix(image_id, settings=settings)}{version}-{label}.{THUMBNAIL_EXTENSION}"


def rendition_image_id(key: str, *, settings: Settings | None = None) -> str | None:
    """The image id of a rendition key of the current layout (None for any other key: originals,
    legacy renditions, foreign objects)."""
    s = settings or get_settings()
    prefix = s.thumbnail_prefix + "/" if s.thumbnail_prefix else ""
    if not key.startswith(prefix):
        return None
    image_id, slash, name = key[len(prefix) :].partition("/")
    stem, dot, extension = name.rpartition(".")
    version, dash, label = stem.partition("-")
    if not (slash and dot and dash) or extension != THUMBNAIL_EXTENSION:
        return None
    if not (_IMAGE_ID.fullmatch(image_id) and _CONTENT_VERSION.fullmatch(version)):
        return None
    return image_id if _THUMBNAIL_NAME.fullmatch(label) else None


def image_object_keys(
    image_id: str, storage_key: str, *named: str | None, settings: Settings | None = None
) -> list[str]:
    """Every object key an image's records name: the original, the renditions the record names
    (``named``: its thumbnail and preview keys, of either layout) and the legacy renditions derived
    from the original's key. Renditions of the current layout that no record names yet (a thumbnailer
    still at work) are removed by that thumbnailer or by ``delete_renditions`` of the image's prefix."""
    s = settings or get_settings()
    found = [storage_key, *(k for k in named if k), *legacy_rendition_keys(storage_key, settings=s)]
    return list(dict.fromkeys(k for k in found if k))


def legacy_thumbnail_key(original_key: str, name: str | int, *, settings: Settings | None = None) -> str:
    """Where rendition ``name`` ("256", "1024") of an original lived before renditions were keyed by
    image and content version: mirroring the original's key. Only read to delete such renditions."""
    s = settings or get_settings()
    label = str(name)
    if not _THUMBNAIL_NAME.fullmatch(label):
        raise ValueError(f"not a rendition name: {name!r}")
    match = _original_pattern(s).fullmatch(original_key)
    if match is None or not is_original_key(original_key, settings=s):
        raise ValueError(f"not an original's key: {original_key!r}")
    filename = match["name"]
    stem = filename.rpartition(".")[0] or filename
    return _join(s.thumbnail_prefix, match["user"], f"{match['ts']}-{stem}-{label}.{THUMBNAIL_EXTENSION}")


def legacy_rendition_keys(original_key: str, *, settings: Settings | None = None) -> list[str]:
    """The renditions an original had in the legacy layout (empty for any other key)."""
    s = settings or get_settings()
    if not is_original_key(original_key, settings=s):
        return []
    return [legacy_thumbnail_key(original_key, n, settings=s) for n in THUMBNAIL_NAMES]
