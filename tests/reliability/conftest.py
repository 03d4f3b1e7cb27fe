"""Shared tools of the reliability suite: snapshots, end-state audits, money checks, fault injection.

Everything runs on the same emulator and through the same handlers as ``tests/api`` (its ``app`` and
``configure`` fixtures are reused). Faults are injected with botocore event hooks on the clients the
application itself shares (PynamoDB's connection, ``imagegen.aws`` clients, the storage client), so
the code under test sees exactly the errors AWS would send, through its own error handling.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, Phase, settings
from PIL import Image as PILImage

from tests.api.conftest import Env, app, configure

__all__ = ["app", "configure"]

CONTRACT_FAILURE_REASONS = frozenset(
    {"not_an_image", "unsupported_format", "too_large", "decompression_bomb"}
)
IMAGE_CHARGES = frozenset({"image_generation", "image_upload"})

# ---- Hypothesis profiles for the stateful money test ---------------------------------------------
# "reliability-ci" keeps the run near a minute on two cores; "reliability-deep" is for a longer hunt:
#   RELIABILITY_PROFILE=reliability-deep pytest tests/reliability/test_money_stateful.py
settings.register_profile(
    "reliability-ci",
    max_examples=10,
    stateful_step_count=20,
    deadline=None,
    # No shrinking in CI: a failure prints its whole (short) step list at once; run the deep profile
    # to get it shrunk. Each replay costs seconds on the emulator.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile(
    "reliability-deep",
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)


# ---- images made with Pillow -----------------------------------------------------------------------
def photo(width: int, height: int, mode: str = "RGB") -> PILImage.Image:
    """Photo-like content (gradients in three channels), converted to ``mode``."""
    r = PILImage.linear_gradient("L").resize((width, height))
    g = PILImage.radial_gradient("L").resize((width, height))
    b = r.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)
    image = PILImage.merge("RGB", (r, g, b))
    return image if mode == "RGB" else image.convert(mode)


def encode(image: PILImage.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png(width: int = 64, height: int = 48) -> bytes:
    return encode(photo(width, height), "PNG")


# ---- reading the world -----------------------------------------------------------------------------
_deserializer = TypeDeserializer()


def scan(table: str) -> list[dict[str, Any]]:
    """Every item of the table as plain values (tests only: nothing on a request path scans)."""
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += [{k: _deserializer.deserialize(v) for k, v in raw.items()} for raw in page["Items"]]
    return items


def bucket_objects(bucket: str) -> dict[str, tuple[str, int]]:
    """key -> (ETag, size) of every object in the bucket."""
    s3 = boto3.client("s3")
    found: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (obj["ETag"], obj["Size"])
    return found


def snapshot(app: Env) -> tuple[list[tuple[Any, ...]], dict[str, tuple[str, int]]]:
    """The table's items (sorted, comparable) and the bucket's objects: equal snapshots = no change."""
    items = sorted(tuple(sorted((k, repr(v)) for k, v in item.items())) for item in scan(app.table))
    return items, bucket_objects(app.bucket)


def pages(app: Env, token: str, path: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list route."""
    found: list[dict[str, Any]] = []
    params = {"limit": "100", **(query or {})}
    while True:
        reply = app.api.call("GET", path, token=token, query=params)
        assert reply.status == 200, reply.raw
        found += reply.json["items"]
        if not reply.json["nextCursor"]:
            return found
        params = {**params, "cursor": reply.json["nextCursor"]}


@dataclass
class Books:
    """One user's money as the API shows it, after checking the contract's invariants on it."""

    coins: int
    ledger: list[dict[str, Any]]  # oldest first
    stats: dict[str, int]
    images: list[dict[str, Any]]

    @property
    def charged(self) -> dict[str, int]:
        return {e["imageId"]: -e["amount"] for e in self.ledger if e["reason"] in IMAGE_CHARGES}

    @property
    def refunded(self) -> dict[str, int]:
        return {e["imageId"]: e["amount"] for e in self.ledger if e["reason"] == "refund"}


