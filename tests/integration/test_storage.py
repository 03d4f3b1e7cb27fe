"""StorageService against moto: in-process (the AWS code path) and a moto server over real HTTP (the
R2 / local-stack code path: custom endpoint, path-style), for every method."""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from imagegen import aws
from imagegen.errors import NotFound, ServiceUnavailable
from imagegen.settings import reset_settings
from imagegen.storage import StorageError, StorageService, legacy_thumbnail_key
from imagegen.storage.endpoint import client_options, s3_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
# No proxy from the environment may sit between the tests and the loopback moto server.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def new_user() -> str:
    return str(uuid.uuid4())


def raw_head(storage: StorageService, key: str) -> dict[str, Any]:
    response: dict[str, Any] = dict(storage.client.head_object(Bucket=storage.bucket, Key=key))
    return response


def keys_under(storage: StorageService, prefix: str) -> list[str]:
    return [obj.key for obj in storage.iter_prefix(prefix)]


def multipart(fields: dict[str, str], file_name: str, file_type: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it: the fields first, the file last (S3 ignores
    anything after the file)."""
    boundary = f"----storage-test-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
            f"Content-Type: {file_type}\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# ---- writing and reading ---------------------------------------------------------------------------


def test_put_accepts_bytes_a_file_object_and_a_bytearray(storage_service: StorageService) -> None:
    user = new_user()
    for i, data in enumerate((PNG, io.BytesIO(PNG), bytearray(PNG), memoryview(PNG))):
        stored = storage_service.put(storage_service.make_key(user, f"{i}.png"), data, "image/png")
        assert (stored.size, stored.content_type) == (len(PNG), "image/png")
        assert stored.url == storage_service.get_public_url(stored.key)
        assert storage_service.get(stored.key) == PNG


def test_put_sets_type_and_cache_control(storage_service: StorageService) -> None:
    key = f"thumbnails/{new_user()}/1-a-256.webp"
    stored = storage_service.put(key, b"RIFF....WEBP", "image/webp", cache_control="public, max-age=60")
    head = raw_head(storage_service, key)
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=60"
    assert stored.size == 12


def test_get_of_a_missing_key_is_not_found(storage_service: StorageService) -> None:
    with pytest.raises(NotFound):
        storage_service.get(f"images/{new_user()}/1-missing.png")


def test_head_describes_an_object_and_is_none_when_absent(storage_service: StorageService) -> None:
    key = storage_service.put(f"images/{new_user()}/1-a.png", PNG, "image/png").key
    info = storage_service.head(key)
    assert info is not None
    assert (info.key, info.size, info.content_type) == (key, len(PNG), "image/png")
    assert info.etag and info.etag.strip('"')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info.last_modified)
    assert storage_service.head(f"images/{new_user()}/1-absent.png") is None


# ---- deleting --------------------------------------------------------------------------------------


def test_delete_renditions_takes_every_version_of_one_image_only(storage_service: StorageService) -> None:
    image, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = [storage_service.rendition_key(image, v, n) for v in ("aaa", "bbb") for n in ("256", "1024")]
    theirs = storage_service.rendition_key(other, "aaa", "256")
    for key in [*mine, theirs]:
        storage_service.put(key, b"webp", "image/webp")
    assert sorted(o.key for o in storage_service.iter_renditions() if o.key in {*mine, theirs}) == sorted(
        [*mine, theirs]
    )
    assert storage_service.delete_renditions(image) == 4
    assert all(storage_service.head(k) is None for k in mine)
    assert storage_service.head(theirs) is not None
    assert storage_service.delete_renditions(image) == 0


def test_delete_removes_the_original_and_its_thumbnails_only(storage_service: StorageService) -> None:
    user = new_user()
    original = storage_service.put(storage_service.make_key(user, "cat.png"), PNG, "image/png").key
    neighbour = storage_service.make_key(user, "dog.png", now_ms=1)
    storage_service.put(neighbour, PNG, "image/png")
    renditions = [legacy_thumbnail_key(original, n) for n in ("256", "1024")]
    for key in [*renditions, legacy_thumbnail_key(neighbour, "256")]:
        storage_service.put(key, b"webp", "image/webp")

    storage_service.delete(original)

    assert storage_service.head(original) is None
    assert all(storage_service.head(k) is None for k in renditions)
    assert storage_service.head(neighbour) is not None
    assert storage_service.head(legacy_thumbnail_key(neighbour, "256")) is not None
    storage_service.delete(original)  # again: already gone is fine
    storage_service.delete(f"images/{user}/2-never-existed.png")


def test_delete_many_batches_by_a_thousand(storage_service: StorageService) -> None:
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["Delete"]["Objects"]))

    storage_service.client.meta.events.register("provide-client-params.s3.DeleteObjects", count)
    try:
        keys = [f"images/{new_user()}/{i}-x.png" for i in range(2_345)]
        assert storage_service.delete_many([*keys, keys[0], ""]) == 2_345
    finally:
        storage_service.client.meta.events.unregister("provide-client-params.s3.DeleteObjects", count)
    assert calls == [1000, 1000, 345]
    assert storage_service.delete_many([]) == 0


@pytest.mark.slow
def test_delete_prefix_takes_more_than_a_thousand_objects(storage_moto: StorageService) -> None:
    storage = storage_moto
    user, other = new_user(), new_user()
    prefix = f"images/{user}/"
    for i in range(1_203):
        storage.client.put_object(Bucket=storage.bucket, Key=f"{prefix}{i:05d}-a.png", Body=b"x")
    storage.put(f"images/{other}/1-keep.png", b"x", "image/png")
    storage.put(f"images/{user}x/1-keep.png", b"x", "image/png")  # shares the text prefix, not the folder

    assert storage.delete_prefix(prefix) == 1_203

    assert keys_under(storage, prefix) == []
    assert keys_under(storage, f"images/{other}/") == [f"images/{other}/1-keep.png"]
    assert keys_under(storage, f"images/{user}x/") == [f"images/{user}x/1-keep.png"]
    assert storage.delete_prefix(prefix) == 0


def test_delete_prefix_over_http(storage_server: StorageService) -> None:
    user = new_user()
    for i in range(5):
        storage_server.put(f"thumbnails/{user}/{i}-a-256.webp", b"x", "image/webp")
    assert storage_server.delete_prefix(f"thumbnails/{user}/") == 5
    assert keys_under(storage_server, f"thumbnails/{user}/") == []


@pytest.mark.parametrize("prefix", ["", "/", "images", f"images/{uuid.uuid4()}", "/images/x/"])
def test_delete_prefix_refuses_what_could_take_too_much(storage_moto: StorageService, prefix: str) -> None:
    with pytest.raises(ValueError):
        storage_moto.delete_prefix(prefix)


# ---- listing ---------------------------------------------------------------------------------------


def test_iter_originals_skips_thumbnails_and_respects_the_limit(storage_service: StorageService) -> None:
    user = new_user()
    originals = [storage_service.make_key(user, f"{i}.png") for i in range(3)]
    for key in originals:
        storage_service.put(key, PNG, "image/png")
    storage_service.put(legacy_thumbnail_key(originals[0], "256"), b"w", "image/webp")
    storage_service.put(storage_service.rendition_key(str(uuid.uuid4()), "abc", "256"), b"w", "image/webp")
    found = [o.key for o in storage_service.iter_originals()]
    assert sorted(found) == sorted(originals)
    assert len(list(storage_service.iter_originals(limit=2))) == 2


# ---- URLs ------------------------------------------------------------------------------------------


def test_public_url_formulas(storage_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "images/u-1/1700000000000-a b+c.png"
    quoted = "images/u-1/1700000000000-a%20b%2Bc.png"

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    reset_settings()
    assert (
        StorageService().get_public_url(key) == f"https://{storage_env}.s3.eu-west-1.amazonaws.com/{quoted}"
    )

    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:4566/")
    reset_settings()
    assert StorageService().get_public_url(key) == f"http://127.0.0.1:4566/{storage_env}/{quoted}"

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://cdn.example.com/media/")
    reset_settings()
    assert StorageService().get_public_url(key) == f"https://cdn.example.com/media/{quoted}"


def test_signed_url_fetches_the_object_over_http(storage_server: StorageService) -> None:
    key = storage_server.put(storage_server.make_key(new_user(), "a.png"), PNG, "image/png").key
    url = storage_server.create_signed_url(key, 60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    with _http.open(url, timeout=10) as response:
        assert response.status == 200
        assert response.read() == PNG

    named = storage_server.create_signed_url(key, 60, download_filename="Café au lait.png")
    with _http.open(named, timeout=10) as response:
        disposition = response.headers["Content-Disposition"]
        assert response.read() == PNG
    assert (
        disposition == "attachment; filename=\"Cafe au lait.png\"; filename*=UTF-8''Caf%C3%A9%20au%20lait.png"
    )

    with pytest.raises(ValueError):
        storage_server.create_signed_url(key, 0)


def test_signed_download_forces_the_given_type_over_the_stored_one(storage_server: StorageService) -> None:
    # A PNG followed by HTML, stored as HTML: the signed download is an image/png attachment.
    polyglot = PNG + b"<html><script>alert(document.domain)</script></html>"
    key = storage_server.put(storage_server.make_key(new_user(), "a.png"), polyglot, "text/html").key
    url = storage_server.create_signed_url(key, 60, download_filename="a.png", content_type="image/png")
    assert "response-content-type=image%2Fpng" in url
    with _http.open(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Disposition"].startswith('attachment; filename="a.png"')
        assert response.read() == polyglot
    with pytest.raises(ValueError):
        storage_server.create_signed_url(key, 60, content_type="text/html\r\nX-Injected: 1")


def test_presigned_post_policy_pins_key_type_and_size(storage_service: StorageService) -> None:
    key = storage_service.make_key(new_user(), "upload.png")
    before = datetime.now(UTC)
    post = storage_service.create_presigned_post(key, "image/png", 10 * 1024 * 1024, 900)

    assert set(post) == {"method", "url", "fields", "expiresAt"} and post["method"] == "POST"
    fields = post["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": key} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 10 * 1024 * 1024] in conditions
    assert {"bucket": storage_service.bucket} in conditions
    # Nothing loosens the pins: no starts-with condition on the key or the type.
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]

    expires_at = datetime.strptime(post["expiresAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    policy_expiry = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 899 <= (expires_at - before).total_seconds() <= 905
    assert abs((policy_expiry - expires_at).total_seconds()) <= 2


def test_presigned_post_uploads_through_a_real_form_post(storage_server: StorageService) -> None:
    key = storage_server.make_key(new_user(), "from-browser.png")
    post = storage_server.create_presigned_post(key, "image/png", 1024, 300)
    assert post["url"] == f"{storage_server.settings.s3_endpoint_url}/{storage_server.bucket}"

    body, content_type = multipart(post["fields"], "whatever.png", "image/png", PNG)
    request = urllib.request.Request(
        post["url"], data=body, method="POST", headers={"Content-Type": content_type}
    )
    with _http.open(request, timeout=10) as response:
        assert response.status in (200, 201, 204)

    assert storage_server.get(key) == PNG
    info = storage_server.head(key)
    assert info is not None and info.content_type == "image/png"


def test_presigned_put_signs_key_type_and_exact_length(storage_server: StorageService) -> None:
    key = storage_server.make_key(new_user(), "to-r2.png")
    before = datetime.now(UTC)
    put = storage_server.create_presigned_put(key, "image/png", len(PNG), 300)

    assert set(put) == {"method", "url", "headers", "expiresAt"} and put["method"] == "PUT"
    assert put["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(PNG))}
    parts = urllib.parse.urlsplit(put["url"])
    assert parts.path == f"/{storage_server.bucket}/{key}"
    query = urllib.parse.parse_qs(parts.query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["300"]
    expires_at = datetime.strptime(put["expiresAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert 299 <= (expires_at - before).total_seconds() <= 305

    request = urllib.request.Request(put["url"], data=PNG, method="PUT", headers=put["headers"])
    with _http.open(request, timeout=10) as response:
        assert response.status == 200
    assert storage_server.get(key) == PNG
    info = storage_server.head(key)
    assert info is not None and info.content_type == "image/png"


@pytest.mark.parametrize(
    ("content_type", "size", "expires_in"),
    [("", 10, 60), ("image/png\r\nX-Evil: 1", 10, 60), ("image/png", 0, 60), ("image/png", 10, 10**9)],
)
def test_presigned_put_refuses_bad_arguments(
    storage_moto: StorageService, content_type: str, size: int, expires_in: int
) -> None:
    with pytest.raises(ValueError):
        storage_moto.create_presigned_put("images/u/1-a.png", content_type, size, expires_in)


@pytest.mark.parametrize(
    ("content_type", "max_bytes", "expires_in"),
    [
        ("", 10, 60),
        ("image/png\r\nX-Evil: 1", 10, 60),
        ("image/png", 0, 60),
        ("image/png", 10, 0),
        ("image/png", 10, 10**9),
    ],
)
def test_presigned_post_refuses_bad_arguments(
    storage_moto: StorageService, content_type: str, max_bytes: int, expires_in: int
) -> None:
    with pytest.raises(ValueError):
        storage_moto.create_presigned_post("images/u/1-a.png", content_type, max_bytes, expires_in)


# ---- the client ----------------------------------------------------------------------------------


def test_client_is_built_once_and_carries_the_r2_settings(
    storage_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", "https://account.r2.cloudflarestorage.com")
    reset_settings()
    client = s3_client()
    assert s3_client() is client
    assert StorageService().client is client
    config: Any = client.meta.config  # the stubs do not know the newer options
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.signature_version == "s3v4"
    assert config.s3 is not None and config.s3["addressing_style"] == "path"
    assert client.meta.endpoint_url == "https://account.r2.cloudflarestorage.com"

    aws.reset_clients()
    assert s3_client() is not client
    monkeypatch.delenv("S3_ENDPOINT_URL")
    reset_settings()
    aws_config: Any = s3_client().meta.config
    assert aws_config.s3["addressing_style"] == "virtual"
    assert aws_config.request_checksum_calculation == "when_required"


def test_puts_carry_no_checksum_headers(storage_server: StorageService) -> None:
    """What R2 rejected: boto3's default CRC headers. With "when_required", a plain put sends none."""
    sent: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append({k.lower(): str(v) for k, v in request.headers.items()})

    storage_server.client.meta.events.register("before-send.s3.PutObject", capture)
    try:
        storage_server.put(f"images/{new_user()}/1-a.png", PNG, "image/png")
    finally:
        storage_server.client.meta.events.unregister("before-send.s3.PutObject", capture)
    assert sent
    assert not [h for h in sent[0] if h.startswith("x-amz-checksum") or h == "x-amz-sdk-checksum-algorithm"]
    assert "aws-chunked" not in sent[0].get("content-encoding", "")


# ---- errors never leak -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, ServiceUnavailable),
        ("InternalError", 500, ServiceUnavailable),
        ("ThrottlingException", 400, ServiceUnavailable),
        ("AccessDenied", 403, StorageError),
        ("NoSuchBucket", 404, StorageError),
        ("NoSuchKey", 404, NotFound),
    ],
)
def test_sdk_errors_become_domain_errors(
    storage_moto: StorageService, code: str, status: int, expected: type[Exception]
) -> None:
    with Stubber(storage_moto.client) as stubber:
        stubber.add_client_error(
            "get_object", service_error_code=code, service_message="secret AWS text", http_status_code=status
        )
        with pytest.raises(expected) as raised:
            storage_moto.get("images/u/1-a.png")
    assert "secret AWS text" not in str(raised.value)
    assert code not in str(raised.value)


