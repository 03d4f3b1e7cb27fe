"""Where the bucket is: the S3 endpoint (AWS, Cloudflare R2, moto), the client for it, public URLs.

The client comes from :func:`imagegen.aws.client`, built on first use with the options every
storage call needs, and shared by the process while the function is warm.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from imagegen import aws
from imagegen.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_url(settings: Settings | None = None) -> str | None:
    """The S3 endpoint when it is not AWS's own: ``S3_ENDPOINT_URL``, or the endpoint variables that
    botocore itself honours, so URLs we build always point where the client really talks."""
    s = settings or get_settings()
    for candidate in (
        s.s3_endpoint_url,
        os.environ.get("AWS_ENDPOINT_URL_S3"),
        os.environ.get("AWS_ENDPOINT_URL"),
    ):
        if candidate and candidate.strip():
            return candidate.strip().rstrip("/")
    return None


def client_options(endpoint: str | None) -> dict[str, Any]:
    """The botocore ``Config`` options of every storage client (a function so a test can use them)."""
    return {
        "signature_version": "s3v4",
        # Custom endpoints (R2, moto, MinIO) answer on one host: path-style. AWS prefers virtual hosts,
        # which also keeps presigned URLs on the bucket's regional host.
        "s3": {"addressing_style": "path" if endpoint else "virtual"},
        # boto3 >= 1.36 adds CRC checksums to every request by default; R2 rejects some of them.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "retries": {"mode": "standard", "max_attempts": 3},
        "connect_timeout": 5,
        "read_timeout": 30,
    }


def s3_client(settings: Settings | None = None) -> S3Client:
    """The process-wide S3 client for the configured endpoint and region; thread-safe."""
    endpoint = endpoint_url(settings)
    client: S3Client = aws.client(
        "s3", endpoint_url=endpoint, region_name=region(), **client_options(endpoint)
    )
    return client


def public_url(key: str, settings: Settings | None = None) -> str:
    """Where the object is served: the CDN / R2 public bucket when ``PUBLIC_BASE_URL`` is set, else
    the S3 endpoint itself (public only if the bucket is)."""
    s = settings or get_settings()
    quoted = quote(key, safe="/-_.~")
    if s.public_base_url:
        return f"{s.public_base_url}/{quoted}"
    endpoint = endpoint_url(s)
    if endpoint:
        return f"{endpoint}/{quote(s.bucket_name, safe='')}/{quoted}"
    return f"https://{s.bucket_name}.s3.{region()}.amazonaws.com/{quoted}"
