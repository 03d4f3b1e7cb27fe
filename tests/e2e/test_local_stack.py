"""End to end, as a client would: the real application on the local stack over real HTTP."""

from __future__ import annotations

import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image as PILImage

from tests.e2e.conftest import ADMIN_EMAIL, Stack, flow_cookie, request, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def _email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"


def _png(width: int = 640, height: int = 480) -> bytes:
    gradient = PILImage.linear_gradient("L").resize((width, height))
    out = io.BytesIO()
    PILImage.merge(
        "RGB", (gradient, gradient.rotate(90), gradient.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT))
    ).save(out, "PNG")
    return out.getvalue()


def _multipart(fields: dict[str, str], data: bytes, content_type: str) -> tuple[bytes, str]:
    """The form a browser sends: every policy field, then the file last."""
    boundary = f"----e2e{uuid.uuid4().hex}"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _upload(stack: Stack, token: str, filename: str, content_type: str, data: bytes) -> dict[str, Any]:
    created = stack.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": filename, "contentType": content_type, "size": len(data)},
    )
    assert created.status == 201, created.body
    upload = created.json()["upload"]
    body, form_type = _multipart(upload["fields"], data, content_type)
    posted = request("POST", upload["url"], headers={"content-type": form_type}, body=body)
    assert posted.status in (200, 201, 204), posted.body
    image: dict[str, Any] = created.json()["image"]
    return image


def test_health_and_sign_in_through_the_google_stand_in(stack: Stack) -> None:
    assert stack.call("GET", "/health").json() == {"status": "ok"}
    email = _email()
    token, user = stack.sign_in(email)
    assert (user["email"], user["coins"], user["roles"]) == (email, 100, ["USER"])
    assert stack.call("GET", "/me", token=token).json()["id"] == user["id"]
    again, same = stack.sign_in(email)
    assert same["id"] == user["id"] and again != token
    _, admin = stack.sign_in(ADMIN_EMAIL)
    assert "ADMIN" in admin["roles"]


def test_sign_in_finishes_only_in_the_browser_that_started_it(stack: Stack) -> None:
    """Over real HTTP through the local stack's gateway: the flow cookie out as ``Set-Cookie``, back in
    as the event's ``cookies``; a callback without it is refused and leaves the flow to its browser."""
    login = request("GET", f"{stack.url}/auth/google/login")
    assert login.status == 302, login.body
    cookie = login.headers["set-cookie"]
    name_value, _, attributes = cookie.partition("; ")
    assert name_value.startswith("imagegen_signin=") and len(name_value.split("=", 1)[1]) == 64
    # The local stack is http://127.0.0.1: everything but Secure.
    assert attributes == "Path=/auth; Max-Age=600; HttpOnly; SameSite=Lax"
    email = _email()
    back = request("GET", f"{login.headers['location']}&login_hint={email}")
    callback = back.headers["location"]
    for headers in ({}, {"cookie": "imagegen_signin=" + "0" * 64}):  # no cookie; another flow's
        refused = request("GET", callback, headers={"accept": "application/json", **headers})
        assert refused.status == 400 and refused.json()["code"] == "invalid_state", refused.body
        assert "set-cookie" not in refused.headers
    done = request("GET", callback, headers={"accept": "application/json", **flow_cookie(login)})
    assert done.status == 200, done.body
    assert done.json()["user"]["email"] == email
    assert done.headers["set-cookie"] == "imagegen_signin=; Path=/auth; Max-Age=0; HttpOnly; SameSite=Lax"


def test_generate_until_completed_with_a_fetchable_thumbnail(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    created = stack.call(
        "POST",
        "/images/generate",
        token=token,
        body={"prompt": "a red fox in fresh snow", "width": 512, "height": 384},
    )
    assert created.status == 202, created.body
    image = stack.wait_for(token, created.json()["id"])
    assert image["status"] == "COMPLETED", image
    thumbnail = request("GET", image["thumbnailUrl"])
    assert thumbnail.status == 200
    picture = PILImage.open(io.BytesIO(thumbnail.body))
    assert picture.format == "WEBP" and picture.size == (256, 192)
    assert request("GET", image["metadata"]["previewUrl"]).status == 200
    assert request("GET", image["storageUrl"]).body[:8] == b"\x89PNG\r\n\x1a\n"
    download = stack.call("GET", f"/images/{image['id']}/download", token=token)
    assert download.status == 302 and request("GET", download.headers["location"]).status == 200
    assert stack.call("GET", "/me", token=token).json()["coins"] == 90


def test_upload_through_the_presigned_post_completes(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    image = _upload(stack, token, "Holiday Photo.PNG", "image/png", _png(640, 480))
    done = stack.wait_for(token, image["id"])
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"], done["metadata"]["format"]) == (
        640,
        480,
        "png",
    )
    assert request("GET", done["thumbnailUrl"]).status == 200


def test_a_bad_upload_ends_failed_and_its_object_is_gone(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    image = _upload(stack, token, "notes.png", "image/png", b"this is text, not a picture\n" * 20)
    failed = stack.wait_for(token, image["id"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "not_an_image")
    assert request("GET", failed["storageUrl"]).status == 404


def test_concurrent_generation_over_budget_never_overspends(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())  # 100 coins, 10 a generation

    def generate(i: int) -> int:
        return stack.call("POST", "/images/generate", token=token, body={"prompt": f"race {i}"}).status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(generate, range(25)))
    assert statuses.count(202) == 10 and statuses.count(402) == 15, statuses
    assert stack.call("GET", "/me", token=token).json()["coins"] == 0
    entries = stack.call("GET", "/me/ledger", token=token, query={"limit": "100"}).json()["items"]
    assert sum(e["amount"] for e in entries) == 0
    assert [e["balanceAfter"] for e in entries] == list(range(0, 101, 10))


def test_delete_removes_the_objects(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    image_id = stack.call("POST", "/images/generate", token=token, body={"prompt": "short-lived"}).json()[
        "id"
    ]
    image = stack.wait_for(token, image_id)
    urls = [image["storageUrl"], image["thumbnailUrl"], image["metadata"]["previewUrl"]]
    assert all(request("GET", u).status == 200 for u in urls)
    assert stack.call("DELETE", f"/images/{image_id}", token=token).status == 204
    assert [request("GET", u).status for u in urls] == [404, 404, 404]
    assert stack.call("GET", f"/images/{image_id}", token=token).status == 404


def test_errors_are_problem_json_and_the_server_survives(stack: Stack) -> None:
    reply = stack.call("GET", "/me", token="garbage")
    assert reply.status == 401 and reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["code"] == "unauthorized"
    token, _ = stack.sign_in(_email())
    bad = request(
        "POST",
        f"{stack.url}/images/generate",
        body=b"{oops",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert bad.status == 400 and json.loads(bad.body)["code"] == "invalid_json"
    assert stack.call("GET", "/nope").status == 404
    assert stack.call("GET", "/health").status == 200


def test_stops_cleanly_on_sigterm() -> None:
    own = start_stack()
    started = time.monotonic()
    assert request("GET", f"{own.url}/health").status == 200
    assert stop_stack(own) == 0
    assert time.monotonic() - started < 30
