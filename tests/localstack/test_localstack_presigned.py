"""The local storage enforces presigned uploads and URLs as S3 does, through real HTTP to the emulator:
what S3 refuses is refused with S3's XML error, and nothing is stored."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from imagegen.storage import presign

from tests.localstack.conftest import Reply, RunningStack, request
from tests.localstack.test_localstack_downloads import PNG_HEADER, multipart, storage_client

pytestmark = pytest.mark.e2e

PNG = PNG_HEADER + b"\x00" * 40


def new_key() -> str:
    return f"images/guard/{uuid.uuid4().hex[:10]}-a.png"


def error_code(reply: Reply) -> str:
    match = re.search(rb"<Code>([^<]+)</Code>", reply.body)
    assert match, reply.body
    return match.group(1).decode()


def stored(stack: RunningStack, key: str) -> bool:
    found = storage_client(stack).list_objects_v2(Bucket=stack.resource_name("Bucket"), Prefix=key)
    return bool(found.get("KeyCount"))


def form_post(post: dict[str, Any], data: bytes, *, fields: dict[str, str] | None = None) -> Reply:
    body, form_type = multipart({**post["fields"], **(fields or {})}, data, "image/png")
    return request("POST", post["url"], headers={"Content-Type": form_type}, body=body)


@pytest.fixture
def s3(stack: RunningStack) -> Any:
    return storage_client(stack)


@pytest.fixture
def bucket(stack: RunningStack) -> str:
    return stack.resource_name("Bucket")


# ---- presigned POST ---------------------------------------------------------------------------------
def test_a_form_post_within_its_policy_is_stored(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    reply = form_post(presign.presigned_post(s3, bucket, key, "image/png", 1024, 60), PNG)
    assert reply.status == 204, reply.body
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PNG


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [(b"x" * 1025, 400, "EntityTooLarge"), (b"", 400, "EntityTooSmall")],
    ids=["too-big", "too-small"],
)
def test_a_file_outside_the_size_range_is_refused(
    stack: RunningStack, s3: Any, bucket: str, data: bytes, status: int, code: str
) -> None:
    key = new_key()
    reply = form_post(presign.presigned_post(s3, bucket, key, "image/png", 1024, 60), data)
    assert (reply.status, error_code(reply)) == (status, code)
    assert reply.header("Content-Type") == "application/xml"
    assert not stored(stack, key)


@pytest.mark.parametrize(
    "change",
    [
        {"Content-Type": "text/html"},  # another type than the policy's eq condition
        {"x-extra": "1"},  # a field no condition covers
        {"x-amz-signature": "0" * 64},  # a forged signature
    ],
    ids=["other-type", "extra-field", "forged-signature"],
)
def test_a_form_post_its_policy_does_not_allow_is_denied(
    stack: RunningStack, s3: Any, bucket: str, change: dict[str, str]
) -> None:
    key = new_key()
    reply = form_post(presign.presigned_post(s3, bucket, key, "image/png", 1024, 60), PNG, fields=change)
    assert reply.status == 403, reply.body
    assert error_code(reply) == "AccessDenied"
    assert not stored(stack, key)


def test_another_key_is_denied(stack: RunningStack, s3: Any, bucket: str) -> None:
    key, other = new_key(), new_key()
    reply = form_post(
        presign.presigned_post(s3, bucket, key, "image/png", 1024, 60), PNG, fields={"key": other}
    )
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert b"$key" in reply.body
    assert not stored(stack, key) and not stored(stack, other)


def test_an_edited_policy_no_longer_matches_its_signature(stack: RunningStack, s3: Any, bucket: str) -> None:
    import base64
    import json

    key = new_key()
    post = presign.presigned_post(s3, bucket, key, "image/png", 1024, 60)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not isinstance(c, list)]  # no size range
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    reply = form_post(post, b"x" * 5000, fields={"policy": forged})
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert not stored(stack, key)


def test_an_expired_policy_is_denied(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    post = presign.presigned_post(s3, bucket, key, "image/png", 1024, 1)
    time.sleep(2.1)  # the policy's expiration has a one-second resolution
    reply = form_post(post, PNG)
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert b"Policy expired" in reply.body
    assert not stored(stack, key)


def test_a_refusal_carries_the_bucket_cors_headers(stack: RunningStack, s3: Any, bucket: str) -> None:
    """As S3 does, so the web app can read why its upload failed."""
    key = new_key()
    post = presign.presigned_post(s3, bucket, key, "image/png", 10, 60)
    body, form_type = multipart(post["fields"], PNG, "image/png")
    origin = "http://localhost:5173"  # the fixture bucket's CORS rule allows it
    reply = request("POST", post["url"], headers={"Content-Type": form_type, "Origin": origin}, body=body)
    assert (reply.status, error_code(reply)) == (400, "EntityTooLarge")
    ok = request("OPTIONS", post["url"], headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert reply.header("Access-Control-Allow-Origin") == ok.header("Access-Control-Allow-Origin") == origin


# ---- presigned URLs ---------------------------------------------------------------------------------
def test_an_expired_get_url_is_denied(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    s3.put_object(Bucket=bucket, Key=key, Body=PNG, ContentType="image/png")
    url = presign.signed_url(s3, bucket, key, 1)
    assert request("GET", url).status == 200
    time.sleep(2.1)
    reply = request("GET", url)
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert b"Request has expired" in reply.body


def test_an_altered_get_url_is_denied(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    s3.put_object(Bucket=bucket, Key=key, Body=PNG, ContentType="image/png")
    url = presign.signed_url(s3, bucket, key, 60, content_type="image/png")
    reply = request("GET", url.replace("image%2Fpng", "text%2Fhtml"))
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")


def test_a_put_as_signed_is_stored(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    put = presign.presigned_put(s3, bucket, key, "image/png", len(PNG), 60)
    assert put["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(PNG))}
    reply = request("PUT", put["url"], headers=put["headers"], body=PNG)
    assert reply.status == 200, reply.body
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == PNG and got["ContentType"] == "image/png"


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({"Content-Type": "image/png"}, PNG + b"more"),  # another length
        ({"Content-Type": "image/png"}, PNG[:-1]),  # shorter
        ({"Content-Type": "text/html"}, PNG),  # another type
    ],
    ids=["longer", "shorter", "other-type"],
)
def test_a_put_other_than_signed_is_refused(
    stack: RunningStack, s3: Any, bucket: str, headers: dict[str, str], data: bytes
) -> None:
    key = new_key()
    put = presign.presigned_put(s3, bucket, key, "image/png", len(PNG), 60)
    reply = request("PUT", put["url"], headers={**headers, "Content-Length": str(len(data))}, body=data)
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert not stored(stack, key)


def test_a_put_to_another_key_is_refused(stack: RunningStack, s3: Any, bucket: str) -> None:
    key, other = new_key(), new_key()
    put = presign.presigned_put(s3, bucket, key, "image/png", len(PNG), 60)
    reply = request(
        "PUT",
        put["url"].replace(key.rsplit("/", 1)[1], other.rsplit("/", 1)[1]),
        headers=put["headers"],
        body=PNG,
    )
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert not stored(stack, key) and not stored(stack, other)


def test_an_expired_put_is_refused(stack: RunningStack, s3: Any, bucket: str) -> None:
    key = new_key()
    put = presign.presigned_put(s3, bucket, key, "image/png", len(PNG), 1)
    time.sleep(2.1)
    reply = request("PUT", put["url"], headers=put["headers"], body=PNG)
    assert (reply.status, error_code(reply)) == (403, "AccessDenied")
    assert b"Request has expired" in reply.body
    assert not stored(stack, key)


def test_the_sdk_calls_signed_in_the_authorization_header_pass(s3: Any, bucket: str) -> None:
    key = new_key()
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 5000, ContentType="text/plain")
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 5000
