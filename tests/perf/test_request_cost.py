"""AWS API calls per route and per event, counted exactly, so that a regression fails CI.

Every botocore client created during a test (the boto3 clients of ``imagegen.aws`` and
``imagegen.storage``, PynamoDB's own botocore client, the Powertools idempotency and parameters
clients) gets ``before-call.*.*`` and ``before-parameter-build.*.*`` hooks through
``botocore.session.Session.create_client``; the fixture forgets the process-wide client caches first
so the application builds its clients under observation. Calls count only inside ``measure()``,
around one request or one event of a warm container, so setup and the test's own clients never
count. ``before-call`` fires once per API call: a call that botocore retries counts once.

These are the billable requests of ``docs/performance.md`` (its request-cost table and the cost per
1,000 generations and uploads): when a number changes on purpose, change both. The capacity model's cost
table (``bench/request_costs.py``, ``COSTS``) is checked here too: each of its entries must be the calls
measured, so the model cannot drift from the code.
"""

# The fixtures of tests/api are imported by name, so test parameters named after them redefine them.
# ruff: noqa: F811
from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from PIL import Image as PILImage

from bench.request_costs import COSTS
from tests.api.conftest import SIGNING_KEY, Env, LambdaContext, app, handler  # noqa: F401 - fixture

# Authenticating a request: the caller's profile (roles, stats, signed-out sessions), one GetItem.
AUTH = {"dynamodb.GetItem": 1}
GENERATION_TX_ITEMS = 4  # image, storage alias, profile (balance, seq, counters), ledger entry
UPLOAD_TX_ITEMS = 3  # image, storage alias, profile counters (uploads cost 0 coins by default)


def plus(*parts: dict[str, int]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


class ApiCalls:
    """Counts API calls by ``service.Operation`` while measuring, and the items of each transaction."""

    def __init__(self) -> None:
        self._counting: Counter[str] | None = None
        self.transaction_sizes: list[int] = []

    def before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._counting is not None and model.name == "TransactWriteItems":
            self.transaction_sizes.append(len(params.get("TransactItems", [])))

    def before_call(self, model: Any, **_: Any) -> None:
        if self._counting is not None:
            self._counting[f"{model.service_model.service_name}.{model.name}"] += 1

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        counted: Counter[str] = Counter()
        self._counting, self.transaction_sizes = counted, []
        try:
            yield counted
        finally:
            self._counting = None

    def of(self, action: Callable[[], Any]) -> dict[str, int]:
        with self.measure() as counted:
            action()
        return dict(counted)


@pytest.fixture
def calls(app: Env, monkeypatch: pytest.MonkeyPatch) -> ApiCalls:
    from imagegen.bootstrap import reset_adapters
    from imagegen.persistence import binding

    counter = ApiCalls()
    create_client = botocore.session.Session.create_client

    def create_hooked_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", counter.before_parameter_build)
        client.meta.events.register("before-call.*.*", counter.before_call)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_hooked_client)
    # Clients are cached per process: start without any, so every client the application uses is hooked.
    monkeypatch.setattr(binding, "_connections", {})
    monkeypatch.setattr(binding, "_bound", {})
    reset_adapters()
    return counter


@pytest.fixture
def caller(app: Env, calls: ApiCalls) -> tuple[Any, str]:
    """A user with coins and a session, after one request: the container is warm."""
    user, token = app.user(coins=1000)
    assert app.api.call("GET", "/me", token=token).status == 200
    return user, token


def _png(width: int = 96, height: int = 64) -> bytes:
    out = io.BytesIO()
    PILImage.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def _sqs_event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _object_created(bucket: str, key: str, size: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Post",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}},
            }
        ]
    }


def _generate(env: Env, token: str, **headers: str) -> dict[str, Any]:
    reply = env.api.call("POST", "/images/generate", token=token, body={"prompt": "a cat"}, headers=headers)
    assert reply.status == 202, reply.raw
    body: dict[str, Any] = reply.json
    return body


def _upload(env: Env, token: str) -> dict[str, Any]:
    body = {"filename": "cat.png", "contentType": "image/png", "size": 2000}
    reply = env.api.call("POST", "/images/uploads", token=token, body=body)
    assert reply.status == 201, reply.raw
    image: dict[str, Any] = reply.json["image"]
    return image


