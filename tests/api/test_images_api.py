"""Every /images route and its error codes, through the real handler, on the emulator."""

from __future__ import annotations

import io
import json
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from PIL import Image as PILImage

from tests.api.conftest import Env


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def _ledger(app: Env, token: str) -> list[dict[str, Any]]:
    return app.api.call("GET", "/me/ledger", token=token, query={"limit": "100"}).json["items"]


# ---- generate ---------------------------------------------------------------------------------
def test_generate_takes_coins_with_the_image_and_completes_with_a_thumbnail(app: Env) -> None:
    user, token = app.user(coins=120)
    reply = app.api.call(
        "POST",
        "/images/generate",
        token=token,
        body={"prompt": "a lighthouse at dusk", "width": 512, "height": 256},
    )
    assert reply.status == 202, reply.raw
    image = reply.json
    assert (image["status"], image["type"], image["coinsUsed"]) == ("PENDING", "GENERATED", 50)
    assert image["storageKey"].startswith(f"images/{user.id}/") and image["storageUrl"]
    assert app.api.call("GET", "/me", token=token).json["coins"] == 70
    entries = _ledger(app, token)
    assert [(e["amount"], e["reason"], e["balanceAfter"], e["imageId"]) for e in entries] == [
        (-50, "image_generation", 70, image["id"]),
        (120, "signup_bonus", 120, None),
    ]

    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"]) == (512, 256)
    assert (
        done["thumbnailKey"].startswith(f"thumbnails/{image['id']}/") and user.id not in done["thumbnailKey"]
    )
    assert done["metadata"]["previewKey"].startswith(f"thumbnails/{image['id']}/")
    assert done["thumbnailUrl"].endswith(done["thumbnailKey"])
    stored = boto3.client("s3").get_object(Bucket=app.bucket, Key=done["thumbnailKey"])
    assert stored["ContentType"] == "image/webp"
    thumb = PILImage.open(io.BytesIO(stored["Body"].read()))
    assert thumb.format == "WEBP" and max(thumb.size) == 256
    assert app.api.call("GET", "/me/stats", token=token).json == {
        "totalImages": 1,
        "generatedImages": 1,
        "uploadedImages": 0,
        "totalCoinsUsed": 50,
    }


def test_generate_without_enough_coins_is_402_and_creates_nothing(app: Env) -> None:
    _, token = app.user(coins=49)
    body = app.api.call("POST", "/images/generate", token=token, body={"prompt": "x"}).problem(
        402, "insufficient_coins"
    )
    assert (body["required"], body["available"]) == (50, 49)
    assert app.api.call("GET", "/images", token=token).json == {"items": [], "nextCursor": None}
    assert app.api.call("GET", "/me", token=token).json["coins"] == 49
    assert len(_ledger(app, token)) == 1
    app.pipeline.drain()
    assert app.pipeline.invocations == []


def test_generate_validation(app: Env) -> None:
    _, token = app.user()
    cases: list[tuple[Any, str]] = [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 1001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "ok", "width": 100}, "width"),
        ({"prompt": "ok", "height": 1000}, "height"),
        ({"prompt": "ok", "width": 512.5}, "width"),
        ({"prompt": "ok", "width": True}, "width"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "ok", "colour": "red"}, "colour"),
        ({"prompt": "bad\x00byte"}, "prompt"),
    ]
    for body, field in cases:
        problem = app.api.call("POST", "/images/generate", token=token, body=body).problem(
            422, "validation_error"
        )
        assert field in [e["field"] for e in problem["errors"]], (body, problem)
    app.api.call("POST", "/images/generate", token=token, raw_body="{not json").problem(400, "invalid_json")
    app.api.call("POST", "/images/generate", token=token, raw_body="").problem(400, "invalid_json")
    app.api.call("POST", "/images/generate", token=token, body=["a"]).problem(422, "validation_error")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100


