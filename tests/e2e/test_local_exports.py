"""Exports end to end on the local stack over real HTTP: the queue, the exporter function, the multipart
upload into the emulator's bucket and the signed download."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest

from tests.e2e.conftest import Stack, request
from tests.e2e.test_local_stack import _email, _png, _upload

pytestmark = pytest.mark.e2e


def _wait_export(stack: Stack, token: str, export_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        export: dict[str, Any] = stack.call("GET", f"/exports/{export_id}", token=token).json()
        if export["status"] in ("COMPLETED", "FAILED"):
            return export
        if time.monotonic() > deadline:
            raise AssertionError(f"export still {export['status']}:\n" + "\n".join(stack.lines[-30:]))
        time.sleep(0.2)


def test_an_export_completes_and_downloads_as_one_zip(stack: Stack) -> None:
    token, _user = stack.sign_in(_email())
    other_token, _ = stack.sign_in(_email())
    images = [_upload(stack, token, f"shot-{n}.png", "image/png", _png(320 + n * 64, 240)) for n in range(2)]
    for image in images:
        assert stack.wait_for(token, image["id"])["status"] == "COMPLETED"
    titles = [stack.call("GET", f"/images/{i['id']}", token=token).json()["title"] for i in images]

    created = stack.call(
        "POST", "/exports", token=token, body={"imageIds": [i["id"] for i in images] + ["gone"]}
    )
    assert created.status == 202, created.body
    export = created.json()
    assert stack.call("GET", f"/exports/{export['id']}", token=other_token).status == 404
    done = _wait_export(stack, token, export["id"])
    assert done["status"] == "COMPLETED", done
    assert (done["imageCount"], done["missingCount"]) == (2, 1)

    download = request("GET", done["downloadUrl"])
    assert download.status == 200
    assert download.headers["content-disposition"].startswith('attachment; filename="images-')
    archive = zipfile.ZipFile(io.BytesIO(download.body))
    assert archive.testzip() is None
    assert archive.namelist() == [f"{title}.png" for title in titles]
    assert len(download.body) == done["sizeBytes"]
    listed = stack.call("GET", "/exports", token=token).json()
    assert [e["id"] for e in listed["items"]] == [export["id"]]


def test_export_errors_over_http(stack: Stack) -> None:
    token, _user = stack.sign_in(_email())
    reply = stack.call("POST", "/exports", token=token, body={"imageIds": ["a"], "collectionId": "c"})
    assert (reply.status, reply.json()["code"]) == (422, "validation_error")
    assert reply.headers["content-type"].startswith("application/problem+json")
    # A collection that is not the caller's (here: none) is not found, like an image.
    reply = stack.call("POST", "/exports", token=token, body={"collectionId": "c"})
    assert (reply.status, reply.json()["code"]) == (404, "not_found")
    assert stack.call("POST", "/exports", body={"imageIds": ["a"]}).status == 401
    assert stack.call("GET", "/exports/nope", token=token).status == 404