def check_books(app: Env, token: str) -> Books:
    """The money invariants of one live user, read through the API:

    balance == sum(ledger), >= 0 unless a purchase_reversal took it lower; the entries' balanceAfter
    form an unbroken running balance; purchases credited and reversed at most once, in that order;
    totalCoinsUsed == coins charged for images net of refunds (from the ledger); the stats count the
    user's existing images; every image charge and refund names an image, once; a paid FAILED image
    was refunded and no other image was."""
    me = app.api.call("GET", "/me", token=token)
    assert me.status == 200, me.raw
    coins = me.json["coins"]
    ledger = pages(app, token, "/me/ledger")[::-1]
    stats = app.api.call("GET", "/me/stats", token=token).json
    images = pages(app, token, "/images")
    # Below zero only after a purchase_reversal of coins already spent (a credit may leave it there).
    assert coins >= 0 or any(e["reason"] == "purchase_reversal" for e in ledger), ledger
    assert coins == sum(e["amount"] for e in ledger), ledger
    running = 0
    for entry in ledger:
        running += entry["amount"]
        assert entry["balanceAfter"] == running, ledger
        assert running >= 0 or entry["reason"] == "purchase_reversal" or entry["amount"] > 0, ledger
    check_purchase_entries(ledger)
    charges = [e for e in ledger if e["reason"] in IMAGE_CHARGES]
    refunds = [e for e in ledger if e["reason"] == "refund"]
    assert all(e["imageId"] for e in charges + refunds), ledger
    assert len({e["imageId"] for e in charges}) == len(charges), "an image was charged twice"
    assert len({e["imageId"] for e in refunds}) == len(refunds), "an image was refunded twice"
    books = Books(coins, ledger, stats, images)
    for image_id, amount in books.refunded.items():
        assert books.charged.get(image_id) == amount, (image_id, ledger)
    assert stats["totalCoinsUsed"] == sum(books.charged.values()) - sum(books.refunded.values())
    assert stats["totalImages"] == len(images)
    assert stats["generatedImages"] == sum(i["type"] == "GENERATED" for i in images)
    assert stats["uploadedImages"] == sum(i["type"] == "UPLOADED" for i in images)
    for image in images:
        assert image["coinsUsed"] == books.charged.get(image["id"], 0), image
        refunded = image["id"] in books.refunded
        assert refunded == (image["status"] == "FAILED" and image["coinsUsed"] > 0), (image, ledger)
    return books


def check_purchase_entries(ledger: list[dict[str, Any]]) -> None:
    """Each purchase credited at most once, reversed at most once and only after its credit."""
    credits: dict[str, int] = {}
    for position, entry in enumerate(ledger):
        if entry["reason"] == "purchase":
            assert entry["purchaseId"] and entry["amount"] > 0, entry
            assert entry["purchaseId"] not in credits, f"purchase credited twice: {ledger}"
            credits[entry["purchaseId"]] = position
    reversed_: set[str] = set()
    for position, entry in enumerate(ledger):
        if entry["reason"] == "purchase_reversal":
            purchase_id = entry["purchaseId"]
            assert purchase_id not in reversed_, f"purchase reversed twice: {ledger}"
            assert credits.get(purchase_id, len(ledger)) < position, f"reversed before its credit: {ledger}"
            assert -entry["amount"] == ledger[credits[purchase_id]]["amount"], ledger
            reversed_.add(purchase_id)


def settle(app: Env) -> None:
    """Everything the platform would eventually do: deliver every message, then sweep as the
    scheduled sweeper would after the stuck-image threshold, and deliver what that caused."""
    from imagegen.bootstrap import sweeper

    app.pipeline.drain()
    sweeper(app.ctx).run(now=datetime.now(UTC) + timedelta(hours=2))
    app.pipeline.drain()


def audit_end_state(
    app: Env, *, user_ids: set[str] | None = None, deleted: set[str] | frozenset[str] = frozenset()
) -> dict[str, int]:
    """After ``settle``: every image is COMPLETED or FAILED; a paid FAILED image has exactly one refund;
    every object belongs to an existing, non-failed image (no orphan), a COMPLETED image has its
    original and both renditions; every image charge has its image, a refund, or was for an image its
    owner deleted (``deleted``). ``user_ids`` limits the audit to those users' data.
    Returns the count of images by status."""
    from imagegen.storage import rendition_image_id

    def ours(user_id: object) -> bool:
        return user_ids is None or user_id in user_ids

    items = scan(app.table)
    images = {i["id"]: i for i in items if i.get("entity") == "IMAGE" and ours(i["user_id"])}
    ledger = [i for i in items if i.get("entity") == "LEDGER" and ours(i["user_id"])]
    refunds: dict[str, list[int]] = {}
    for entry in ledger:
        if entry["reason"] == "refund":
            refunds.setdefault(entry["image_id"], []).append(int(entry["amount"]))
    statuses: dict[str, int] = {}
    wanted: set[str] = set()
    for image in images.values():
        status = image["status"]
        statuses[status] = statuses.get(status, 0) + 1
        assert status in ("COMPLETED", "FAILED"), image
        paid = int(image["coins_used"])
        if status == "FAILED":
            assert refunds.get(image["id"], []) == ([paid] if paid else []), image
        else:
            assert image["id"] not in refunds, image
            preview = json.loads(image["metadata"]).get("previewKey")
            wanted |= {image["storage_key"], image["thumbnail_key"], preview}
    # Originals are {prefix}/{userId}/{name}; renditions {prefix}/{imageId}/{version}-{size}.webp (an
    # image of ours, or of nobody's: an orphan of any user shows up when the audit covers everyone).
    owners = {i["id"]: i["user_id"] for i in items if i.get("entity") == "IMAGE"}

    def owner(key: str) -> object:
        image_id = rendition_image_id(key)
        if image_id is not None:
            return owners.get(image_id, None if user_ids is None else "")
        return key.partition("/")[2].partition("/")[0]

    objects = {key for key in bucket_objects(app.bucket) if ours(owner(key))}
    assert objects <= wanted, f"orphan objects: {sorted(objects - wanted)}"
    assert wanted <= objects, f"missing objects: {sorted(wanted - objects)}"
    for entry in ledger:
        if entry["reason"] in IMAGE_CHARGES:
            image_id = entry.get("image_id")
            assert image_id in images or image_id in refunds or image_id in deleted, (
                f"charge without an image: {entry}"
            )
    return statuses