def test_generate_is_rate_limited_with_retry_after(app: Env, configure: Any) -> None:
    configure(RATE_LIMIT_GENERATE_PER_MINUTE="2", GENERATION_COST="1")
    _, token = app.user()
    for _ in range(2):
        assert app.api.call("POST", "/images/generate", token=token, body={"prompt": "x"}).status == 202
    reply = app.api.call("POST", "/images/generate", token=token, body={"prompt": "x"})
    reply.problem(429, "rate_limited")
    assert 1 <= int(reply.headers["Retry-After"]) <= 61
    assert app.api.call("GET", "/me", token=token).json["coins"] == 98


def test_idempotency_key_replays_the_first_response_and_charges_once(app: Env) -> None:
    _, token = app.user(coins=200)
    headers = {"Idempotency-Key": "key-123"}
    first = app.api.call("POST", "/images/generate", token=token, body={"prompt": "same"}, headers=headers)
    second = app.api.call("POST", "/images/generate", token=token, body={"prompt": "same"}, headers=headers)
    assert first.status == second.status == 202
    assert first.json == second.json
    assert app.api.call("GET", "/me", token=token).json["coins"] == 150
    other = app.api.call("POST", "/images/generate", token=token, body={"prompt": "other"}, headers=headers)
    other.problem(409, "idempotency_key_reused")
    app.api.call(
        "POST",
        "/images/generate",
        token=token,
        body={"prompt": "x"},
        headers={"Idempotency-Key": "bad key with spaces"},
    ).problem(422, "validation_error")
    assert len(app.api.call("GET", "/images", token=token).json["items"]) == 1


def test_idempotency_keys_are_per_user(app: Env) -> None:
    _, alice = app.user()
    _, bob = app.user()
    headers = {"Idempotency-Key": "shared"}
    a = app.api.call("POST", "/images/generate", token=alice, body={"prompt": "p"}, headers=headers)
    b = app.api.call("POST", "/images/generate", token=bob, body={"prompt": "p"}, headers=headers)
    assert a.status == b.status == 202 and a.json["id"] != b.json["id"]


def test_permanent_provider_failure_ends_failed_with_one_refund(app: Env) -> None:
    _, token = app.user(coins=100)
    image = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "please [[fail:permanent]]"}
    ).json
    app.pipeline.drain()
    failed = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert failed["status"] == "FAILED" and failed["failureReason"] == "provider_rejected"
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100
    reasons = [e["reason"] for e in _ledger(app, token)]
    assert reasons == ["refund", "image_generation", "signup_bonus"]
    assert app.api.call("GET", "/me/stats", token=token).json["totalCoinsUsed"] == 0


def test_transient_failures_retry_then_dead_letter_refunds_exactly_once(app: Env) -> None:
    _, token = app.user(coins=100)
    image = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "flaky [[fail:transient]]"}
    ).json
    app.pipeline.drain()
    generator_runs = [i for i in app.pipeline.invocations if i[0] == "generator"]
    assert len(generator_runs) == 3 and all(failed == 1 for _, _, failed in generator_runs)
    failed = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "generation_failed")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100
    # The dead letter delivered again changes nothing.
    from imagegen.queues import GenerationRequest

    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=app.queues.generation_dlq,
        MessageBody=json.dumps(GenerationRequest(image["id"], failed["userId"], "x", 256, 256).__dict__),
    )
    app.pipeline.drain()
    assert [e["reason"] for e in _ledger(app, token)].count("refund") == 1
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100


def test_redelivered_generation_message_never_charges_or_refunds_twice(app: Env) -> None:
    _, token = app.user(coins=100)
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "twice"}).json
    got = boto3.client("sqs").receive_message(QueueUrl=app.queues.generation, VisibilityTimeout=0)
    body = got["Messages"][0]["Body"]
    app.pipeline.drain()
    boto3.client("sqs").send_message(QueueUrl=app.queues.generation, MessageBody=body)
    app.pipeline.drain()
    assert app.api.call("GET", f"/images/{image['id']}", token=token).json["status"] == "COMPLETED"
    assert app.api.call("GET", "/me", token=token).json["coins"] == 50
    assert len(_ledger(app, token)) == 2


