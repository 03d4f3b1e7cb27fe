"""Exports through the real handlers on the emulator: the routes, the exporter from its queue, the dead-letter
path through the coin ledger, the sweeper's removal and account erasure."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from PIL import Image as PILImage

from tests.api.conftest import Env

PNG_SIDE = 300


def _png(seed: int) -> bytes:
    image = PILImage.radial_gradient("L").resize((PNG_SIDE, PNG_SIDE)).point(lambda v: (v + seed * 37) % 256)
    out = io.BytesIO()
    PILImage.merge("RGB", (image, image.rotate(90), image.rotate(180))).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def queues(app: Env, configure: Callable[..., None]) -> tuple[str, str]:
    """The export queue and its dead-letter queue (three receives), wired as template.yaml does."""
    sqs = boto3.client("sqs")
    suffix = app.bucket.rsplit("-", 1)[-1]
    dlq = sqs.create_queue(QueueName=f"export-dlq-{suffix}", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"export-{suffix}",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    configure(EXPORT_QUEUE_URL=queue)
    return queue, dlq


def _images(app: Env, token: str, titles: list[str]) -> list[dict[str, Any]]:
    made = []
    for n, title in enumerate(titles):
        data = _png(n)
        reply = app.api.call(
            "POST",
            "/images/uploads",
            token=token,
            body={"filename": f"f{n}.png", "contentType": "image/png", "size": len(data), "title": title},
        )
        assert reply.status == 201, reply.raw
        image = reply.json["image"]
        boto3.client("s3").put_object(
            Bucket=app.bucket, Key=image["storageKey"], Body=data, ContentType="image/png"
        )
        made.append({**image, "bytes": data})
    app.pipeline.drain()
    for image in made:
        assert app.api.call("GET", f"/images/{image['id']}", token=token).json["status"] == "COMPLETED"
    return made


def _multipart_uploads(app: Env) -> list[Any]:
    return list(boto3.client("s3").list_multipart_uploads(Bucket=app.bucket).get("Uploads", []))


def test_an_export_is_built_streamed_and_downloaded(app: Env, queues: tuple[str, str]) -> None:
    queue, _ = queues
    _user, token = app.user()
    _other, other_token = app.user()
    mine = _images(app, token, ["Sunset", "sunset", "a/b: c"])
    (theirs,) = _images(app, other_token, ["Theirs"])
    reply = app.api.call(
        "POST", "/exports", token=token, body={"imageIds": [i["id"] for i in mine] + [theirs["id"], "nope"]}
    )
    assert reply.status == 202, reply.raw
    export = reply.json
    assert export["status"] == "PENDING"
    assert (export["imageCount"], export["missingCount"], export["downloadUrl"]) == (3, 2, None)
    assert set(export) >= {"id", "sizeBytes", "expiresAt", "createdAt"}
    assert app.api.call("GET", f"/exports/{export['id']}", token=other_token).problem(404, "not_found")

    assert app.pipeline.deliver(queue, "exporter") == 1
    done = app.api.call("GET", f"/exports/{export['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    assert (done["imageCount"], done["missingCount"]) == (3, 2)
    (key,) = app.objects("exports/")
    assert key.endswith(f"/{export['id']}.zip")
    assert done["sizeBytes"] == boto3.client("s3").head_object(Bucket=app.bucket, Key=key)["ContentLength"]
    # exports/ is outside the notification's prefix: nothing reached the thumbnail queue.
    waiting = boto3.client("sqs").get_queue_attributes(
        QueueUrl=app.queues.thumbnails, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "0"

    with urllib.request.urlopen(done["downloadUrl"]) as response:
        disposition = response.headers["Content-Disposition"]
        assert response.headers["Content-Type"] == "application/zip"
        body = response.read()
    assert disposition.startswith('attachment; filename="images-') and '.zip"' in disposition
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.namelist() == ["Sunset.png", "sunset (2).png", "a-b- c.png"]
    assert [archive.read(n) for n in archive.namelist()] == [i["bytes"] for i in mine]

    listed = app.api.call("GET", "/exports", token=token, query={"limit": "5"}).json
    assert [e["id"] for e in listed["items"]] == [export["id"]] and listed["nextCursor"] is None
    assert app.api.call("GET", "/exports", token=other_token).json["items"] == []
    assert _multipart_uploads(app) == []


def test_bad_requests_are_contract_errors(
    app: Env, queues: tuple[str, str], configure: Callable[..., None]
) -> None:
    _user, token = app.user()
    (image,) = _images(app, token, ["One"])
    for body in ({}, {"imageIds": [image["id"]], "collectionId": "c"}, {"imageIds": []}, {"imageIds": "x"}):
        app.api.call("POST", "/exports", token=token, body=body).problem(422, "validation_error")
    # A collection that is not the caller's (or does not exist) is not found, like an image.
    app.api.call("POST", "/exports", token=token, body={"collectionId": "c1"}).problem(404, "not_found")
    app.api.call("POST", "/exports", token=token, body={"imageIds": ["missing"]}).problem(404, "not_found")
    app.api.call("POST", "/exports", body={"imageIds": [image["id"]]}).problem(401, "unauthorized")
    app.api.call("POST", "/exports", token=token, raw_body="{").problem(400, "invalid_json")
    app.api.call("GET", "/exports/nope", token=token).problem(404, "not_found")
    app.api.call("GET", "/exports", token=token, query={"cursor": "forged"}).problem(400, "invalid_cursor")

    configure(MAX_ACTIVE_EXPORTS="1")
    assert app.api.call("POST", "/exports", token=token, body={"imageIds": [image["id"]]}).status == 202
    limited = app.api.call("POST", "/exports", token=token, body={"imageIds": [image["id"]]})
    limited.problem(429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0


def test_a_failing_export_aborts_its_upload_and_ends_failed_from_the_dead_letter_queue(
    app: Env, queues: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts smaller than S3's 5 MiB minimum: the emulator refuses to complete the upload (EntityTooSmall),
    as S3 does. Each attempt aborts its upload; after three the message is dead-lettered and the coin
    ledger fails the export once."""
    import imagegen.archive

    queue, dlq = queues
    monkeypatch.setattr(imagegen.archive, "PART_SIZE", 64 * 1024)
    _user, token = app.user()
    images = _images(app, token, ["A", "B", "C"])
    export = app.api.call("POST", "/exports", token=token, body={"imageIds": [i["id"] for i in images]}).json
    for _ in range(3):
        app.pipeline.deliver(queue, "exporter")
        assert app.objects("exports/") == []
        assert _multipart_uploads(app) == []
        assert app.api.call("GET", f"/exports/{export['id']}", token=token).json["status"] == "PROCESSING"
    assert app.pipeline.deliver(queue, "exporter") == 0  # dead-lettered now
    assert app.pipeline.deliver(dlq, "coin_ledger") == 1
    failed = app.api.call("GET", f"/exports/{export['id']}", token=token).json
    assert (failed["status"], failed["failureReason"], failed["downloadUrl"]) == (
        "FAILED",
        "export_failed",
        None,
    )
    # Its slot is free again.
    monkeypatch.setattr(imagegen.archive, "PART_SIZE", 8 * 1024 * 1024)
    assert app.api.call("POST", "/exports", token=token, body={"imageIds": [images[0]["id"]]}).status == 202
    assert app.api.call("POST", "/exports", token=token, body={"imageIds": [images[0]["id"]]}).status == 202