def test_partial_delete_failures_are_reported(storage_moto: StorageService) -> None:
    with Stubber(storage_moto.client) as stubber:
        stubber.add_response(
            "delete_objects",
            {"Errors": [{"Key": "images/u/1-a.png", "Code": "AccessDenied", "Message": "no"}]},
        )
        stubber.add_response(
            "delete_objects", {"Errors": [{"Key": "images/u/1-a.png", "Code": "SlowDown", "Message": "slow"}]}
        )
        with pytest.raises(StorageError):
            storage_moto.delete("images/u/1-a.png")
        with pytest.raises(ServiceUnavailable):
            storage_moto.delete("images/u/1-a.png")


def test_a_missing_bucket_is_a_domain_error(storage_moto: StorageService) -> None:
    elsewhere = StorageService(replace(storage_moto.settings, bucket_name=f"absent-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(StorageError):
        elsewhere.put("images/u/1-a.png", PNG, "image/png")


def test_an_unreachable_endpoint_is_service_unavailable(storage_env: str) -> None:
    import boto3
    from botocore.config import Config

    endpoint = "http://127.0.0.1:9"  # the discard port: nothing listens there
    options = {**client_options(endpoint), "retries": {"mode": "standard", "max_attempts": 1}}
    config = Config(**{**options, "connect_timeout": 1})
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=config
    )
    storage = StorageService(client=client)
    with pytest.raises(ServiceUnavailable):
        storage.get("images/u/1-a.png")
    with pytest.raises(ServiceUnavailable):
        storage.put("images/u/1-a.png", PNG, "image/png")
