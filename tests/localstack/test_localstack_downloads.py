"""How the local stack serves objects to the browser: a PNG with HTML after it (a polyglot) uploaded
through a presigned POST is never served so that a browser could read it as HTML, by its plain URL or
its download URL."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from imagegen.storage import presign
from imagegen.storage.endpoint import client_options

from tests.localstack.conftest import RunningStack, request

pytestmark = pytest.mark.e2e

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
POLYGLOT = PNG_HEADER + b"<html><body><script>alert(document.domain)</script></body></html>"


def storage_client(stack: RunningStack) -> Any:
    """An S3 client with the options the functions' storage client has (SigV4, path style)."""
    endpoint = stack.info["emulatorUrl"]
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**client_options(endpoint)),
    )


def multipart(fields: dict[str, str], data: bytes, file_type: str) -> tuple[bytes, str]:
    boundary = f"----download-test-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
        f"Content-Type: {file_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_a_polyglot_is_served_as_an_image_attachment_with_nosniff(stack: RunningStack) -> None:
    s3 = storage_client(stack)
    bucket = stack.resource_name("Bucket")
    key = f"downloads/{uuid.uuid4().hex[:8]}-polyglot.png"
    post = presign.presigned_post(s3, bucket, key, "image/png", 1024 * 1024, 60)
    body, form_type = multipart(post["fields"], POLYGLOT, "text/html")
    uploaded = request("POST", post["url"], headers={"Content-Type": form_type}, body=body)
    assert uploaded.status in (200, 201, 204), uploaded.body

    # The download URL, as GET /images/{id}/download signs it.
    name = "Poly «glot».png"
    url = presign.signed_url(s3, bucket, key, 60, download_filename=name, content_type="image/png")
    download = request("GET", url)
    assert download.status == 200 and download.body == POLYGLOT  # byte for byte
    assert download.header("Content-Disposition") == (
        "attachment; filename=\"Poly -glot-.png\"; filename*=UTF-8''Poly%20%C2%ABglot%C2%BB.png"
    )
    assert download.header("Content-Type") == "image/png"
    assert download.all("X-Content-Type-Options") == ["nosniff"]

    # The plain URL (storageUrl): the type the upload policy pinned, and nosniff.
    plain = request("GET", f"{stack.info['emulatorUrl']}/{bucket}/{key}")
    assert plain.status == 200 and plain.body == POLYGLOT
    assert plain.header("Content-Type") == "image/png"
    assert plain.all("X-Content-Type-Options") == ["nosniff"]


def test_the_download_type_is_forced_whatever_the_stored_type(stack: RunningStack) -> None:
    s3 = storage_client(stack)
    bucket = stack.resource_name("Bucket")
    key = f"downloads/{uuid.uuid4().hex[:8]}-stored-as-html.png"
    s3.put_object(Bucket=bucket, Key=key, Body=POLYGLOT, ContentType="text/html")

    url = presign.signed_url(s3, bucket, key, 60, download_filename="x.png", content_type="image/png")
    download = request("GET", url)
    assert download.status == 200 and download.body == POLYGLOT
    assert download.header("Content-Type") == "image/png"
    assert (download.header("Content-Disposition") or "").startswith('attachment; filename="x.png"')
    assert download.all("X-Content-Type-Options") == ["nosniff"]
    head = request("HEAD", f"{stack.info['emulatorUrl']}/{bucket}/{key}")
    assert head.all("X-Content-Type-Options") == ["nosniff"]
