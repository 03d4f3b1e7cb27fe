"""Object storage over the S3 API: AWS S3, Cloudflare R2 and moto run the same code.

Key layout (the contract's): originals at ``{BUCKET_PREFIX}/{userId}/{timestampMs}-{sanitized-name}``,
renditions at ``{THUMBNAIL_PREFIX}/{userId}/{timestampMs}-{stem}-{name}.webp``. Thumbnails live under a
different prefix so the upload notification never fires on the thumbnailer's own output.

Importing this module does not import boto3: the client is built on first use, once per process, and
reused while the function is warm. Every SDK failure becomes a domain error here, so no AWS text can
reach a client: a missing object is ``NotFound``, throttling and 5xx are ``ServiceUnavailable``,
anything else is a ``StorageError`` (a plain 500).
"""

from __future__ import annotations

import base64
import builtins
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from urllib.parse import quote

from imagegen.errors import DomainError, InvalidCursor, NotFound, ServiceUnavailable
from imagegen.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

MAX_FILENAME_LENGTH: Final = 100
# Longer "extensions" are just the tail of a dotted name, not worth preserving when truncating.
_MAX_EXTENSION_LENGTH: Final = 10
FALLBACK_FILENAME: Final = "file"
THUMBNAIL_NAMES: Final[tuple[str, ...]] = ("256", "1024")
THUMBNAIL_EXTENSION: Final = "webp"
DELETE_BATCH: Final = 1000  # the most keys one DeleteObjects call accepts
MAX_LIST_PAGE: Final = 1000  # the most keys one ListObjectsV2 call returns
MAX_PRESIGN_SECONDS: Final = 7 * 24 * 3600  # SigV4 presigned requests cannot outlive a week

_DISALLOWED = re.compile(r"[^a-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_DOT_RUNS = re.compile(r"[-.]*\.[-.]*")  # any run of dots and dashes holding a dot
_EXTENSION = re.compile(r"[a-z0-9]+")
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_THUMBNAIL_NAME = re.compile(r"[a-z0-9]{1,16}")
_ORIGINAL_NAME = rf"(?P<ts>[0-9]{{1,20}})-(?P<name>[a-z0-9][a-z0-9._-]{{0,{MAX_FILENAME_LENGTH - 1}}})"

_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404"})
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)


class StorageError(DomainError):
    """A storage failure that retrying will not fix (bad configuration, access denied, ...).

    Its detail is ours, never the SDK's, since problem responses show the detail."""

    def __init__(self, detail: str = "The storage request failed") -> None:
        super().__init__(detail)


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


# ---- keys --------------------------------------------------------------------------------------


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


def user_id_from_key(key: str, *, settings: Settings | None = None) -> str | None:
    """The owner of an original or a rendition; None for any other key."""
    s = settings or get_settings()
    for prefix in (s.thumbnail_prefix, s.bucket_prefix):
        head = prefix + "/" if prefix else ""
        if key.startswith(head):
            user, slash, rest = key[len(head) :].partition("/")
            if slash and rest and "/" not in rest and _USER_ID.fullmatch(user):
                return user
    return None


def thumbnail_key(original_key: str, name: str | int, *, settings: Settings | None = None) -> str:
    """Where rendition ``name`` ("256", "1024") of an original lives, mirroring the original's key."""
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


def rendition_keys(original_key: str, *, settings: Settings | None = None) -> list[str]:
    """Every rendition the pipeline writes for an original (empty for any other key)."""
    s = settings or get_settings()
    if not is_original_key(original_key, settings=s):
        return []
    return [thumbnail_key(original_key, n, settings=s) for n in THUMBNAIL_NAMES]


# ---- the client ----------------------------------------------------------------------------------

_clients: dict[tuple[str | None, str], S3Client] = {}
_client_lock = threading.Lock()


def _region() -> str:
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


