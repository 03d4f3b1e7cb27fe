"""HTTP caching through the real handlers: strong ETags, 304 for a matching If-None-Match, and
Cache-Control as the contract says (signed-in answers private, no-cache)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Env


def _generate(app: Env, token: str) -> dict[str, Any]:
    reply = app.api.call(
        "POST", "/images/generate", token=token, body={"prompt": "a lighthouse", "width": 256, "height": 256}
    )
    assert reply.status == 202, reply.raw
    image: dict[str, Any] = reply.json
    return image


def test_get_me_sends_a_strong_etag_and_answers_304_while_it_holds(app: Env) -> None:
    _, token = app.user(coins=100)
    first = app.api.call("GET", "/me", token=token)
    assert first.status == 200 and first.json["coins"] == 100
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "private, no-cache"

    again = app.api.call("GET", "/me", token=token, headers={"If-None-Match": etag})
    assert (again.status, again.raw) == (304, "")
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "private, no-cache"
    # A list that holds it, a weak form of it, and * all match (If-None-Match uses the weak comparison).
    for value in (f'"nope", {etag}', f"W/{etag}", "*"):
        assert app.api.call("GET", "/me", token=token, headers={"If-None-Match": value}).status == 304, value

    # The balance changes: so do the body and the tag, and the old tag is a 200 again.
    _generate(app, token)
    changed = app.api.call("GET", "/me", token=token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.json["coins"] == 50
    assert changed.headers["ETag"] != etag


def test_get_image_etag_follows_its_status(app: Env) -> None:
    _, token = app.user(coins=100)
    image = _generate(app, token)
    pending = app.api.call("GET", f"/images/{image['id']}", token=token)
    assert pending.status == 200 and pending.json["status"] == "PENDING"
    tag = pending.headers["ETag"]
    assert (
        app.api.call("GET", f"/images/{image['id']}", token=token, headers={"If-None-Match": tag}).status
        == 304
    )

    app.pipeline.drain()
    done = app.api.call("GET", f"/images/{image['id']}", token=token, headers={"If-None-Match": tag})
    assert done.status == 200 and done.json["status"] == "COMPLETED" and done.headers["ETag"] != tag


@pytest.mark.parametrize(
    "value", ['"other"', "", "W/", '"' + "x" * 5000 + '"'], ids=["other", "empty", "bare-weak", "oversized"]
)
def test_a_tag_that_does_not_match_gets_the_body(app: Env, value: str) -> None:
    _, token = app.user(coins=0)
    reply = app.api.call("GET", "/me", token=token, headers={"If-None-Match": value})
    assert reply.status == 200 and reply.json["coins"] == 0


def test_no_304_for_someone_else_or_without_a_session(app: Env) -> None:
    _, owner = app.user(coins=100)
    _, other = app.user(coins=0)
    image = _generate(app, owner)
    tag = app.api.call("GET", f"/images/{image['id']}", token=owner).headers["ETag"]
    # A tag does not leak existence: another user gets the 404, signed out the 401, whatever the tag.
    app.api.call("GET", f"/images/{image['id']}", token=other, headers={"If-None-Match": tag}).problem(
        404, "not_found"
    )
    app.api.call("GET", f"/images/{image['id']}", headers={"If-None-Match": "*"}).problem(401, "unauthorized")


def test_signed_in_answers_are_private_and_errors_are_not_stored(app: Env) -> None:
    _, token = app.user(coins=0)
    for path in ("/me/stats", "/me/ledger", "/images"):
        reply = app.api.call("GET", path, token=token)
        assert reply.status == 200 and reply.headers["Cache-Control"] == "private, no-cache", path
        assert "ETag" not in reply.headers, path
    missing = app.api.call("GET", "/images/nope", token=token)
    assert missing.status == 404 and missing.headers["Cache-Control"] == "no-store"


def test_a_collection_and_its_shared_page_answer_304_while_unchanged(app: Env) -> None:
    _, token = app.user(coins=100)
    image = _generate(app, token)
    app.pipeline.drain()
    trip = app.api.call("POST", "/collections", token=token, body={"title": "Trip"}).json
    path = f"/collections/{trip['id']}"
    first = app.api.call("GET", path, token=token)
    assert first.status == 200 and first.headers["Cache-Control"] == "private, no-cache"
    assert (
        app.api.call("GET", path, token=token, headers={"If-None-Match": first.headers["ETag"]}).status == 304
    )
    add = {"action": "addToCollection", "collectionId": trip["id"], "imageIds": [image["id"]]}
    assert app.api.call("POST", "/images/batch", token=token, body=add).status == 200
    changed = app.api.call("GET", path, token=token, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status == 200 and changed.json["imageCount"] == 1

    share = app.api.call("POST", f"{path}/share", token=token).json["shareUrl"]
    shared_path = f"/shared/{share.rsplit('/', 1)[1]}"
    public = app.api.call("GET", shared_path)
    assert public.status == 200 and public.headers["Cache-Control"] == "public, max-age=60"
    assert app.api.call("GET", shared_path, headers={"If-None-Match": public.headers["ETag"]}).status == 304