def test_images_deleted_before_the_export_runs_are_counted(app: Env, queues: tuple[str, str]) -> None:
    queue, _ = queues
    _user, token = app.user()
    kept, gone = _images(app, token, ["Kept", "Gone"])
    export = app.api.call("POST", "/exports", token=token, body={"imageIds": [kept["id"], gone["id"]]}).json
    assert app.api.call("DELETE", f"/images/{gone['id']}", token=token).status == 204
    app.pipeline.deliver(queue, "exporter")
    done = app.api.call("GET", f"/exports/{export['id']}", token=token).json
    assert (done["status"], done["imageCount"], done["missingCount"]) == ("COMPLETED", 1, 1)


def test_the_sweeper_removes_expired_exports_and_erasure_removes_zips(
    app: Env, queues: tuple[str, str]
) -> None:
    from imagegen.bootstrap import export_service

    queue, _ = queues
    user, token = app.user()
    (image,) = _images(app, token, ["Old"])
    first = app.api.call("POST", "/exports", token=token, body={"imageIds": [image["id"]]}).json
    app.pipeline.deliver(queue, "exporter")
    assert len(app.objects("exports/")) == 1
    service = export_service(app.ctx)
    assert service.sweep(now=datetime.now(UTC))["exports_removed"] == 0
    counts = service.sweep(now=datetime.now(UTC) + timedelta(hours=25))
    assert counts["exports_removed"] == 1 and counts["export_errors"] == 0
    assert app.objects("exports/") == []
    app.api.call("GET", f"/exports/{first['id']}", token=token).problem(404, "not_found")

    app.api.call("POST", "/exports", token=token, body={"imageIds": [image["id"]]})
    app.pipeline.deliver(queue, "exporter")
    assert len(app.objects(f"exports/{user.id}/")) == 1
    assert app.api.call("DELETE", "/me", token=token).status in (202, 204)
    app.pipeline.drain()
    assert app.objects(f"exports/{user.id}/") == []


def test_the_sample_events_run_through_their_handlers(app: Env, queues: tuple[str, str]) -> None:
    """events/exporter and the export dead letter: an export that is not there (deleted, or another
    stack's) is acknowledged, not retried."""
    from pathlib import Path

    from tests.api.conftest import LambdaContext, handler

    events = Path(__file__).resolve().parents[2] / "events"
    for directory, name in (
        ("exporter", "exporter/sqs-export.json"),
        ("coin_ledger", "coin_ledger/sqs-export-dead-letter.json"),
    ):
        event = json.loads((events / name).read_text())
        result = handler(directory)(event, LambdaContext(function_name=directory))
        assert result == {"batchItemFailures": []}