def client_config(endpoint: str | None) -> Any:
    """The botocore Config every storage client uses (a function so a test can check it)."""
    from botocore.config import Config

    return Config(
        signature_version="s3v4",
        # Custom endpoints (R2, moto, MinIO) answer on one host: path-style. AWS prefers virtual hosts,
        # which also keeps presigned URLs on the bucket's regional host.
        s3={"addressing_style": "path" if endpoint else "virtual"},
        # boto3 >= 1.36 adds CRC checksums to every request by default; R2 rejects some of them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=30,
    )


def get_client(settings: Settings | None = None) -> S3Client:
    """The process-wide S3 client for the configured endpoint and region; thread-safe."""
    endpoint, region = endpoint_url(settings), _region()
    cache_key = (endpoint, region)
    found = _clients.get(cache_key)
    if found is not None:
        return found
    with _client_lock:
        found = _clients.get(cache_key)
        if found is None:
            import boto3

            # A session of our own: boto3's default session is not safe to create clients from
            # concurrently.
            found = boto3.session.Session().client(
                "s3", endpoint_url=endpoint, region_name=region, config=client_config(endpoint)
            )
            _clients[cache_key] = found
        return found


def reset_client() -> None:
    """Forget cached clients (tests switch endpoints, credentials and mocks between cases)."""
    with _client_lock:
        _clients.clear()


def _error_code(exc: Exception) -> tuple[str, int]:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _is_unavailable(code: str, status: int) -> bool:
    return code in _UNAVAILABLE_CODES or status == 429 or status >= 500


