"""Idempotency-Key regressions found by an outside review, through the real handlers on the emulator.

- A request killed right after its charge (a Lambda timeout or an out-of-memory kill: no exception handler
  runs) left its key "in progress" for 24 h: every retry was ``409`` while the coins stayed taken.
- A client's key could name an operation the server recorded (a keyless image's id): the new prompt was
  answered with the old image and charged nothing.
- An upload retried after a failure was given a presigned POST for a newly computed key that no image
  owned: the file was then deleted as an orphan.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.api.conftest import Env
from tests.reliability.conftest import Faults, audit_end_state, check_books, png, settle

SMALL = {"width": 256, "height": 256}


class Killed(BaseException):
    """The invocation is killed here: not an Exception, so no handler of the application runs."""


def _kill_after(faults: Faults, client: Any, operation: str) -> list[str]:
    killed: list[str] = []

    def after_call(**_: Any) -> None:
        if not killed:
            killed.append(operation)
            raise Killed(operation)

    service = client.meta.service_model.service_id.hyphenize()
    faults._on(client, f"after-call.{service}.{operation}", after_call)
    return killed


def test_a_key_whose_request_was_killed_after_the_charge_is_not_locked(app: Env, faults: Faults) -> None:
    _, token = app.user(coins=100)
    body = {"prompt": "killed mid-request", **SMALL}
    headers = {"Idempotency-Key": "killed-1"}
    killed = _kill_after(faults, faults.dynamodb(), "TransactWriteItems")
    with pytest.raises(Killed):
        app.api.call("POST", "/images/generate", token=token, body=body, headers=headers)
    faults.clear()
    assert killed == ["TransactWriteItems"]
    assert check_books(app, token).coins == 50  # charged, and nothing was queued

    retry = app.api.call("POST", "/images/generate", token=token, body=body, headers=headers)
    assert retry.status == 202, retry.raw  # not 409 request_in_progress
    assert retry.json["status"] == "PENDING"
    settle(app)  # the retry queued the generation the killed request never sent
    books = check_books(app, token)
    assert [i["status"] for i in books.images] == ["COMPLETED"] and books.coins == 50
    again = app.api.call("POST", "/images/generate", token=token, body=body, headers=headers)
    assert again.status == 202 and again.json == retry.json  # the first response, however often
    audit_end_state(app)


def test_a_client_key_equal_to_an_earlier_image_id_makes_a_new_image(app: Env) -> None:
    _, token = app.user(coins=200)
    keyless = app.api.call("POST", "/images/generate", token=token, body={"prompt": "first", **SMALL})
    assert keyless.status == 202
    old_id = keyless.json["id"]
    for key in (old_id, f"generate:{old_id}", f"server:refund:{old_id}"):
        reply = app.api.call(
            "POST",
            "/images/generate",
            token=token,
            body={"prompt": f"another prompt {key}", **SMALL},
            headers={"Idempotency-Key": key},
        )
        assert reply.status == 202, reply.raw
        assert reply.json["id"] != old_id and reply.json["prompt"] == f"another prompt {key}"
    books = check_books(app, token)
    assert books.coins == 200 - 4 * 50 and len(books.images) == 4


def test_the_same_key_with_another_body_is_409_even_after_a_replay(app: Env) -> None:
    _, token = app.user(coins=200)
    headers = {"Idempotency-Key": "body-hash"}
    body = {"prompt": "one", **SMALL}
    first = app.api.call("POST", "/images/generate", token=token, body=body, headers=headers)
    assert first.status == 202
    for other in ({"prompt": "two", **SMALL}, {"prompt": "one", "width": 512, "height": 256}):
        app.api.call("POST", "/images/generate", token=token, body=other, headers=headers).problem(
            409, "idempotency_key_reused"
        )
    assert (
        app.api.call("POST", "/images/generate", token=token, body=body, headers=headers).json == first.json
    )
    assert check_books(app, token).coins == 150


def test_an_upload_retried_after_a_failed_response_presigns_the_stored_key(app: Env, faults: Faults) -> None:
    _, token = app.user(coins=100)
    body = {"filename": "holiday.png", "contentType": "image/png", "size": 2000}
    headers = {"Idempotency-Key": "upload-1"}
    crash = faults.crash_after(faults.dynamodb(), "TransactWriteItems")
    app.api.call("POST", "/images/uploads", token=token, body=body, headers=headers).problem(
        500, "internal_error"
    )
    faults.clear()
    assert crash.hits == 1

    retry = app.api.call("POST", "/images/uploads", token=token, body=body, headers=headers)
    assert retry.status == 201, retry.raw
    image, upload = retry.json["image"], retry.json["upload"]
    assert upload["fields"]["key"] == image["storageKey"]
    stored = app.api.call("GET", f"/images/{image['id']}", token=token)
    assert stored.status == 200 and stored.json["storageKey"] == image["storageKey"]

    # The file posted to that URL completes that image: nothing is an orphan.
    form = {**upload["fields"]}
    posted = requests.post(
        upload["url"], data=form, files={"file": ("holiday.png", png(), "image/png")}, timeout=10
    )
    assert posted.status_code in (200, 204), posted.text
    settle(app)
    done = app.api.call("GET", f"/images/{image['id']}", token=token).json
    assert done["status"] == "COMPLETED"
    assert len(check_books(app, token).images) == 1
    audit_end_state(app)