# ---- uploads ------------------------------------------------------------------------------------
def _post_form(url: str, fields: dict[str, str], data: bytes, content_type: str) -> int:
    boundary = "----imagegen-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url,
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request) as response:
        return int(response.status)


def test_uploads_are_rate_limited_and_capped_while_pending(app: Env, configure: Any) -> None:
    configure(MAX_PENDING_UPLOADS="2", RATE_LIMIT_UPLOAD_PER_MINUTE="3")
    user, token = app.user(coins=0)

    def upload(name: str) -> Any:
        body = {"filename": name, "contentType": "image/png", "size": 2000}
        return app.api.call("POST", "/images/uploads", token=token, body=body)

    first = upload("one.png")
    assert first.status == 201 and upload("two.png").status == 201
    capped = upload("three.png")
    capped.problem(429, "rate_limited")
    assert int(capped.headers["Retry-After"]) == 60
    assert app.api.call("GET", "/me/stats", token=token).json["uploadedImages"] == 2
    # A posted file leaves PENDING and frees its slot; the fourth request of the minute is too many.
    upload_form = first.json["upload"]
    assert _post_form(upload_form["url"], upload_form["fields"], _png(64, 48), "image/png") in (200, 201, 204)
    app.pipeline.drain()
    assert (
        app.api.call("GET", f"/images/{first.json['image']['id']}", token=token).json["status"] == "COMPLETED"
    )
    limited = upload("four.png")
    limited.problem(429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    configure(RATE_LIMIT_UPLOAD_PER_MINUTE="30")
    assert upload("five.png").status == 201
    assert app.api.call("GET", "/me/stats", token=token).json["uploadedImages"] == 3
    assert user.id


def test_upload_through_presigned_post_completes(app: Env) -> None:
    user, token = app.user(coins=0)
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "../My Holiday.PNG", "contentType": "image/png", "size": 2000},
    )
    assert reply.status == 201, reply.raw
    image, upload = reply.json["image"], reply.json["upload"]
    assert (image["status"], image["type"], image["coinsUsed"]) == ("PENDING", "UPLOADED", 0)
    assert image["storageKey"].startswith(f"images/{user.id}/") and image["storageKey"].endswith(
        "-my-holiday.png"
    )
    assert upload["fields"]["key"] == image["storageKey"] and upload["expiresAt"].endswith("Z")
    assert upload["method"] == "POST"  # the default
    assert _post_form(upload["url"], upload["fields"], _png(300, 200), "image/png") in (200, 201, 204)
    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"], done["metadata"]["format"]) == (
        300,
        200,
        "png",
    )
    assert done["metadata"]["previewUrl"] and done["metadata"]["placeholder"]
    assert app.api.call("GET", "/me/stats", token=token).json["uploadedImages"] == 1


def test_upload_by_presigned_put_completes(app: Env, configure: Any) -> None:
    """UPLOAD_METHOD=PUT (Cloudflare R2): a PUT signed for the key, the type and the declared size."""
    configure(UPLOAD_METHOD="PUT")
    _, token = app.user(coins=0)
    data = _png(120, 80)
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "r2.png", "contentType": "image/png", "size": len(data)},
    )
    assert reply.status == 201, reply.raw
    image, upload = reply.json["image"], reply.json["upload"]
    assert set(upload) == {"method", "url", "headers", "expiresAt"} and upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(data))}
    assert f"/{image['storageKey']}?" in upload["url"]
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in upload["url"]
    request = urllib.request.Request(upload["url"], data=data, method="PUT", headers=upload["headers"])
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"]) == (120, 80)


