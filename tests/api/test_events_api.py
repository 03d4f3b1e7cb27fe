"""The event consumers through their real handlers: thumbnailer, coin ledger, sweeper."""

from __future__ import annotations

import io
import json
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image as PILImage

from tests.api.conftest import Env, LambdaContext, handler

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _photo(width: int, height: int) -> PILImage.Image:
    """Photo-like content: gradients in three channels, not a flat colour."""
    r = PILImage.linear_gradient("L").resize((width, height))
    g = PILImage.radial_gradient("L").resize((width, height))
    b = r.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)
    return PILImage.merge("RGB", (r, g, b))


def _encode(image: PILImage.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _jpeg_orientation_6() -> bytes:
    image = _photo(400, 200)
    exif = PILImage.Exif()
    exif[0x0112] = 6
    return _encode(image, "JPEG", exif=exif.tobytes())


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _upload(app: Env, token: str, filename: str, content_type: str, data: bytes) -> dict[str, Any]:
    """Create the upload's record through the API and store the bytes as the presigned POST would."""
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": filename, "contentType": content_type, "size": max(1, len(data))},
    )
    assert reply.status == 201, reply.raw
    image: dict[str, Any] = reply.json["image"]
    boto3.client("s3").put_object(
        Bucket=app.bucket, Key=image["storageKey"], Body=data, ContentType=content_type
    )
    return image


def _get(app: Env, token: str, image_id: str) -> dict[str, Any]:
    body: dict[str, Any] = app.api.call("GET", f"/images/{image_id}", token=token).json
    return body


GOOD = [
    ("photo.jpg", "image/jpeg", _jpeg_orientation_6, (200, 400, "jpeg")),
    ("alpha.png", "image/png", lambda: _encode(_photo(320, 240).convert("RGBA"), "PNG"), (320, 240, "png")),
    ("pic.webp", "image/webp", lambda: _encode(_photo(300, 300), "WEBP"), (300, 300, "webp")),
    (
        "anim.gif",
        "image/gif",
        lambda: _encode(
            _photo(120, 90).convert("P"),
            "GIF",
            save_all=True,
            append_images=[_photo(120, 90).rotate(90).convert("P")],
        ),
        (120, 90, "gif"),
    ),
    (
        "large.jpg",
        "image/jpeg",
        lambda: _encode(_photo(8000, 6000), "JPEG", quality=70),
        (8000, 6000, "jpeg"),
    ),
]


