"""Generation options and variations through the real handlers, on the emulator: GET /generation/options,
the options of POST /images/generate stored on the image (API and table), the premium price, the seed
of a replay, POST /images/{id}/variations and its error codes, and the local provider honouring it all."""

from __future__ import annotations

import io
from typing import Any

import boto3
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat

from tests.api.conftest import Env


def _ledger(app: Env, token: str) -> list[dict[str, Any]]:
    return app.api.call("GET", "/me/ledger", token=token, query={"limit": "100"}).json["items"]


def _original(app: Env, key: str) -> PILImage.Image:
    body = boto3.client("s3").get_object(Bucket=app.bucket, Key=key)["Body"].read()
    image = PILImage.open(io.BytesIO(body))
    image.load()
    return image.convert("RGB")


def test_options_are_public_and_cacheable(app: Env) -> None:
    reply = app.api.call("GET", "/generation/options")
    assert reply.status == 200, reply.raw
    assert reply.headers["Cache-Control"] == "public, max-age=60"
    body = reply.json
    assert body["provider"] == "local" and body["costs"] == {"standard": 50, "premium": 100}
    assert {"id": "watercolor", "label": "Watercolor"} in body["styles"]
    assert body["supports"]["negativePrompt"] and body["supports"]["seed"] and body["supports"]["variations"]
    assert body["maxPromptLength"] == 1000


def test_generate_with_options_charges_premium_and_records_them(app: Env) -> None:
    user, token = app.user(coins=300)
    body = {
        "prompt": "a red fox",
        "negativePrompt": "snow",
        "style": "pixel-art",
        "seed": 1234,
        "quality": "premium",
        "width": 512,
        "height": 384,
    }
    reply = app.api.call("POST", "/images/generate", token=token, body=body)
    assert reply.status == 202, reply.raw
    image = reply.json
    assert image["coinsUsed"] == 100
    assert image["generation"] == {
        "provider": "local",
        "model": "local-painter-v2",
        "style": "pixel-art",
        "seed": 1234,
        "negativePrompt": "snow",
        "quality": "premium",
        "strength": None,
    }
    assert image["sourceImageId"] is None
    assert next((e["amount"], e["reason"]) for e in _ledger(app, token)) == (-100, "image_generation")
    # The table keeps them: a fresh read through the handler answers the same.
    assert (
        app.api.call("GET", f"/images/{image['id']}", token=token).json["generation"] == image["generation"]
    )
    item = boto3.client("dynamodb").get_item(
        TableName=app.table, Key={"pk": {"S": f"IMAGE#{image['id']}"}, "sk": {"S": "IMAGE"}}
    )["Item"]
    assert '"seed": 1234' in item["generation"]["S"]

    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    again = app.api.call("POST", "/images/generate", token=token, body=body).json
    app.pipeline.drain()
    # Same prompt, options and seed: the same picture.
    assert _original(app, done["storageKey"]).tobytes() == _original(app, again["storageKey"]).tobytes()
    assert user.id


def test_a_seedless_request_records_a_seed_and_its_replay_the_same(app: Env) -> None:
    _, token = app.user(coins=300)
    headers = {"Idempotency-Key": "seedless-1"}
    first = app.api.call("POST", "/images/generate", token=token, body={"prompt": "x"}, headers=headers)
    again = app.api.call("POST", "/images/generate", token=token, body={"prompt": "x"}, headers=headers)
    assert first.status == again.status == 202
    assert isinstance(first.json["generation"]["seed"], int)
    assert again.json["id"] == first.json["id"] and again.json["generation"] == first.json["generation"]
    assert app.api.call("GET", "/me", token=token).json["coins"] == 250


def test_bad_options_are_422_with_their_fields_and_nothing_is_charged(app: Env) -> None:
    _, token = app.user(coins=300)
    cases = [
        ({"prompt": "x", "style": "cubism"}, "style"),
        ({"prompt": "x", "style": "Not An Id!"}, "style"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "seed": 2_147_483_648}, "seed"),
        ({"prompt": "x", "seed": "7"}, "seed"),
        ({"prompt": "x", "quality": "ultra"}, "quality"),
        ({"prompt": "x", "negativePrompt": "n" * 1001}, "negativePrompt"),
    ]
    for body, field in cases:
        reply = app.api.call("POST", "/images/generate", token=token, body=body)
        problem = reply.problem(422, "validation_error")
        assert [e["field"] for e in problem["errors"]] == [field], (body, problem)
    assert app.api.call("GET", "/me", token=token).json["coins"] == 300
    assert app.api.call("GET", "/images", token=token).json["items"] == []


