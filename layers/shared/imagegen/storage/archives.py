"""The exporter's storage (``ArchiveStore``): originals read as streams, archives written as multipart
uploads, over the same S3 client as :class:`~imagegen.storage.StorageService` (S3, R2, moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from imagegen import aws
from imagegen.errors import NotFound
from imagegen.settings import Settings, get_settings
from imagegen.storage.endpoint import client_options, endpoint_url, region
from imagegen.storage.errors import translated

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

READ_CHUNK = 1024 * 1024
EXPORT_PREFIX = "exports"
# S3 may take minutes to answer a CompleteMultipartUpload of a large object (it keeps the connection
# open meanwhile): a 30 s read timeout would give up, retry, and race the first request.
ARCHIVE_READ_TIMEOUT = 600


def archive_client(settings: Settings) -> S3Client:
    """The storage client with a read timeout long enough for completing a large multipart upload."""
    endpoint = endpoint_url(settings)
    options = {**client_options(endpoint), "read_timeout": ARCHIVE_READ_TIMEOUT}
    client: S3Client = aws.client("s3", endpoint_url=endpoint, region_name=region(), **options)
    return client


def export_key(user_id: str, export_id: str) -> str:
    """``exports/{userId}/{exportId}.zip``: outside the originals' prefix, so the upload notification
    (filtered on ``{BUCKET_PREFIX}/``) never fires on it, and under the user, so erasure finds it."""
    return f"{EXPORT_PREFIX}/{user_id}/{export_id}.zip"


def user_exports_prefix(user_id: str) -> str:
    return f"{EXPORT_PREFIX}/{user_id}/"


class S3Object:
    def __init__(self, key: str, body: Any, size: int) -> None:
        self.key = key
        self.size = size
        self._body = body

    def chunks(self) -> Iterator[bytes]:
        with translated("get", self.key):
            yield from self._body.iter_chunks(READ_CHUNK)

    def close(self) -> None:
        self._body.close()


class S3MultipartUpload:
    def __init__(self, client: S3Client, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self._parts: list[CompletedPartTypeDef] = []

    def upload_part(self, number: int, data: bytes) -> None:
        with translated("upload_part", self.key):
            response = self._client.upload_part(
                Bucket=self._bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def complete(self) -> None:
        with translated("complete_upload", self.key):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    def abort(self) -> None:
        abort_upload(self._client, self._bucket, self.key, self.upload_id)


def abort_upload(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    try:
        with translated("abort_upload", key):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except NotFound:
        pass  # NoSuchUpload: finished or aborted already


class S3ArchiveStore:
    def __init__(self, settings: Settings | None = None, *, client: S3Client | None = None) -> None:
        self.settings = settings or get_settings()
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = archive_client(self.settings)
        return self._client

    @property
    def bucket(self) -> str:
        return self.settings.bucket_name

    def open(self, key: str) -> S3Object | None:
        try:
            with translated("get", key):
                response = self.client.get_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return S3Object(key, response["Body"], int(response.get("ContentLength", 0)))

    def start_upload(self, key: str, content_type: str) -> S3MultipartUpload:
        with translated("create_upload", key):
            response = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type
            )
        return S3MultipartUpload(self.client, self.bucket, key, response["UploadId"])

    def abort_upload(self, key: str, upload_id: str) -> None:
        abort_upload(self.client, self.bucket, key, upload_id)

    def delete(self, key: str) -> None:
        with translated("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)