def test_an_unknown_upload_method_is_a_configuration_error(app: Env, configure: Any) -> None:
    from imagegen.settings import Settings

    configure(UPLOAD_METHOD="put")  # any case
    assert Settings().upload_method == "PUT"
    configure(UPLOAD_METHOD="PATCH")
    with pytest.raises(ValueError, match="UPLOAD_METHOD"):
        Settings()


def test_upload_of_text_named_png_ends_failed_and_deleted_with_refund(app: Env, configure: Any) -> None:
    configure(UPLOAD_COST="5")
    _, token = app.user(coins=10)
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "evil.png", "contentType": "image/png", "size": 20},
    )
    image, upload = reply.json["image"], reply.json["upload"]
    assert app.api.call("GET", "/me", token=token).json["coins"] == 5
    _post_form(upload["url"], upload["fields"], b"<html>not an image</html>", "image/png")
    app.pipeline.drain()
    failed = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "not_an_image")
    assert image["storageKey"] not in app.objects()
    assert app.api.call("GET", "/me", token=token).json["coins"] == 10


def test_upload_validation(app: Env) -> None:
    _, token = app.user()
    base = {"filename": "a.png", "contentType": "image/png", "size": 10}
    for change, field in [
        ({"contentType": "image/svg+xml"}, "contentType"),
        ({"size": 10 * 1024 * 1024 + 1}, "size"),
        ({"size": 0}, "size"),
        ({"filename": ""}, "filename"),
        ({"size": "10"}, "size"),
    ]:
        problem = app.api.call("POST", "/images/uploads", token=token, body={**base, **change}).problem(
            422, "validation_error"
        )
        assert field in [e["field"] for e in problem["errors"]]
    assert app.api.call("GET", "/images", token=token).json["items"] == []


# ---- list, read, edit, delete, download --------------------------------------------------------
def test_list_pages_newest_first_with_filters_and_cursors(app: Env, configure: Any) -> None:
    configure(GENERATION_COST="1", RATE_LIMIT_GENERATE_PER_MINUTE="100")
    _, token = app.user(coins=100)
    ids = [
        app.api.call("POST", "/images/generate", token=token, body={"prompt": f"p{i}"}).json["id"]
        for i in range(5)
    ]
    app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "a.png", "contentType": "image/png", "size": 10},
    )
    first = app.api.call("GET", "/images", token=token, query={"limit": "2", "type": "GENERATED"}).json
    assert [i["id"] for i in first["items"]] == ids[::-1][:2] and first["nextCursor"]
    seen = [i["id"] for i in first["items"]]
    cursor = first["nextCursor"]
    while cursor:
        page = app.api.call(
            "GET", "/images", token=token, query={"limit": "2", "type": "GENERATED", "cursor": cursor}
        ).json
        seen += [i["id"] for i in page["items"]]
        cursor = page["nextCursor"]
    assert seen == ids[::-1]
    uploaded = app.api.call("GET", "/images", token=token, query={"type": "UPLOADED"}).json["items"]
    assert [i["type"] for i in uploaded] == ["UPLOADED"]
    pending = app.api.call("GET", "/images", token=token, query={"status": "PENDING"}).json["items"]
    assert len(pending) == 6
    app.api.call("GET", "/images", token=token, query={"limit": "0"}).problem(422, "validation_error")
    app.api.call("GET", "/images", token=token, query={"limit": "101"}).problem(422, "validation_error")
    for bad in ("BOTH", "", "uploaded"):
        app.api.call("GET", "/images", token=token, query={"type": bad}).problem(422, "validation_error")
    app.api.call("GET", "/images", token=token, query={"cursor": "forged"}).problem(400, "invalid_cursor")
    tampered = first["nextCursor"][:-3] + ("AAA" if not first["nextCursor"].endswith("AAA") else "BBB")
    app.api.call("GET", "/images", token=token, query={"cursor": tampered}).problem(400, "invalid_cursor")
    _, other = app.user()
    app.api.call("GET", "/images", token=other, query={"cursor": first["nextCursor"]}).problem(
        400, "invalid_cursor"
    )