def test_an_option_the_configured_model_lacks_is_422(app: Env, configure: Any) -> None:
    configure(IMAGE_PROVIDER="openai", OPENAI_IMAGE_MODEL="gpt-image-1")
    _, token = app.user(coins=300)
    reply = app.api.call("POST", "/images/generate", token=token, body={"prompt": "x", "seed": 4})
    assert [e["field"] for e in reply.problem(422, "validation_error")["errors"]] == ["seed"]
    assert app.api.call("GET", "/generation/options").json["supports"]["seed"] is False
    assert app.api.call("GET", "/me", token=token).json["coins"] == 300


def _completed_image(app: Env, token: str, **body: Any) -> dict[str, Any]:
    image = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "a lighthouse", **body}
    ).json
    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    return dict(done)


def test_a_variation_is_charged_completes_and_derives_from_its_source(app: Env) -> None:
    _, token = app.user(coins=300)
    source = _completed_image(app, token, width=512, height=384, seed=3)
    reply = app.api.call(
        "POST",
        f"/images/{source['id']}/variations",
        token=token,
        body={"strength": 0.2, "seed": 9, "style": "noir"},
        headers={"Idempotency-Key": "var-1"},
    )
    assert reply.status == 202, reply.raw
    variation = reply.json
    assert (variation["type"], variation["status"], variation["sourceImageId"]) == (
        "GENERATED",
        "PENDING",
        source["id"],
    )
    assert variation["coinsUsed"] == 50 and variation["prompt"] == "a lighthouse"
    assert variation["generation"]["strength"] == 0.2 and variation["generation"]["seed"] == 9
    entries = _ledger(app, token)
    assert (entries[0]["amount"], entries[0]["reason"], entries[0]["imageId"]) == (
        -50,
        "image_generation",
        variation["id"],
    )
    replay = app.api.call(
        "POST",
        f"/images/{source['id']}/variations",
        token=token,
        body={"strength": 0.2, "seed": 9, "style": "noir"},
        headers={"Idempotency-Key": "var-1"},
    )
    assert replay.status == 202 and replay.json["id"] == variation["id"]
    reused = app.api.call(
        "POST",
        f"/images/{source['id']}/variations",
        token=token,
        body={"strength": 0.3},
        headers={"Idempotency-Key": "var-1"},
    )
    reused.problem(409, "idempotency_key_reused")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 200

    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{variation['id']}", token=token).json
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"]) == (1024, 768)
    picture = _original(app, done["storageKey"])
    original = _original(app, source["storageKey"]).resize(picture.size)
    grey = original.convert("L").convert("RGB")
    # noir at strength 0.2: the source's structure in grey, far closer to it than to a flat field
    assert max(ImageStat.Stat(ImageChops.difference(picture.convert("L").convert("RGB"), picture)).mean) < 12
    near = sum(ImageStat.Stat(ImageChops.difference(picture, grey)).mean) / 3
    flat = (
        sum(
            ImageStat.Stat(ImageChops.difference(picture, PILImage.new("RGB", picture.size, (128,) * 3))).mean
        )
        / 3
    )
    assert near < flat


def test_variation_errors(app: Env) -> None:
    owner, token = app.user(coins=300)
    _, other_token = app.user(coins=300)
    source = _completed_image(app, token)
    app.api.call("POST", f"/images/{source['id']}/variations", token=other_token, body={}).problem(
        404, "not_found"
    )
    app.api.call("POST", "/images/nope/variations", token=token, body={}).problem(404, "not_found")
    pending = app.api.call("POST", "/images/generate", token=token, body={"prompt": "later"}).json
    problem = app.api.call("POST", f"/images/{pending['id']}/variations", token=token, body={}).problem(
        409, "image_not_ready"
    )
    assert "PENDING" in problem["detail"]
    for body, field in (
        ({"strength": 0.95}, "strength"),
        ({"strength": 0.05}, "strength"),
        ({"seed": -3}, "seed"),
    ):
        reply = app.api.call("POST", f"/images/{source['id']}/variations", token=token, body=body)
        assert [e["field"] for e in reply.problem(422, "validation_error")["errors"]] == [field]
    app.api.call("POST", f"/images/{source['id']}/variations", body={}).problem(401, "unauthorized")
    coins = app.api.call("GET", "/me", token=token).json["coins"]
    assert coins == 300 - 50 - 50  # the source and the pending image only
    assert owner.id