@pytest.mark.parametrize(("filename", "content_type", "make", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_real_images_complete_with_renditions(
    app: Env, filename: str, content_type: str, make: Any, expected: tuple[int, int, str]
) -> None:
    _user, token = app.user()
    image = _upload(app, token, filename, content_type, make())
    app.pipeline.drain()
    done = _get(app, token, image["id"])
    assert done["status"] == "COMPLETED", done
    meta = done["metadata"]
    assert (meta["width"], meta["height"], meta["format"]) == expected
    s3 = boto3.client("s3")
    thumb = PILImage.open(
        io.BytesIO(s3.get_object(Bucket=app.bucket, Key=done["thumbnailKey"])["Body"].read())
    )
    preview = PILImage.open(
        io.BytesIO(s3.get_object(Bucket=app.bucket, Key=meta["previewKey"])["Body"].read())
    )
    assert max(thumb.size) == min(256, max(expected[:2])) and max(preview.size) <= 1024
    # Orientation applied: the renditions have the displayed aspect ratio.
    assert (thumb.size[0] > thumb.size[1]) == (expected[0] > expected[1])
    assert "exif" not in thumb.info


BAD = [
    ("trunc.jpg", "image/jpeg", lambda: _encode(_photo(400, 300), "JPEG")[:600], "not_an_image"),
    ("text.jpg", "image/jpeg", lambda: b"hello, I am a text file\n" * 10, "not_an_image"),
    ("empty.png", "image/png", lambda: b"", "not_an_image"),
    ("page.png", "image/png", lambda: b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not_an_image"),
    ("bomb.png", "image/png", lambda: _png_claiming(30000, 30000), "decompression_bomb"),
    ("bitmap.png", "image/png", lambda: _encode(_photo(50, 50), "BMP"), "unsupported_format"),
]


@pytest.mark.parametrize(("filename", "content_type", "make", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_content_fails_deletes_the_object_and_refunds(
    app: Env, configure: Any, filename: str, content_type: str, make: Any, reason: str
) -> None:
    configure(UPLOAD_COST="3")
    user, token = app.user(coins=10)
    image = _upload(app, token, filename, content_type, make())
    assert app.api.call("GET", "/me", token=token).json["coins"] == 7
    app.pipeline.drain()
    failed = _get(app, token, image["id"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", reason)
    assert app.objects(f"images/{user.id}/") == [] and app.objects("thumbnails/") == []
    assert app.api.call("GET", "/me", token=token).json["coins"] == 10


def test_object_larger_than_the_limit_is_refused_before_download(app: Env, configure: Any) -> None:
    configure(MAX_UPLOAD_BYTES="5000")
    _, token = app.user()
    image = _upload(app, token, "big.png", "image/png", b"\x89PNG" + b"\x00" * 4000)
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=b"\x00" * 6000)
    app.pipeline.drain()
    assert _get(app, token, image["id"])["failureReason"] == "too_large"


def _thumbnail_event(app: Env, key: str, size: int) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "thumbnailer" / "s3-put.json").read_text())
    event["Records"][0]["s3"]["object"].update(key=key.replace(" ", "+"), size=size)
    event["Records"][0]["s3"]["bucket"]["name"] = app.bucket
    return event


def test_duplicate_and_out_of_order_events_do_nothing_twice(app: Env) -> None:
    _user, token = app.user()
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "a.png", "contentType": "image/png", "size": 100},
    )
    image = reply.json["image"]
    thumbnailer = handler("thumbnailer")
    # The event arrives before the object (out of order): nothing happens, nothing breaks.
    thumbnailer(_thumbnail_event(app, image["storageKey"], 100), LambdaContext())
    assert _get(app, token, image["id"])["status"] == "PENDING"
    data = _encode(_photo(64, 64), "PNG")
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data)
    app.pipeline.drain()
    done = _get(app, token, image["id"])
    thumbnailer(_thumbnail_event(app, image["storageKey"], len(data)), LambdaContext())
    assert _get(app, token, image["id"]) == done
    assert len(app.objects("thumbnails/")) == 2


def test_event_for_a_deleted_image_cleans_up_after_itself(app: Env) -> None:
    user, token = app.user()
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "late.png", "contentType": "image/png", "size": 100},
    )
    image = reply.json["image"]
    assert app.api.call("DELETE", f"/images/{image['id']}", token=token).status == 204
    boto3.client("s3").put_object(
        Bucket=app.bucket, Key=image["storageKey"], Body=_encode(_photo(32, 32), "PNG")
    )
    app.pipeline.drain()
    assert app.objects(f"images/{user.id}/") == [] and app.objects("thumbnails/") == []


def test_keys_outside_the_originals_prefix_are_refused(app: Env) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=app.bucket, Key="thumbnails/u/x-256.webp", Body=b"x")
    result = handler("thumbnailer")(_thumbnail_event(app, "thumbnails/u/x-256.webp", 1), LambdaContext())
    assert result == {"status": "ok"}
    assert app.objects("thumbnails/") == ["thumbnails/u/x-256.webp"]


@pytest.mark.parametrize("shape", ["r2", "eventbridge", "direct"])
def test_other_event_shapes_complete_the_image(app: Env, shape: str) -> None:
    _, token = app.user()
    reply = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "my photo.png", "contentType": "image/png", "size": 100},
    )
    image = reply.json["image"]
    data = _encode(_photo(64, 40), "PNG")
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data)
    # Drop the bucket's own notification: this test delivers the event itself.
    boto3.client("sqs").purge_queue(QueueUrl=app.queues.thumbnails)
    key = image["storageKey"]
    if shape == "r2":
        event = json.loads((EVENTS / "thumbnailer" / "r2-put.json").read_text())
        body = json.loads(event["Records"][0]["body"])
        body["object"].update(key=key, size=len(data))
        event["Records"][0]["body"] = json.dumps(body)
    elif shape == "eventbridge":
        event = json.loads((EVENTS / "thumbnailer" / "eventbridge-object-created.json").read_text())
        event["detail"]["object"].update(key=key, size=len(data))
    else:
        event = _thumbnail_event(app, key, len(data))
    result = handler("thumbnailer")(event, LambdaContext())
    assert result in ({"status": "ok"}, {"batchItemFailures": []})
    assert _get(app, token, image["id"])["status"] == "COMPLETED"


