"""/collections*, POST /images/batch and GET /shared/{token} through the real handler, on the emulator."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.api.conftest import Env


def _completed(app: Env, token: str, prompts: list[str]) -> list[dict[str, Any]]:
    ids = [
        app.api.call(
            "POST", "/images/generate", token=token, body={"prompt": p, "width": 256, "height": 256}
        ).json["id"]
        for p in prompts
    ]
    app.pipeline.drain()
    images = [app.api.call("GET", f"/images/{i}", token=token).json for i in ids]
    assert [i["status"] for i in images] == ["COMPLETED"] * len(ids)
    return images


def _batch(app: Env, token: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    reply = app.api.call("POST", "/images/batch", token=token, body=body)
    assert reply.status == 200, reply.raw
    return [(r["imageId"], r["status"]) for r in reply.json["results"]]


def _collection(app: Env, token: str, title: str = "Trips") -> dict[str, Any]:
    reply = app.api.call("POST", "/collections", token=token, body={"title": title})
    assert reply.status == 201, reply.raw
    body: dict[str, Any] = reply.json
    return body


def test_collections_crud_and_someone_elses(app: Env) -> None:
    _, token = app.user()
    _, other = app.user()
    created = _collection(app, token, "  Trips  ")
    assert (created["title"], created["imageCount"], created["shared"], created["shareUrl"]) == (
        "Trips",
        0,
        False,
        None,
    )
    second = _collection(app, token, "Second")
    page = app.api.call("GET", "/collections", token=token, query={"limit": "1"}).json
    assert [c["id"] for c in page["items"]] == [second["id"]] and page["nextCursor"]
    rest = app.api.call("GET", "/collections", token=token, query={"cursor": page["nextCursor"]}).json
    assert [c["id"] for c in rest["items"]] == [created["id"]]
    app.api.call("GET", "/collections", token=other, query={"cursor": page["nextCursor"]}).problem(
        400, "invalid_cursor"
    )
    path = f"/collections/{created['id']}"
    assert app.api.call("GET", path, token=token).json == created
    patched = app.api.call("PATCH", path, token=token, body={"title": "Renamed", "description": "Words"}).json
    assert (patched["title"], patched["description"]) == ("Renamed", "Words")
    for method, body in (("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)):
        app.api.call(method, path, token=other, body=body).problem(404, "not_found")
    app.api.call("GET", f"{path}/images", token=other).problem(404, "not_found")
    app.api.call("POST", f"{path}/share", token=other).problem(404, "not_found")
    app.api.call("GET", path).problem(401, "unauthorized")
    assert app.api.call("DELETE", path, token=token).status == 204
    app.api.call("GET", path, token=token).problem(404, "not_found")
    app.api.call("DELETE", path, token=token).problem(404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "a\x07b"},
        {"title": "ok", "owner": "x"},
        {"title": 5},
    ],
)
def test_bad_collection_bodies_are_422(app: Env, body: dict[str, Any]) -> None:
    _, token = app.user()
    app.api.call("POST", "/collections", token=token, body=body).problem(422, "validation_error")
    app.api.call("POST", "/collections", token=token, raw_body="{nope").problem(400, "invalid_json")


@pytest.mark.parametrize(
    "body",
    [
        {"action": "delete"},
        {"action": "explode", "imageIds": ["a"]},
        {"action": "delete", "imageIds": []},
        {"action": "delete", "imageIds": "a"},
        {"action": "delete", "imageIds": [f"i{n}" for n in range(101)]},
        {"action": "delete", "imageIds": [""]},
        {"action": "addToCollection", "imageIds": ["a"]},
        {"action": "delete", "imageIds": ["a"], "extra": 1},
    ],
)
def test_bad_batch_bodies_are_422(app: Env, body: dict[str, Any]) -> None:
    _, token = app.user()
    app.api.call("POST", "/images/batch", token=token, body=body).problem(422, "validation_error")


def test_batch_add_list_remove_and_delete(app: Env) -> None:
    user, token = app.user(coins=500)
    _, other = app.user(coins=500)
    a, b, c = _completed(app, token, ["one", "two", "three"])
    (theirs,) = _completed(app, other, ["theirs"])
    collection = _collection(app, token)
    add = {"action": "addToCollection", "collectionId": collection["id"]}
    assert _batch(app, token, {**add, "imageIds": [a["id"], "nope", a["id"], theirs["id"], b["id"]]}) == [
        (a["id"], "ok"),
        ("nope", "not_found"),
        (theirs["id"], "not_found"),
        (b["id"], "ok"),
    ]
    assert _batch(app, token, {**add, "imageIds": [c["id"], a["id"]]}) == [
        (c["id"], "ok"),
        (a["id"], "already_present"),
    ]
    path = f"/collections/{collection['id']}"
    found = app.api.call("GET", path, token=token).json
    assert found["imageCount"] == 3 and found["coverThumbnailUrl"] == c["thumbnailUrl"]
    first = app.api.call("GET", f"{path}/images", token=token, query={"limit": "2"}).json
    rest = app.api.call("GET", f"{path}/images", token=token, query={"cursor": first["nextCursor"]}).json
    listed = [i["id"] for i in [*first["items"], *rest["items"]]]
    assert set(listed) == {a["id"], b["id"], c["id"]} and listed[0] == c["id"] and rest["nextCursor"] is None
    assert first["items"][0] == app.api.call("GET", f"/images/{c['id']}", token=token).json
    app.api.call("POST", "/images/batch", token=other, body={**add, "imageIds": [theirs["id"]]}).problem(
        404, "not_found"
    )
    remove = {"action": "removeFromCollection", "collectionId": collection["id"]}
    assert _batch(app, token, {**remove, "imageIds": [c["id"], c["id"]]}) == [(c["id"], "ok")]
    assert _batch(app, token, {**remove, "imageIds": [c["id"]]}) == [(c["id"], "not_present")]
    assert app.api.call("GET", path, token=token).json["coverThumbnailUrl"] in (
        a["thumbnailUrl"],
        b["thumbnailUrl"],
    )
    coins = app.api.call("GET", "/me", token=token).json["coins"]
    assert _batch(app, token, {"action": "delete", "imageIds": [a["id"], theirs["id"], c["id"]]}) == [
        (a["id"], "ok"),
        (theirs["id"], "not_found"),
        (c["id"], "ok"),
    ]
    assert app.api.call("GET", path, token=token).json["imageCount"] == 1
    assert [i["id"] for i in app.api.call("GET", f"{path}/images", token=token).json["items"]] == [b["id"]]
    for gone in (a, c):
        app.api.call("GET", f"/images/{gone['id']}", token=token).problem(404, "not_found")
        assert app.objects(f"thumbnails/{gone['id']}/") == []
        assert app.objects(gone["storageKey"]) == []
    assert app.api.call("GET", f"/images/{theirs['id']}", token=other).status == 200
    assert app.api.call("GET", "/me", token=token).json["coins"] == coins  # deleting refunds nothing
    assert app.api.call("GET", "/me/stats", token=token).json["totalImages"] == 1
    # Deleting the collection keeps its images.
    assert app.api.call("DELETE", path, token=token).status == 204
    assert app.api.call("GET", f"/images/{b['id']}", token=token).status == 200
    assert user.id


def test_share_link_shows_only_completed_images_and_nothing_of_the_owner(app: Env, configure: Any) -> None:
    configure(FRONTEND_URL="https://app.example.com")
    user, token = app.user(coins=500)
    (done,) = _completed(app, token, ["a secret prompt about my cat"])
    pending = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={
            "filename": "later.png",
            "contentType": "image/png",
            "size": 100,
        },
    ).json["image"]
    collection = _collection(app, token, "Holiday")
    add = {
        "action": "addToCollection",
        "collectionId": collection["id"],
        "imageIds": [done["id"], pending["id"]],
    }
    assert [s for _, s in _batch(app, token, add)] == ["ok", "ok"]
    path = f"/collections/{collection['id']}"
    share = app.api.call("POST", f"{path}/share", token=token)
    assert share.status == 200
    url = share.json["shareUrl"]
    assert url.startswith("https://app.example.com/s/")
    shared_token = url.rsplit("/", 1)[1]
    assert len(shared_token) >= 22
    body = app.api.call("GET", path, token=token).json
    assert (body["shared"], body["shareUrl"]) == (True, url)
    reply = app.api.call("GET", f"/shared/{shared_token}")
    assert reply.status == 200 and reply.headers["Cache-Control"] == "public, max-age=60"
    page = reply.json
    assert page["collection"] == {"title": "Holiday", "description": None, "imageCount": 1}
    assert [i["id"] for i in page["items"]] == [done["id"]] and page["nextCursor"] is None
    item = page["items"][0]
    assert (
        item["thumbnailUrl"] == done["thumbnailUrl"] and item["previewUrl"] == done["metadata"]["previewUrl"]
    )
    assert (item["width"], item["height"]) == (256, 256)
    # No leak: the whole body, URLs included, names neither the owner nor the prompt nor a key.
    text = reply.raw
    for secret in (user.id, user.email, done["prompt"], done["storageKey"], pending["storageKey"], "userId"):
        assert secret not in text, secret
    assert json.loads(text)  # and it is the JSON it claims to be
    # Rotation: the old link is gone at once; revocation: the new one too.
    rotated = app.api.call("POST", f"{path}/share", token=token).json["shareUrl"]
    assert rotated != url
    app.api.call("GET", f"/shared/{shared_token}").problem(404, "not_found")
    assert app.api.call("GET", f"/shared/{rotated.rsplit('/', 1)[1]}").status == 200
    assert app.api.call("DELETE", f"{path}/share", token=token).status == 204
    app.api.call("GET", f"/shared/{rotated.rsplit('/', 1)[1]}").problem(404, "not_found")
    assert app.api.call("GET", path, token=token).json["shareUrl"] is None
    app.api.call("GET", "/shared/not-a-token").problem(404, "not_found")
    app.api.call("GET", "/shared/bad%20token").problem(422, "validation_error")


def test_an_upload_added_while_pending_appears_on_the_shared_page_once_it_completes(app: Env) -> None:
    _, token = app.user(coins=500)
    pending = app.api.call(
        "POST",
        "/images/uploads",
        token=token,
        body={
            "filename": "later.png",
            "contentType": "image/png",
            "size": 100,
        },
    ).json["image"]
    collection = _collection(app, token)
    _batch(
        app,
        token,
        {"action": "addToCollection", "collectionId": collection["id"], "imageIds": [pending["id"]]},
    )
    url = app.api.call("POST", f"/collections/{collection['id']}/share", token=token).json["shareUrl"]
    shared = f"/shared/{url.rsplit('/', 1)[1]}"
    assert app.api.call("GET", shared).json["collection"]["imageCount"] == 0
    from tests.api.test_images_api import _png

    boto3.client("s3").put_object(Bucket=app.bucket, Key=pending["storageKey"], Body=_png(80, 60))
    app.pipeline.drain()
    page = app.api.call("GET", shared).json
    assert page["collection"]["imageCount"] == 1 and [i["id"] for i in page["items"]] == [pending["id"]]
    assert page["items"][0]["title"] == "later.png"


def test_delete_me_removes_collections_and_their_links(app: Env) -> None:
    user, token = app.user(coins=500)
    (image,) = _completed(app, token, ["mine"])
    collection = _collection(app, token)
    _batch(
        app, token, {"action": "addToCollection", "collectionId": collection["id"], "imageIds": [image["id"]]}
    )
    url = app.api.call("POST", f"/collections/{collection['id']}/share", token=token).json["shareUrl"]
    assert app.api.call("DELETE", "/me", token=token).status == 204
    app.api.call("GET", f"/shared/{url.rsplit('/', 1)[1]}").problem(404, "not_found")
    items = boto3.resource("dynamodb").Table(app.table).scan()["Items"]
    assert [i for i in items if i.get("entity") in ("COLLECTION", "MEMBER", "SHARE")] == []
    assert app.objects("thumbnails/") == [] and app.objects(f"images/{user.id}/") == []
