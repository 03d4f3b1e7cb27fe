"""Collections, batch operations and share links over real HTTP, on the local stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Stack, request

pytestmark = pytest.mark.e2e


def _completed(stack: Stack, token: str, prompt: str) -> dict[str, Any]:
    created = stack.call(
        "POST", "/images/generate", token=token, body={"prompt": prompt, "width": 256, "height": 256}
    )
    assert created.status == 202, created.body
    image = stack.wait_for(token, created.json()["id"])
    assert image["status"] == "COMPLETED", image
    return image


def test_collect_share_and_batch_delete_over_http(stack: Stack) -> None:
    email = f"collector-{uuid.uuid4().hex[:8]}@example.com"
    token, user = stack.sign_in(email)
    first = _completed(stack, token, "a secret prompt about the sea")
    second = _completed(stack, token, "another private prompt")
    created = stack.call("POST", "/collections", token=token, body={"title": "Sea"})
    assert created.status == 201, created.body
    collection = created.json()
    batch = stack.call(
        "POST",
        "/images/batch",
        token=token,
        body={
            "action": "addToCollection",
            "collectionId": collection["id"],
            "imageIds": [first["id"], second["id"], first["id"]],
        },
    )
    assert batch.status == 200 and [r["status"] for r in batch.json()["results"]] == ["ok", "ok"]
    listed = stack.call("GET", f"/collections/{collection['id']}/images", token=token).json()
    assert [i["id"] for i in listed["items"]] == [second["id"], first["id"]]

    share_url = stack.call("POST", f"/collections/{collection['id']}/share", token=token).json()["shareUrl"]
    shared_token = share_url.rsplit("/", 1)[1]
    public = request("GET", f"{stack.url}/shared/{shared_token}")  # no Authorization header at all
    assert public.status == 200 and public.headers["cache-control"] == "public, max-age=60"
    page = public.json()
    assert page["collection"]["imageCount"] == 2 and len(page["items"]) == 2
    text = public.body.decode()
    for secret in (
        user["id"],
        email,
        first["prompt"],
        second["prompt"],
        first["storageKey"],
        second["storageKey"],
    ):
        assert secret not in text, secret
    # The renditions it links to are served, and their URLs name the image, never the owner.
    for item in page["items"]:
        assert user["id"] not in item["thumbnailUrl"] and request("GET", item["thumbnailUrl"]).status == 200
        assert request("GET", item["previewUrl"]).status == 200

    deleted = stack.call(
        "POST", "/images/batch", token=token, body={"action": "delete", "imageIds": [first["id"]]}
    )
    assert deleted.json()["results"] == [{"imageId": first["id"], "status": "ok"}]
    for url in (first["storageUrl"], first["thumbnailUrl"], first["metadata"]["previewUrl"]):
        assert request("GET", url).status == 404
    after = request("GET", f"{stack.url}/shared/{shared_token}").json()
    assert after["collection"]["imageCount"] == 1 and [i["id"] for i in after["items"]] == [second["id"]]
    assert stack.call("DELETE", f"/collections/{collection['id']}/share", token=token).status == 204
    gone = request("GET", f"{stack.url}/shared/{shared_token}")
    assert gone.status == 404 and json.loads(gone.body)["code"] == "not_found"