@contextmanager
def _translated(operation: str, key: str | None = None) -> Iterator[None]:
    """Turns SDK failures into domain errors; the SDK's text stays in the log."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as EndpointUnreachable

    try:
        yield
    except ClientError as exc:
        code, status = _error_code(exc)
        # A missing bucket is our misconfiguration, not the client's missing resource.
        if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            raise NotFound("The object does not exist") from exc
        if _is_unavailable(code, status):
            log.warning("storage %s unavailable: %s", operation, code or status, extra={"key": key})
            raise ServiceUnavailable("Storage is busy; try again") from exc
        log.error("storage %s failed: %s", operation, code or status, extra={"key": key})
        raise StorageError() from exc
    except (EndpointUnreachable, HTTPClientError) as exc:  # refused, reset, timed out
        log.warning("storage %s unreachable: %s", operation, type(exc).__name__, extra={"key": key})
        raise ServiceUnavailable("Storage is unreachable; try again") from exc
    except BotoCoreError as exc:  # no credentials, bad parameters: configuration, not load
        log.error("storage %s failed: %s", operation, type(exc).__name__, extra={"key": key})
        raise StorageError() from exc


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _check_seconds(name: str, seconds: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"{name} must be 1..{MAX_PRESIGN_SECONDS} seconds, got {seconds!r}")
    return seconds


def _check_content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not content_type.strip() or set(content_type) & {"\r", "\n"}:
        raise ValueError(f"not a usable content type: {content_type!r}")
    return content_type.strip()


def _content_disposition(filename: str) -> str:
    # The quoted ASCII name is for old clients; filename* (RFC 6266/8187) carries the exact name.
    fallback = sanitize_filename(filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _as_bytes(data: bytes | bytearray | memoryview | BinaryIO) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    # Images are capped at MAX_UPLOAD_BYTES (10 MiB by default): reading them whole is cheaper than a
    # multipart transfer, and gives the exact size for the result.
    return data.read()


# ---- the service ---------------------------------------------------------------------------------


class StorageService:
    """The seed's storage service. One per process (see ``imagegen.services.context``)."""

    def __init__(self, settings: Settings | None = None, *, client: S3Client | None = None) -> None:
        self.settings = settings or get_settings()
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = get_client(self.settings)
        return self._client

    @property
    def bucket(self) -> str:
        return self.settings.bucket_name

    # keys, bound to this service's settings
    def make_key(self, user_id: str, filename: str, now_ms: int | None = None) -> str:
        return make_key(user_id, filename, now_ms, settings=self.settings)

    def thumbnail_key(self, original_key: str, name: str | int) -> str:
        return thumbnail_key(original_key, name, settings=self.settings)

    def is_original_key(self, key: str) -> bool:
        return is_original_key(key, settings=self.settings)

    def user_id_from_key(self, key: str) -> str | None:
        return user_id_from_key(key, settings=self.settings)

    # URLs
    def get_public_url(self, key: str) -> str:
        """Where the object is served: the CDN / R2 public bucket when ``PUBLIC_BASE_URL`` is set, else
        the S3 endpoint itself (public only if the bucket is)."""
        quoted = quote(key, safe="/-_.~")
        if self.settings.public_base_url:
            return f"{self.settings.public_base_url}/{quoted}"
        endpoint = endpoint_url(self.settings)
        if endpoint:
            return f"{endpoint}/{quote(self.bucket, safe='')}/{quoted}"
        return f"https://{self.bucket}.s3.{_region()}.amazonaws.com/{quoted}"

    def create_signed_url(self, key: str, expiration: int, download_filename: str | None = None) -> str:
        """A presigned GET valid for ``expiration`` seconds; with a filename, the browser saves it."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_filename:
            params["ResponseContentDisposition"] = _content_disposition(download_filename)
        with _translated("presign", key):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=_check_seconds("expiration", expiration)
            )

    def create_presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> dict[str, Any]:
        """A browser form upload whose policy pins this exact key, this exact Content-Type and a size of
        1..max_bytes. S3 enforces the policy; the thumbnailer still checks the stored bytes."""
        content_type = _check_content_type(content_type)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        seconds = _check_seconds("expires_in", expires_in)
        # Taken before signing, so the advertised expiry is never later than the policy's own.
        expires_at = _iso(datetime.now(UTC) + timedelta(seconds=seconds))
        with _translated("presign_post", key):
            post = self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,  # no ${filename}: botocore then adds an exact {"key": key} condition
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=seconds,
            )
        return {"url": post["url"], "fields": dict(post["fields"]), "expiresAt": expires_at}

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
            "ContentType": _check_content_type(content_type),
        }
        if cache_control:
            params["CacheControl"] = cache_control
        with _translated("put", key):
            self.client.put_object(**params)
        return StoredObject(key=key, url=self.get_public_url(key), size=len(body), content_type=content_type)

    def upload(
        self,
        data: bytes | bytearray | memoryview | BinaryIO,
        filename: str,
        user_id: str,
        content_type: str,
    ) -> StoredObject:
        """Stores a new original for ``user_id`` under a fresh key made from ``filename``."""
        return self.put(self.make_key(user_id, filename), data, content_type)

    def upload_buffer(
        self, buffer: bytes | bytearray | memoryview, filename: str, user_id: str, content_type: str
    ) -> StoredObject:
        return self.upload(buffer, filename, user_id, content_type)

    # reading
    def get(self, key: str) -> bytes:
        with _translated("get", key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` inclusive (an HTTP range), so a header can be sniffed without the
        whole object. Past the end of the object there is nothing: ``b""``."""
        if start < 0 or end < start:
            raise ValueError(f"bad byte range {start}-{end}")
        from botocore.exceptions import ClientError

        with _translated("get_range", key):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
            except ClientError as exc:
                code, status = _error_code(exc)
                if code == "InvalidRange" or status == 416:
                    return b""
                raise
            return response["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, type and ETag; None when it does not exist."""
        try:
            with _translated("head", key):
                response = self.client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(response.get("ContentLength", 0)),
            content_type=response.get("ContentType"),
            etag=response.get("ETag"),
            last_modified=_iso(response.get("LastModified") or datetime.now(UTC)),
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list(
        self, user_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[builtins.list[ObjectInfo], str | None]:
        """One page of a user's originals in key order (oldest first, since keys start with the
        time). The cursor wraps S3's continuation token with the prefix it belongs to, so another
        user's cursor, or a mangled one, is ``InvalidCursor`` rather than an S3 error."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        prefix = _join(self.settings.bucket_prefix, _check_user_id(user_id)) + "/"
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": prefix,
            "MaxKeys": min(limit, MAX_LIST_PAGE),
        }
        if cursor:
            params["ContinuationToken"] = _decode_cursor(prefix, cursor)
        from botocore.exceptions import ClientError

        with _translated("list"):
            try:
                response = self.client.list_objects_v2(**params)
            except ClientError as exc:
                code, status = _error_code(exc)
                if cursor and (code == "InvalidArgument" or status == 400):
                    raise InvalidCursor() from exc
                raise
        items = [_summary(obj) for obj in response.get("Contents", [])]
        token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return items, _encode_cursor(prefix, token) if token else None

    def iter_prefix(
        self, prefix: str, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` in key order (after ``start_after``), at most ``limit`` of them."""
        token: str | None = None
        seen = 0
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": MAX_LIST_PAGE}
            if start_after and not token:
                params["StartAfter"] = start_after
            if token:
                params["ContinuationToken"] = token
            with _translated("list"):
                response = self.client.list_objects_v2(**params)
            for obj in response.get("Contents", []):
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield _summary(obj)
            token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
            if not token:
                return

    def iter_originals(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every user's originals (the sweeper looks for objects no image points to)."""
        prefix = self.settings.bucket_prefix + "/" if self.settings.bucket_prefix else ""
        return (obj for obj in self.iter_prefix(prefix, limit, start_after) if self.is_original_key(obj.key))

    # deleting
    def delete(self, key: str) -> None:
        """Removes an object and, for an original, every rendition of it. Deleting what is already
        gone is fine: events arrive twice and deletes race with the thumbnailer."""
        self.delete_many([key, *rendition_keys(key, settings=self.settings)])

    def delete_many(self, keys: Iterable[str]) -> int:
        """Deletes the keys in batches of 1000 (DeleteObjects' limit); returns how many were asked."""
        unique = list(dict.fromkeys(k for k in keys if k))
        for start in range(0, len(unique), DELETE_BATCH):
            batch = unique[start : start + DELETE_BATCH]
            with _translated("delete", batch[0]):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                codes = sorted({str(e.get("Code", "")) for e in errors})
                log.error("storage delete left %d objects: %s", len(errors), codes, extra={"key": batch[0]})
                if any(_is_unavailable(c, 0) for c in codes):
                    raise ServiceUnavailable("Storage is busy; try again")
                raise StorageError("Some objects could not be deleted")
        return len(unique)

    def delete_prefix(self, prefix: str) -> int:
        """Deletes everything under ``prefix`` (a user's cascade); returns how many objects went.

        The prefix must end with "/": "images/u1" would also take "images/u10/..."."""
        if not prefix.strip("/") or not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"refusing to delete under {prefix!r}: give a folder such as 'images/<user>/'")
        deleted = 0
        batch: builtins.list[str] = []
        for obj in self.iter_prefix(prefix):
            batch.append(obj.key)
            if len(batch) == DELETE_BATCH:
                deleted += self.delete_many(batch)
                batch = []
        if batch:
            deleted += self.delete_many(batch)
        return deleted

    def delete_user_objects(self, user_id: str) -> int:
        """Every original and rendition of a user (``DELETE /me``)."""
        user = _check_user_id(user_id)
        return sum(
            self.delete_prefix(_join(prefix, user) + "/")
            for prefix in (self.settings.bucket_prefix, self.settings.thumbnail_prefix)
        )


_MAX_CURSOR_LENGTH: Final = 4096


def _encode_cursor(prefix: str, token: str) -> str:
    raw = json.dumps({"p": prefix, "t": token}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(prefix: str, cursor: str) -> str:
    if len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        data = json.loads(raw)
    except (ValueError, UnicodeError) as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise InvalidCursor() from exc
    token = data.get("t") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token or data.get("p") != prefix:
        raise InvalidCursor()
    return token


def _summary(obj: Any) -> ObjectInfo:
    modified = obj.get("LastModified")
    return ObjectInfo(
        key=str(obj["Key"]),
        size=int(obj.get("Size", 0)),
        etag=obj.get("ETag"),
        # S3 always sends it; if a look-alike does not, "now" never makes an object look old.
        last_modified=_iso(modified if isinstance(modified, datetime) else datetime.now(UTC)),
    )