# ---- coin ledger ------------------------------------------------------------------------------
def _ledger_event(*bodies: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "coin_ledger" / "sqs-grant.json").read_text())
    template = event["Records"][0]
    event["Records"] = [
        {**template, "messageId": f"m-{i}", "body": b if isinstance(b, str) else json.dumps(b)}
        for i, b in enumerate(bodies)
    ]
    return event


def test_grant_commands_are_idempotent(app: Env) -> None:
    user, token = app.user(coins=0)
    grant = {
        "kind": "ledger_command",
        "command": "grant",
        "key": "grant:once",
        "user_id": user.id,
        "amount": 30,
        "reason": "admin_grant",
        "note": "promo",
    }
    ledger = handler("coin_ledger")
    assert ledger(_ledger_event(grant, grant), LambdaContext()) == {"batchItemFailures": []}
    assert ledger(_ledger_event(grant), LambdaContext()) == {"batchItemFailures": []}
    assert app.api.call("GET", "/me", token=token).json["coins"] == 30


def test_refund_command_fails_the_image_once(app: Env) -> None:
    _, token = app.user(coins=100)
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "p"}).json
    refund = {
        "kind": "ledger_command",
        "command": "refund_image",
        "key": f"refund:{image['id']}",
        "image_id": image["id"],
        "reason": "provider_rejected",
    }
    ledger = handler("coin_ledger")
    ledger(_ledger_event(refund), LambdaContext())
    ledger(_ledger_event(refund), LambdaContext())
    assert _get(app, token, image["id"])["status"] == "FAILED"
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100


def test_poison_and_invalid_messages(app: Env) -> None:
    ledger = handler("coin_ledger")
    # Unreadable: dropped (retrying cannot fix it). A command for a missing user: retried.
    result = ledger(
        _ledger_event(
            "{not json",
            {"kind": "ledger_command", "command": "grant", "key": "k", "user_id": "missing", "amount": 5},
        ),
        LambdaContext(),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


# ---- sweeper ----------------------------------------------------------------------------------
def test_sweeper_fails_stuck_images_with_refunds_and_removes_orphans(app: Env) -> None:
    from imagegen.bootstrap import sweeper

    user, token = app.user(coins=100)
    image = app.api.call("POST", "/images/generate", token=token, body={"prompt": "stuck"}).json
    upload = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "never.png", "contentType": "image/png", "size": 10},
    ).json["image"]
    orphan = f"images/{user.id}/1-orphan.png"
    boto3.client("s3").put_object(Bucket=app.bucket, Key=orphan, Body=b"x")
    boto3.client("sqs").purge_queue(QueueUrl=app.queues.thumbnails)
    assert sweeper(app.ctx).run() == {
        "failed": 0,
        "errors": 0,
        "left": 0,
        "erased": 0,
        "orphans": 0,
    }  # nothing is old enough yet
    later = datetime.now(UTC) + timedelta(hours=2)
    assert sweeper(app.ctx).run(now=later) == {"failed": 2, "errors": 0, "left": 0, "erased": 0, "orphans": 1}
    assert _get(app, token, image["id"])["failureReason"] == "timed_out"
    assert _get(app, token, upload["id"])["failureReason"] == "upload_expired"
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100
    assert orphan not in app.objects()
    assert sweeper(app.ctx).run(now=later) == {"failed": 0, "errors": 0, "left": 0, "erased": 0, "orphans": 0}
    scheduled = json.loads((EVENTS / "sweeper" / "scheduled.json").read_text())
    assert handler("sweeper")(scheduled, LambdaContext()) == {
        "failed": 0,
        "errors": 0,
        "left": 0,
        "erased": 0,
        "orphans": 0,
        "exports_failed": 0,  # the scheduled run also sweeps exports
        "exports_removed": 0,
        "export_errors": 0,
    }


def test_sweeper_resumes_the_orphan_scan_where_it_stopped(app: Env) -> None:
    from imagegen.bootstrap import sweeper

    user, _ = app.user()
    s3 = boto3.client("s3")
    orphans = [f"images/{user.id}/{i}-orphan.png" for i in range(5)]
    for key in orphans:
        s3.put_object(Bucket=app.bucket, Key=key, Body=b"x")
    boto3.client("sqs").purge_queue(QueueUrl=app.queues.thumbnails)
    later = datetime.now(UTC) + timedelta(hours=2)
    removed = [sweeper(app.ctx).run(now=later, max_objects=2)["orphans"] for _ in range(4)]
    assert removed == [2, 2, 1, 0]
    assert app.objects("images/") == []
