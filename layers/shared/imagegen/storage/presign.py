"""Presigned requests: a GET for downloads, and a POST policy or a PUT for browser uploads.

The bucket enforces what a presigned request allows; nothing here is sent until the browser uses it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from imagegen.models import iso_utc
from imagegen.storage.errors import translated

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MAX_PRESIGN_SECONDS: Final = 7 * 24 * 3600  # SigV4 presigned requests cannot outlive a week


def check_seconds(name: str, seconds: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"{name} must be 1..{MAX_PRESIGN_SECONDS} seconds, got {seconds!r}")
    return seconds


def check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not content_type.strip() or set(content_type) & {"\r", "\n"}:
        raise ValueError(f"not a usable content type: {content_type!r}")
    return content_type.strip()


MAX_DOWNLOAD_NAME_BYTES: Final = 255  # the longest file name most file systems accept, in UTF-8
MAX_FALLBACK_NAME_LENGTH: Final = 100
DEFAULT_DOWNLOAD_NAME: Final = "image"

_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})")
# Never in a saved name: path separators, controls (C0, DEL, C1), line and paragraph separators, and the
# bidirectional marks and overrides (U+202E can make "gnp.exe" read "exe.png"). Other format characters
# stay: U+200D joins emoji.
_NOT_IN_A_NAME = frozenset("/\\\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NOT_IN_A_NAME_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Never in the quoted ASCII fallback: what ends or escapes the quoted-string, what Windows refuses in a
# name, "%" (some clients percent-decode the fallback) and ";" (naive parsers split on it).
_NOT_IN_A_FALLBACK = frozenset('"\\/:*?<>|%;')


def _split_extension(filename: str) -> tuple[str, str]:
    stem, dot, extension = filename.rpartition(".")
    if dot and _EXTENSION.fullmatch("." + extension):
        return stem, "." + extension
    return filename, ""


def _replace_runs(text: str, unsafe: Callable[[str], bool]) -> str:
    """Each run of unsafe characters becomes one "-"."""
    out: list[str] = []
    in_run = False
    for char in text:
        if unsafe(char):
            if not in_run:
                out.append("-")
            in_run = True
        else:
            out.append(char)
            in_run = False
    return "".join(out)


def _tidy(stem: str) -> str:
    # No leading dot (a hidden file), dash or space; no trailing dot or space (Windows drops them).
    return stem.lstrip(" .-").rstrip(" .")


def _fit(stem: str, extension: str, fits: Callable[[str], bool]) -> str:
    stem = stem[:MAX_DOWNLOAD_NAME_BYTES]  # no longer name fits in either limit
    while stem and not fits(stem + extension):
        stem = stem[:-1]
    return _tidy(stem) or DEFAULT_DOWNLOAD_NAME


def download_names(filename: str) -> tuple[str, str]:
    """The exact name and its ASCII fallback, both ``<stem><.ext>`` and safe to save anywhere.

    The exact name keeps the text but not path separators or invisible control and format characters;
    the fallback also turns everything but printable ASCII, and what a quoted header value or a file
    system cannot hold, into "-". A name empty after that becomes "image"; long ones are cut before the
    extension (255 UTF-8 bytes, 100 characters for the fallback)."""
    stem, extension = _split_extension(filename)
    exact = _tidy(
        _replace_runs(
            stem, lambda c: c in _NOT_IN_A_NAME or unicodedata.category(c) in _NOT_IN_A_NAME_CATEGORIES
        )
    )
    exact = _fit(exact, extension, lambda name: len(name.encode()) <= MAX_DOWNLOAD_NAME_BYTES)
    # "Café" reads "Cafe": compatibility decomposition, then the combining marks dropped.
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", exact) if not unicodedata.combining(c))
    fallback = _tidy(_replace_runs(decomposed, lambda c: not " " <= c <= "~" or c in _NOT_IN_A_FALLBACK))
    fallback = _fit(fallback, extension, lambda name: len(name) <= MAX_FALLBACK_NAME_LENGTH)
    return exact + extension, fallback + extension


def content_disposition(filename: str) -> str:
    """``attachment`` with the ASCII fallback for old clients and ``filename*`` (RFC 6266, RFC 8187)
    for the exact name. Printable ASCII whatever the name: nothing can end or add a header."""
    exact, fallback = download_names(filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(exact, safe='')}"


def signed_url(
    client: S3Client,
    bucket: str,
    key: str,
    expiration: int,
    download_filename: str | None = None,
    content_type: str | None = None,
) -> str:
    """A presigned GET valid for ``expiration`` seconds. With a filename the browser saves the object
    (``attachment``) under that name; with a content type the response carries that type whatever the
    stored object's. Both are signed, so the URL cannot be altered to serve the object otherwise."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if download_filename is not None:
        params["ResponseContentDisposition"] = content_disposition(download_filename)
    if content_type is not None:
        params["ResponseContentType"] = check_content_type(content_type)
    with translated("presign", key):
        return client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=check_seconds("expiration", expiration)
        )


def presigned_post(
    client: S3Client, bucket: str, key: str, content_type: str, max_bytes: int, expires_in: int
) -> dict[str, Any]:
    """A browser form upload whose policy pins this exact key, this exact Content-Type and a size of
    1..max_bytes. S3 enforces the policy; the thumbnailer still checks the stored bytes."""
    content_type = check_content_type(content_type)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    seconds = check_seconds("expires_in", expires_in)
    # Taken before signing, so the advertised expiry is never later than the policy's own.
    expires_at = iso_utc(datetime.now(UTC) + timedelta(seconds=seconds))
    with translated("presign_post", key):
        post = client.generate_presigned_post(
            Bucket=bucket,
            Key=key,  # no ${filename}: botocore then adds an exact {"key": key} condition
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=seconds,
        )
    return {"method": "POST", "url": post["url"], "fields": dict(post["fields"]), "expiresAt": expires_at}


def presigned_put(
    client: S3Client, bucket: str, key: str, content_type: str, size: int, expires_in: int
) -> dict[str, Any]:
    """A browser upload by PUT (the only kind Cloudflare R2 accepts) whose signature covers this exact key,
    this exact Content-Type and this exact Content-Length: the store refuses any other. The browser must
    send ``headers`` as they are (it sets Content-Length itself, to the file's real size)."""
    content_type = check_content_type(content_type)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    seconds = check_seconds("expires_in", expires_in)
    expires_at = iso_utc(datetime.now(UTC) + timedelta(seconds=seconds))
    with translated("presign_put", key):
        url = client.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": size},
            ExpiresIn=seconds,
        )
    return {
        "method": "PUT",
        "url": url,
        "headers": {"Content-Type": content_type, "Content-Length": str(size)},
        "expiresAt": expires_at,
    }
