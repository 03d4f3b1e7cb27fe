"""Presigned requests: a GET for downloads and a POST policy for browser uploads.

The bucket enforces what a presigned request allows; nothing here is sent until the browser uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from imagegen.models import iso_utc
from imagegen.storage.errors import translated
from imagegen.storage.keys import sanitize_filename

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


def content_disposition(filename: str) -> str:
    # The quoted ASCII name is for old clients; filename* (RFC 6266/8187) carries the exact name.
    fallback = sanitize_filename(filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def signed_url(
    client: S3Client, bucket: str, key: str, expiration: int, download_filename: str | None = None
) -> str:
    """A presigned GET valid for ``expiration`` seconds; with a filename, the browser saves it."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if download_filename:
        params["ResponseContentDisposition"] = content_disposition(download_filename)
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
    return {"url": post["url"], "fields": dict(post["fields"]), "expiresAt": expires_at}