def _in_one_rate_window(action: Callable[[], dict[str, int]]) -> dict[str, int]:
    """``action``'s count when it ran within one rate-limit minute (it is retried across a boundary)."""
    for _ in range(3):
        window = int(time.time() // 60)
        counted = action()
        if int(time.time() // 60) == window:
            return counted
    raise AssertionError("three minute boundaries in a row")


# ---- reads ---------------------------------------------------------------------------------------


def test_get_me_is_authentication_only(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    assert calls.of(lambda: app.api.call("GET", "/me", token=token)) == AUTH == COSTS["GET /me"].calls


def test_get_me_stats_is_authentication_only(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    # The counters are on the profile authentication read.
    assert calls.of(lambda: app.api.call("GET", "/me/stats", token=token)) == AUTH


def test_get_me_ledger_is_one_query(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    assert calls.of(lambda: app.api.call("GET", "/me/ledger", token=token)) == plus(
        AUTH, {"dynamodb.Query": 1}
    )


def test_list_images_is_one_query(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    _generate(app, token)
    for query in (None, {"type": "GENERATED"}, {"status": "PENDING", "limit": "5"}):
        counted = calls.of(lambda q=query: app.api.call("GET", "/images", token=token, query=q))
        assert counted == plus(AUTH, {"dynamodb.Query": 1}), query
        assert counted == COSTS["GET /images"].calls


def test_get_image_is_one_call_in_all(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    image = _generate(app, token)
    # Authentication included: the profile and the image in one BatchGetItem.
    counted = calls.of(lambda: app.api.call("GET", f"/images/{image['id']}", token=token))
    assert counted == {"dynamodb.BatchGetItem": 1} == COSTS["GET /images/{id}"].calls
    # Someone else's image, or none: the same one call, and a 404.
    _, other = app.user(coins=0)
    with calls.measure() as counted_foreign:
        assert app.api.call("GET", f"/images/{image['id']}", token=other).status == 404
    assert dict(counted_foreign) == {"dynamodb.BatchGetItem": 1}
    with calls.measure() as counted_missing:
        assert app.api.call("GET", f"/images/{uuid.uuid4()}", token=token).status == 404
    assert dict(counted_missing) == {"dynamodb.BatchGetItem": 1}


def test_admin_image_lists_query_every_partition_once(app: Env, calls: ApiCalls) -> None:
    """The all-images list and its status filter are merged from the write shards (plus the
    unsharded partition of images written before them, until the backfill is done)."""
    from imagegen.persistence.images import LEGACY_INDEX_READS
    from imagegen.persistence.keys import images_partitions

    _, admin_token = app.user(admin=True)
    _, token = app.user(coins=100)
    _generate(app, token)
    assert app.api.call("GET", "/me", token=admin_token).status == 200
    partitions = len(images_partitions(legacy=LEGACY_INDEX_READS))
    for query in (None, {"status": "PENDING"}, {"type": "UPLOADED", "status": "FAILED"}):
        counted = calls.of(lambda q=query: app.api.call("GET", "/admin/images", token=admin_token, query=q))
        assert counted == plus(AUTH, {"dynamodb.Query": partitions}) == COSTS["GET /admin/images"].calls, (
            query
        )


# ---- writes --------------------------------------------------------------------------------------


def test_generate_is_one_transaction_and_one_message(
    app: Env, calls: ApiCalls, caller: tuple[Any, str]
) -> None:
    _, token = caller

    def second_in_its_minute() -> dict[str, int]:
        _generate(app, token)  # opens this minute's rate-limit window
        return calls.of(lambda: _generate(app, token))

    counted = _in_one_rate_window(second_in_its_minute)
    assert counted == plus(
        AUTH,
        {"dynamodb.GetItem": 1},  # the profile: balance and ledger sequence for the optimistic update
        {"dynamodb.UpdateItem": 1},  # the rate-limit counter of this minute
        {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1},
    )
    assert calls.transaction_sizes == [GENERATION_TX_ITEMS]
    cost = COSTS["POST /images/generate"]
    assert (counted, tuple(calls.transaction_sizes)) == (cost.calls, cost.transaction_items)


def test_first_generation_in_a_minute_opens_the_rate_window(app: Env, calls: ApiCalls) -> None:
    def first_of_a_new_user() -> dict[str, int]:
        _, token = app.user(coins=100)
        assert app.api.call("GET", "/me", token=token).status == 200
        return calls.of(lambda: _generate(app, token))

    # The counter's UpdateItem fails its condition (no window yet, a failed write is still billed),
    # then a conditional PutItem starts the window.
    counted = _in_one_rate_window(first_of_a_new_user)
    assert counted == plus(
        AUTH,
        {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1, "dynamodb.PutItem": 1},
        {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1},
    )
    cost = COSTS["POST /images/generate (first in its minute)"]
    assert (counted, tuple(calls.transaction_sizes)) == (cost.calls, cost.transaction_items)


def test_generate_with_an_idempotency_key(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    key = str(uuid.uuid4())

    def keyed() -> dict[str, int]:
        _generate(app, token)  # opens this minute's rate-limit window
        return calls.of(lambda: _generate(app, token, **{"Idempotency-Key": key}))

    assert _in_one_rate_window(keyed) == plus(
        AUTH,
        {"dynamodb.GetItem": 1},  # the key's record: not there yet
        {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1},  # profile read, rate-limit counter
        {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1},  # the key is recorded in the transaction
    )
    # A replay: the key's record and the image it made; still PENDING, so its message is sent again.
    assert calls.of(lambda: _generate(app, token, **{"Idempotency-Key": key})) == plus(
        AUTH, {"dynamodb.GetItem": 2, "sqs.SendMessage": 1}
    )


def test_upload_is_one_transaction_and_no_storage_call(
    app: Env, calls: ApiCalls, caller: tuple[Any, str]
) -> None:
    _, token = caller

    def second_in_its_minute() -> dict[str, int]:
        _upload(app, token)  # opens this minute's rate-limit window
        return calls.of(lambda: _upload(app, token))

    # The presigned POST is signed locally: the browser's upload is the only S3 request.
    counted = _in_one_rate_window(second_in_its_minute)
    assert counted == plus(
        AUTH,
        {"dynamodb.UpdateItem": 1, "dynamodb.Query": 1},  # rate-limit counter, the pending uploads
        {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1},
    )
    assert calls.transaction_sizes == [UPLOAD_TX_ITEMS]
    cost = COSTS["POST /images/uploads"]
    assert (counted, tuple(calls.transaction_sizes)) == (cost.calls, cost.transaction_items)


def test_delete_image(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    image = _upload(app, token)
    counted = calls.of(lambda: app.api.call("DELETE", f"/images/{image['id']}", token=token))
    assert counted == plus(
        AUTH,
        # the visibility check with the image's collection count (handed on: not read again)
        {"dynamodb.BatchGetItem": 1},
        {"dynamodb.TransactWriteItems": 1},  # image, alias, owner's counters
        {"s3.DeleteObjects": 1},  # the original and the renditions its record names, one request
        # not COMPLETED: its rendition prefix is listed too (a thumbnailer may be writing renditions)
        {"s3.ListObjectsV2": 1},
    )
    assert calls.transaction_sizes == [3]


def test_admin_coins(app: Env, calls: ApiCalls) -> None:
    _, admin_token = app.user(admin=True)
    user, _ = app.user(coins=0)
    assert app.api.call("GET", "/me", token=admin_token).status == 200
    path = f"/admin/users/{user.id}/coins"

    def grant(**headers: str) -> None:
        reply = app.api.call(
            "POST", path, token=admin_token, body={"amount": 25, "reason": "promo"}, headers=headers
        )
        assert reply.status == 200, reply.raw

    change = plus(
        {"dynamodb.GetItem": 2},  # the target user exists; the profile for the optimistic update
        {"dynamodb.TransactWriteItems": 1},  # profile, ledger entry, OP guard (a server key without one)
    )
    assert calls.of(grant) == plus(AUTH, change)
    assert calls.transaction_sizes == [3]
    # With a key: the same calls, the key recorded by the same transaction.
    keyed = calls.of(lambda: grant(**{"Idempotency-Key": str(uuid.uuid4())}))
    assert keyed == plus(AUTH, change)


# ---- events --------------------------------------------------------------------------------------


def test_generator_event(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    user, token = caller
    image = _generate(app, token)
    message = {
        "kind": "generate_image",
        "image_id": image["id"],
        "user_id": user.id,
        "prompt": "a cat",
        "width": 256,
        "height": 256,
    }
    generator = handler("generator")
    counted = calls.of(lambda: generator(_sqs_event(message), LambdaContext()))
    assert counted == {
        "dynamodb.GetItem": 1,  # the image
        "dynamodb.UpdateItem": 1,  # PENDING -> PROCESSING, conditional
        "s3.HeadObject": 1,  # not stored by an earlier delivery
        "s3.PutObject": 1,  # the original
    }
    assert counted == COSTS["generator event"].calls


def test_thumbnailer_event(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    image = _upload(app, token)
    data = _png()
    boto3.client("s3").put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data)
    event = _sqs_event(_object_created(app.bucket, image["storageKey"], len(data)))
    thumbnailer = handler("thumbnailer")
    counted = calls.of(lambda: thumbnailer(event, LambdaContext()))
    assert counted == {
        # storage alias, then the image (both consistent); then the image's collection count, to bring
        # the collections it joined while PENDING in step (0 here: no Query of its memberships)
        "dynamodb.GetItem": 3,
        "s3.HeadObject": 1,  # the stored size, before downloading anything
        "s3.GetObject": 1,
        "s3.PutObject": 2,  # 256 px thumbnail and 1024 px preview
        "dynamodb.UpdateItem": 1,  # -> COMPLETED with the renditions, conditional
    }
    assert (
        counted == COSTS["thumbnailer event (upload)"].calls == COSTS["thumbnailer event (generation)"].calls
    )


def test_coin_ledger_refund(app: Env, calls: ApiCalls, caller: tuple[Any, str]) -> None:
    _, token = caller
    image = _generate(app, token)
    command = {
        "kind": "ledger_command",
        "command": "refund_image",
        "key": f"refund:{image['id']}",
        "image_id": image["id"],
        "reason": "provider_rejected",
    }
    ledger = handler("coin_ledger")
    counted = calls.of(lambda: ledger(_sqs_event(command), LambdaContext()))
    assert counted == {
        # The image (the service's finality check, handed to the repository) and the profile (the
        # "owner still there?" check, handed to the coin writer), once each.
        "dynamodb.GetItem": 2,
        "dynamodb.TransactWriteItems": 1,  # image -> FAILED, profile, refund entry, OP guard
        "s3.DeleteObjects": 1,  # whatever was stored for it
    }
    assert calls.transaction_sizes == [4]
    # A redelivery reads the image, sees it FAILED, refunds nothing, and deletes its objects again
    # (a crash may have come between the refund and the first delete).
    redelivered = calls.of(lambda: ledger(_sqs_event(command), LambdaContext()))
    assert redelivered == {"dynamodb.GetItem": 1, "s3.DeleteObjects": 1}


# ---- a cold container ----------------------------------------------------------------------------


def test_a_cold_container_reads_the_session_key_once(
    app: Env,
    calls: ApiCalls,
    caller: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deployed, the signing key is a Secrets Manager secret: one GetSecretValue per container."""
    from imagegen.bootstrap import reset_adapters

    _, token = caller
    name = f"session-{uuid.uuid4().hex}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=SIGNING_KEY)
    monkeypatch.setenv("SESSION_SECRET_NAME", name)
    monkeypatch.delenv("SESSION_SIGNING_KEY")
    reset_adapters()
    first = calls.of(lambda: app.api.call("GET", "/me", token=token))
    assert first == plus(AUTH, {"secretsmanager.GetSecretValue": 1})
    assert calls.of(lambda: app.api.call("GET", "/me", token=token)) == AUTH


def test_every_entry_of_the_cost_table_is_measured_here() -> None:
    """A new entry in bench/request_costs.py must come with a test above that checks its calls."""
    source = Path(__file__).read_text()
    for name in COSTS:
        assert f'COSTS["{name}"]' in source, f"{name!r} is not checked against the code"
