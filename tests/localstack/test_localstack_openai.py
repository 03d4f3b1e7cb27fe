"""``IMAGE_PROVIDER=openai`` end to end on the local stack: the application's template, the generator
calling the OpenAI Images API stand-in (``/_local/openai/v1/images/...``) over HTTP with the key the
stack put in the template's secret, images completing with their options, a variation through
``/images/edits``, and a content-policy refusal ending FAILED with its refund."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.localstack.conftest import ROOT, RunningStack, request, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def openai_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("openai"),
        template=ROOT / "template.yaml",
        env={
            "IMAGE_PROVIDER": "openai",
            "OPENAI_IMAGE_MODEL": "gpt-image-1",
            "GENERATION_COST": "10",
            "GENERATION_COST_PREMIUM": "25",
            "SIGNUP_BONUS_COINS": "100",
        },
        timeout=90,
    )
    yield running
    assert running.stop() == 0, running.output()


def _token(stack: RunningStack, email: str) -> str:
    reply = stack.get(f"/_local/token?email={email}")
    assert reply.status == 200, reply.body
    return str(reply.json()["token"])


def _call(stack: RunningStack, method: str, path: str, token: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    reply = stack.call(method, path, headers=headers, body=data, timeout=30)
    return reply.status, (reply.json() if reply.body else None)


def _settled(stack: RunningStack, token: str, image_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, image = _call(stack, "GET", f"/images/{image_id}", token)
        assert status == 200
        if image["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            return dict(image)
        time.sleep(0.3)


def test_options_name_the_openai_model(openai_stack: RunningStack) -> None:
    reply = openai_stack.get("/generation/options")
    assert reply.status == 200 and reply.header("cache-control") == "public, max-age=60"
    options = reply.json()
    assert (options["provider"], options["model"]) == ("openai", "gpt-image-1")
    assert options["costs"] == {"standard": 10, "premium": 25}
    assert options["supports"]["seed"] is False and options["supports"]["variations"] is True


def test_generation_and_variation_through_the_openai_standin(openai_stack: RunningStack) -> None:
    token = _token(openai_stack, "openai-user@example.com")
    status, image = _call(
        openai_stack,
        "POST",
        "/images/generate",
        token,
        {"prompt": "a lighthouse at dusk", "width": 1024, "height": 576, "quality": "premium"},
    )
    assert status == 202, image
    assert image["coinsUsed"] == 25
    assert image["generation"] == {
        "provider": "openai",
        "model": "gpt-image-1",
        "style": None,
        "seed": None,
        "negativePrompt": None,
        "quality": "premium",
        "strength": None,
    }
    done = _settled(openai_stack, token, image["id"])
    assert done["status"] == "COMPLETED", done
    assert (done["metadata"]["width"], done["metadata"]["height"]) == (1024, 576)
    original = request("GET", done["storageUrl"])  # the emulator's storage, on loopback
    assert original.status == 200
    assert Image.open(io.BytesIO(original.body)).size == (1024, 576)

    asked = openai_stack.get("/_local/openai/requests").json()["requests"]
    assert asked[-1]["endpoint"] == "generations" and asked[-1]["size"] == "1536x1024"
    assert asked[-1]["quality"] == "high"

    status, variation = _call(openai_stack, "POST", f"/images/{image['id']}/variations", token, {})
    assert status == 202, variation
    assert variation["sourceImageId"] == image["id"] and variation["coinsUsed"] == 10
    finished = _settled(openai_stack, token, variation["id"])
    assert finished["status"] == "COMPLETED", finished
    asked = openai_stack.get("/_local/openai/requests").json()["requests"]
    assert asked[-1]["endpoint"] == "edits" and asked[-1]["image"] is True

    status, refused = _call(openai_stack, "POST", "/images/generate", token, {"prompt": "x", "seed": 5})
    assert status == 422 and refused["errors"][0]["field"] == "seed"
    status, me = _call(openai_stack, "GET", "/me", token)
    assert me["coins"] == 100 - 25 - 10


def test_a_content_policy_refusal_fails_the_image_with_its_refund(openai_stack: RunningStack) -> None:
    token = _token(openai_stack, "openai-refused@example.com")
    status, image = _call(
        openai_stack, "POST", "/images/generate", token, {"prompt": "[[openai:content_policy]] not this"}
    )
    assert status == 202
    failed = _settled(openai_stack, token, image["id"])
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "content_filtered")
    deadline = time.monotonic() + 30
    while True:
        _, me = _call(openai_stack, "GET", "/me", token)
        if me["coins"] == 100 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert me["coins"] == 100
    _, ledger = _call(openai_stack, "GET", "/me/ledger", token)
    reasons = [entry["reason"] for entry in ledger["items"]]
    assert reasons.count("refund") == 1 and reasons.count("image_generation") == 1