# ---- fault injection ---------------------------------------------------------------------------------
class SimulatedCrash(RuntimeError):
    """The process died at this point (raised after a call succeeded, so its effect is kept)."""


@dataclass
class Fault:
    """One injected failure rule; ``hits`` counts the calls it failed."""

    operation: str
    code: str
    status: int
    times: int | None
    match: Callable[[dict[str, Any]], bool] | None
    probability: float
    after: bool
    rng: random.Random
    hits: int = 0
    seen: int = 0
    enabled: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, params: dict[str, Any]) -> bool:
        with self.lock:
            if not self.enabled or (self.match is not None and not self.match(params)):
                return False
            self.seen += 1
            if self.times is not None and self.hits >= self.times:
                return False
            if self.probability < 1 and self.rng.random() >= self.probability:
                return False
            self.hits += 1
            return True


class Faults:
    """botocore hooks on the application's shared clients. Every hook is removed at teardown."""

    def __init__(self, app: Env) -> None:
        self.app = app
        self._hooks: list[tuple[Any, str, str]] = []
        self._ids = itertools.count()
        # Fixed by default so a failure replays; RELIABILITY_FAULT_SEED explores other schedules.
        self.rng = random.Random(int(os.environ.get("RELIABILITY_FAULT_SEED", "20261126")))

    # The clients the application uses (created on first use and shared, like in a warm Lambda).
    def dynamodb(self) -> Any:
        return self.app.ctx.repos.models.connection.client

    def s3(self) -> Any:
        return self.app.ctx.storage.client

    def sqs(self) -> Any:
        from imagegen import aws

        return aws.client("sqs")

    def _on(self, client: Any, event: str, handler: Callable[..., Any]) -> None:
        unique = f"reliability-fault-{next(self._ids)}"
        client.meta.events.register(event, handler, unique_id=unique)
        self._hooks.append((client, event, unique))

    def fail(
        self,
        client: Any,
        operation: str,
        code: str = "ServiceUnavailable",
        *,
        status: int = 503,
        times: int | None = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
        probability: float = 1.0,
        after: bool = False,
        details: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Fault:
        """Make ``operation`` fail with AWS error ``code``: the first ``times`` matching calls (None:
        every one), each with ``probability``. ``after=True`` lets the call reach AWS first and then
        fails it (the effect is kept, the caller sees an error: a timeout after the write).
        ``details(params)`` adds members to the error response (e.g. ``CancellationReasons``)."""
        fault = Fault(operation, code, status, times, match, probability, after, self.rng)
        service = client.meta.service_model.service_id.hyphenize()

        def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["reliability_params"] = params

        def error_response(context: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
            parsed: dict[str, Any] = {
                "Error": {"Code": code, "Message": "injected fault"},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
            }
            if details is not None:
                parsed.update(details(context.get("reliability_params", {})))
            return AWSResponse("https://fault.invalid/", status, {}, None), parsed

        def before(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            if fault.after or not fault.decide(context.get("reliability_params", {})):
                return None
            return error_response(context)

        def after_call(context: dict[str, Any], **_: Any) -> None:
            if not fault.after or not fault.decide(context.get("reliability_params", {})):
                return
            if code == SimulatedCrash.__name__:
                raise SimulatedCrash(f"crash after {operation}")
            raise client.exceptions.from_code(code)(error_response(context)[1], operation)

        self._on(client, f"before-parameter-build.{service}.{operation}", remember)
        self._on(client, f"before-call.{service}.{operation}", before)
        self._on(client, f"after-call.{service}.{operation}", after_call)
        return fault

    def crash_after(
        self,
        client: Any,
        operation: str,
        *,
        times: int = 1,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """The call succeeds, then the process dies (SimulatedCrash) before it can go on."""
        return self.fail(client, operation, SimulatedCrash.__name__, times=times, match=match, after=True)

    def before(self, client: Any, operation: str, action: Callable[[dict[str, Any]], None]) -> None:
        """Run ``action(params)`` just before each ``operation`` call leaves (to race it)."""
        service = client.meta.service_model.service_id.hyphenize()
        self._on(client, f"before-parameter-build.{service}.{operation}", lambda params, **_: action(params))

    def clear(self) -> None:
        while self._hooks:
            client, event, unique = self._hooks.pop()
            client.meta.events.unregister(event, unique_id=unique)


@pytest.fixture
def faults(app: Env) -> Iterator[Faults]:
    injected = Faults(app)
    try:
        yield injected
    finally:
        injected.clear()