def test_someone_elses_image_is_not_found_everywhere(app: Env) -> None:
    _, owner = app.user()
    _, stranger = app.user()
    image_id = app.api.call("POST", "/images/generate", token=owner, body={"prompt": "mine"}).json["id"]
    app.api.call("GET", f"/images/{image_id}", token=stranger).problem(404, "not_found")
    app.api.call("PATCH", f"/images/{image_id}", token=stranger, body={"title": "x"}).problem(
        404, "not_found"
    )
    app.api.call("DELETE", f"/images/{image_id}", token=stranger).problem(404, "not_found")
    app.api.call("GET", f"/images/{image_id}/download", token=stranger).problem(404, "not_found")
    app.api.call("GET", "/images/does-not-exist", token=owner).problem(404, "not_found")
    assert app.api.call("GET", f"/images/{image_id}", token=owner).status == 200


def test_patch_title_and_description(app: Env) -> None:
    _, token = app.user()
    image_id = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "p", "description": "old"}
    ).json["id"]
    updated = app.api.call(
        "PATCH", f"/images/{image_id}", token=token, body={"title": "  Café 🌅 <b>  ", "description": None}
    ).json
    assert (updated["title"], updated["description"]) == ("Café 🌅 <b>", None)
    app.api.call("PATCH", f"/images/{image_id}", token=token, body={"title": ""}).problem(
        422, "validation_error"
    )
    app.api.call("PATCH", f"/images/{image_id}", token=token, body={"owner": "x"}).problem(
        422, "validation_error"
    )
    assert app.api.call("GET", f"/images/{image_id}", token=token).json["title"] == "Café 🌅 <b>"


def test_delete_removes_record_original_and_renditions(app: Env) -> None:
    user, token = app.user()
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "gone soon"}).json
    app.pipeline.drain()
    assert len(app.objects("thumbnails/")) == 2
    assert app.api.call("DELETE", f"/images/{image['id']}", token=token).status == 204
    app.api.call("GET", f"/images/{image['id']}", token=token).problem(404, "not_found")
    assert app.objects(f"images/{user.id}/") == [] and app.objects("thumbnails/") == []
    assert app.api.call("GET", "/me/stats", token=token).json["totalImages"] == 0
    app.api.call("DELETE", f"/images/{image['id']}", token=token).problem(404, "not_found")


def test_download_redirects_to_a_signed_url_once_completed(app: Env) -> None:
    _, token = app.user()
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "dl"}).json
    app.api.call("GET", f"/images/{image['id']}/download", token=token).problem(409, "image_not_ready")
    app.pipeline.drain()
    reply = app.api.call("GET", f"/images/{image['id']}/download", token=token)
    assert reply.status == 302
    location = reply.headers["Location"]
    assert "X-Amz-Signature" in location and "X-Amz-Expires=300" in location
    with urllib.request.urlopen(location) as response:
        assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_download_is_named_after_the_title_and_typed_by_the_detected_format(app: Env) -> None:
    _, token = app.user()
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "a fox at dawn"}).json
    app.pipeline.drain()
    title = 'Renard «Été» "au/ciel"'
    app.api.call("PATCH", f"/images/{image['id']}", token=token, body={"title": title})
    location = app.api.call("GET", f"/images/{image['id']}/download", token=token).headers["Location"]
    query = parse_qs(urlsplit(location).query)
    # The title, not the prompt the storage key was made from; the extension and the type from the
    # format the thumbnailer detected.
    assert query["response-content-disposition"] == [
        'attachment; filename="Renard -Ete- -au-ciel-.png"; '
        "filename*=UTF-8''Renard%20%C2%AB%C3%89t%C3%A9%C2%BB%20%22au-ciel%22.png"
    ]
    assert query["response-content-type"] == ["image/png"]
    with urllib.request.urlopen(location) as response:
        assert response.headers["Content-Disposition"] == query["response-content-disposition"][0]
        assert response.headers["Content-Type"] == "image/png"
