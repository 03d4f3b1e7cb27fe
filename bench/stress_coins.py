"""Concurrency stress on ONE user's balance, through the local stack over real HTTP.

    .venv/bin/python bench/stress_coins.py [--clients 50] [--requests 300] [--max-seconds 60]
                                           [--settle-seconds 120] [--seed 1] [--json PATH]

A stack is started with GENERATION_COST=7, UPLOAD_COST=3, SIGNUP_BONUS_COINS=100 and a generation rate
limit no client reaches. One user signs in through the Google stand-in; an admin too. Then ``--clients``
threads, each with its own keep-alive connection, work through a planned list of requests:

1. drain: a fifth of the requests are plain generations on the fresh balance of 100: exactly
   100 // 7 = 14 must succeed (202), every other one must be 402, and 100 % 7 = 2 coins must be left;
2. mix: the admin grants coins, then everything at once: generations (some sharing a few
   Idempotency-Keys, a few reusing a key with another body), generations that fail for good
   (``[[fail:permanent]]`` in the prompt: FAILED with a refund), uploads of a real PNG and of text
   (FAILED ``not_an_image`` with a refund), admin grants and debits, coin purchases paid on the Stripe
   stand-in's page (each webhook delivered twice), some of them refunded afterwards (a
   ``purchase_reversal`` that may take the balance below zero: the only way there).

New requests stop at ``--requests`` or after ``--max-seconds``, whichever comes first (those in flight
then end within the gateway's 30 s integration timeout, so the request phase stays within 90 s).
Then the pipeline settles (every image COMPLETED or FAILED, bounded by ``--settle-seconds``) and the
books are audited:

- no balance below zero anywhere (ledger, admin answers, 402 answers) except through a
  ``purchase_reversal`` (a credit may leave it there, nothing else may take it there);
- every paid purchase credited exactly once, every refunded one reversed exactly once after its credit;
- the final balance is the sum of the ledger, and ``balanceAfter`` chains exactly from the first entry;
- one charge per image created, none for a 402, none twice; one response image per Idempotency-Key;
- every image COMPLETED, or FAILED with exactly one refund of its coins (never two, none when completed);
- the images listed are exactly those the 2xx answers named; every 4xx is a contract problem.

Prints a summary (requests, statuses, p50/p99 latency per kind, elapsed) and each violation; writes
JSON (default bench/results/stress.json); exits 1 on any violation. ``run()`` is the same core for the
CI-sized test (tests/fuzz/test_stress.py).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import queue
import random
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ADMIN_EMAIL, Stack, request, start_stack  # noqa: E402

GENERATION_COST = 7
UPLOAD_COST = 3
SIGNUP_BONUS = 100
SIDE = 256  # small images: the pipeline's work stays light next to the API's
SHARED_KEYS = 6
PROBLEM_CODES = frozenset(
    {
        "validation_error",
        "invalid_json",
        "invalid_cursor",
        "unauthorized",
        "insufficient_coins",
        "forbidden",
        "not_found",
        "idempotency_key_reused",
        "rate_limited",
        "payload_too_large",
        "image_not_ready",
        "conflict",
        "already_exists",
    }
)
# The mix phase: (kind, weight).
MIX = [
    ("generate", 38),
    ("generate_shared", 14),
    ("generate_conflict", 3),
    ("generate_fail", 10),
    ("upload_png", 10),
    ("upload_text", 5),
    ("admin_grant", 11),
    ("admin_debit", 9),
    ("buy", 4),
    ("buy_refund", 2),
]
PACK = "small"


@dataclass
class Settings:
    clients: int = 50
    requests: int = 300
    max_seconds: float = 60.0  # new requests stop then; those in flight end within the gateway's 30 s
    settle_seconds: float = 120.0
    seed: int = 1
    initial_grant: int = 400


@dataclass
class Op:
    index: int
    phase: str
    kind: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    key: str | None = None
    upload: bytes | None = None  # the file to post to the presigned URL after a 201


@dataclass
class Result:
    op: Op
    status: int
    latency_ms: float
    body: Any = None
    error: str | None = None
    upload_status: int | None = None
    pay_status: int | None = None  # the stand-in's checkout page (303 once paid)
    refund_status: int | None = None


@dataclass
class Report:
    settings: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    elapsed_seconds: dict[str, float] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    stack_log: list[str] = field(default_factory=list, repr=False)

    def violate(self, message: str) -> None:
        if len(self.violations) < 200:
            self.violations.append(message)


# ---- HTTP: one keep-alive connection per client ----------------------------------------------------
class Client:
    """One keep-alive connection. ``quickack`` re-arms TCP_QUICKACK before each response (Linux): a
    server that writes a response's headers and body in two sends without TCP_NODELAY (the local
    gateway did, see docs/performance.md, "The local stack") otherwise makes the body wait for this side's
    delayed ACK, about 40 ms a request."""

    def __init__(self, base_url: str, token: str, *, quickack: bool = True) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.token = token
        self.quickack = quickack and hasattr(socket, "TCP_QUICKACK")
        self.connection: http.client.HTTPConnection | None = None

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = {"accept": "application/json", "authorization": f"Bearer {self.token}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            self.connection.request(method, path, body=data, headers=hdrs)
            if self.quickack and self.connection.sock is not None:
                self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            response = self.connection.getresponse()
            payload = response.read()
        except Exception:
            self.close()
            raise
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            self.close()
        return response.status, headers_out, payload

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 91) % 256, 128)).save(out, "PNG")
    return out.getvalue()


def multipart_form(fields: dict[str, str], data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = f"----stress{uuid.uuid4().hex}"
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


# ---- the plan ----------------------------------------------------------------------------------------
def plan(settings: Settings, user_id: str) -> tuple[list[Op], list[Op]]:
    rng = random.Random(settings.seed)
    drain_count = max(settings.requests // 5, SIGNUP_BONUS // GENERATION_COST + 2)
    drain = [
        Op(
            i,
            "drain",
            "generate",
            "POST",
            "/images/generate",
            {"prompt": f"drain {i}", "width": SIDE, "height": SIDE},
        )
        for i in range(drain_count)
    ]
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    mix: list[Op] = []
    for i in range(drain_count, settings.requests):
        kind = rng.choices(kinds, weights)[0]
        size = {"width": SIDE, "height": SIDE}
        shared = f"stress-{settings.seed}-shared-{rng.randrange(SHARED_KEYS)}"
        if kind == "generate":
            op = Op(i, "mix", kind, "POST", "/images/generate", {"prompt": f"mix {i}", **size})
        elif kind == "generate_shared":
            op = Op(
                i, "mix", kind, "POST", "/images/generate", {"prompt": f"shared {shared}", **size}, shared
            )
        elif kind == "generate_conflict":
            op = Op(i, "mix", kind, "POST", "/images/generate", {"prompt": f"other {i}", **size}, shared)
        elif kind == "generate_fail":
            body = {"prompt": f"[[fail:permanent]] mix {i}", **size}
            op = Op(i, "mix", kind, "POST", "/images/generate", body)
        elif kind in ("upload_png", "upload_text"):
            data = _png(i) if kind == "upload_png" else b"plain text, not a picture\n" * 8
            body = {"filename": f"stress-{i}.png", "contentType": "image/png", "size": len(data)}
            op = Op(i, "mix", kind, "POST", "/images/uploads", body, upload=data)
        elif kind in ("buy", "buy_refund"):
            op = Op(i, "mix", kind, "POST", "/shop/checkout", {"packId": PACK})
        else:
            amount = rng.randint(1, 80) if kind == "admin_grant" else -rng.randint(1, 60)
            body = {"amount": amount, "reason": f"stress {kind} {i}"}
            op = Op(
                i, "mix", kind, "POST", f"/admin/users/{user_id}/coins", body, f"stress-{settings.seed}-{i}"
            )
        mix.append(op)
    return drain, mix


# ---- running a phase --------------------------------------------------------------------------------
def run_phase(
    stack: Stack, ops: list[Op], tokens: dict[str, str], clients: int, deadline: float
) -> list[Result]:
    work: queue.Queue[Op] = queue.Queue()
    for op in ops:
        work.put(op)
    results: list[Result] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def worker() -> None:
        by_role = {role: Client(stack.url, token) for role, token in tokens.items()}
        try:
            start.wait(30)
            while time.monotonic() < deadline:
                try:
                    op = work.get_nowait()
                except queue.Empty:
                    return
                result = _send(stack, by_role["admin" if op.kind.startswith("admin") else "user"], op)
                with lock:
                    results.append(result)
        finally:
            for client in by_role.values():
                client.close()

    threads = [threading.Thread(target=worker, name=f"client-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline - time.monotonic() + 90))
    with lock:
        return list(results)


def _send(stack: Stack, client: Client, op: Op) -> Result:
    headers = {"idempotency-key": op.key} if op.key else {}
    started = time.monotonic()
    try:
        status, _, payload = client.call(op.method, op.path, op.body, headers)
    except Exception as exc:  # a dropped connection is a finding, not a crash of the bench
        return Result(op, 0, (time.monotonic() - started) * 1000, error=f"{type(exc).__name__}: {exc}")
    latency = (time.monotonic() - started) * 1000
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = payload[:200].decode("utf-8", "replace")
    result = Result(op, status, latency, body)
    if op.upload is not None and status == 201 and isinstance(body, dict):
        upload = body["upload"]
        form, form_type = multipart_form(upload["fields"], op.upload, "image/png")
        try:
            result.upload_status = request(
                "POST", upload["url"], headers={"content-type": form_type}, body=form
            ).status
        except Exception as exc:
            result.error = f"presigned POST: {type(exc).__name__}: {exc}"
    if op.kind in ("buy", "buy_refund") and status == 201 and isinstance(body, dict):
        try:
            result.pay_status = request("GET", body["checkoutUrl"] + "?outcome=paid").status
            if op.kind == "buy_refund":
                purchase_id = body["purchase"]["id"]
                result.refund_status = request(
                    "POST", f"{stack.url}/_local/stripe/refund/{purchase_id}"
                ).status
        except Exception as exc:
            result.error = f"stripe stand-in: {type(exc).__name__}: {exc}"
    return result


# ---- reading the end state ---------------------------------------------------------------------------
def _pages(stack: Stack, token: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        reply = stack.call("GET", path, token=token, query=query)
        if reply.status != 200:
            raise RuntimeError(f"GET {path}?{urlencode(query)} -> {reply.status}: {reply.body[:200]!r}")
        page = reply.json()
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items
    raise RuntimeError(f"{path}: more than 1000 pages")


def settle(stack: Stack, token: str, seconds: float, uploads: set[str]) -> tuple[list[dict[str, Any]], float]:
    """All the user's images once none is PENDING or PROCESSING (or the deadline passed). An upload
    whose creation was never answered never got its file: it stays PENDING and is not waited for."""
    started = time.monotonic()
    while True:
        images = _pages(stack, token, "/images")
        busy = [
            i
            for i in images
            if i["status"] not in ("COMPLETED", "FAILED") and (i["type"] == "GENERATED" or i["id"] in uploads)
        ]
        if not busy or time.monotonic() - started > seconds:
            return images, time.monotonic() - started
        time.sleep(0.5)


def settle_purchases(stack: Stack, token: str, mix: list[Result], seconds: float) -> float:
    """Wait until every purchase paid on the stand-in is PAID, or REVERSED when it was refunded: the
    stand-in delivers its webhooks from its own thread, after the page answered."""
    wanted = {
        r.body["purchase"]["id"]: "REVERSED" if r.refund_status == 200 else "PAID"
        for r in mix
        if r.op.kind.startswith("buy") and r.pay_status == 303
    }
    started = time.monotonic()
    while wanted and time.monotonic() - started < seconds:
        found = {p["id"]: p["status"] for p in _pages(stack, token, "/me/purchases")}
        if all(found.get(pid) == status for pid, status in wanted.items()):
            break
        time.sleep(0.5)
    return time.monotonic() - started


# ---- the audit ----------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _audit_purchases(v: Any, results: list[Result], entries: list[dict[str, Any]]) -> None:
    """Each purchase paid on the stand-in credited once; each refunded one reversed once, after it."""
    paid = {
        r.body["purchase"]["id"]: r for r in results if r.op.kind.startswith("buy") and r.pay_status == 303
    }
    credits = Counter(e["purchaseId"] for e in entries if e["reason"] == "purchase")
    reversals = Counter(e["purchaseId"] for e in entries if e["reason"] == "purchase_reversal")
    position = {e["purchaseId"]: n for n, e in enumerate(entries) if e["reason"] == "purchase"}
    for purchase_id, result in paid.items():
        if credits[purchase_id] != 1:
            v(f"purchase {purchase_id} credited {credits[purchase_id]} times")
        wanted = 1 if result.refund_status == 200 else 0
        if reversals[purchase_id] != wanted:
            v(f"purchase {purchase_id} reversed {reversals[purchase_id]} times, expected {wanted}")
    for n, e in enumerate(entries):
        if e["reason"] == "purchase_reversal" and position.get(e["purchaseId"], n) >= n:
            v(f"ledger #{n}: purchase {e['purchaseId']} reversed before its credit")
    for purchase_id in set(credits) - set(paid):
        v(f"purchase {purchase_id} credited without a payment")


def audit(
    report: Report,
    drain: list[Result],
    mix: list[Result],
    grant: dict[str, Any],
    ledger: list[dict[str, Any]],
    images: list[dict[str, Any]],
    final_coins: int,
    function_timeouts: int,
) -> None:
    """Record every broken invariant in ``report``.

    A request answered 5xx, or not within the client's 60 s, has an unknown outcome: it may have
    created (and charged) one image. The books must still balance; such images are allowed, never more
    than there were unknown outcomes, and an upload that never got its URL may stay PENDING. A 5xx is
    a violation unless the gateway logged a function timeout for it, and a dropped connection always
    is; timeouts are the local stack's capacity under this load, counted apart."""
    v = report.violate
    results = drain + mix
    unknown = [r for r in results if r.error or r.status >= 500]
    reversed_any = any(e["reason"] == "purchase_reversal" for e in ledger)

    # Transport, 5xx and problem documents.
    for r in results:
        if r.error and "TimeoutError" not in r.error:
            v(f"#{r.op.index} {r.op.kind}: {r.error}")
        if 400 <= r.status < 500 and not (isinstance(r.body, dict) and r.body.get("code") in PROBLEM_CODES):
            v(f"#{r.op.index} {r.op.kind}: {r.status} without a contract problem: {r.body}")
        if (
            r.status == 402
            and isinstance(r.body, dict)
            and r.body.get("available", 0) < 0
            and not reversed_any
        ):
            v(f"#{r.op.index}: 402 says the balance is {r.body.get('available')}")
        if (
            r.op.kind.startswith("admin")
            and r.status == 200
            and r.body["user"]["coins"] < 0
            and not reversed_any
        ):
            v(f"#{r.op.index}: an admin answer shows coins {r.body['user']['coins']}")
        if r.op.kind.startswith("buy") and r.status == 201 and r.pay_status != 303:
            v(f"#{r.op.index}: the stand-in's checkout page answered {r.pay_status}")
        if r.op.upload is not None and r.status == 201 and r.upload_status not in (200, 201, 204):
            v(f"#{r.op.index}: the presigned POST answered {r.upload_status}")
    server_errors = [r for r in results if r.status >= 500]
    if len(server_errors) > function_timeouts:
        for r in server_errors:
            v(f"#{r.op.index} {r.op.kind}: {r.status} {r.body} ({function_timeouts} timeouts logged)")

    # Phase 1: exactly balance // cost generations succeed on the fresh balance.
    expected = min(len(drain), SIGNUP_BONUS // GENERATION_COST)
    drained = Counter(r.status for r in drain)
    if not any(r in unknown for r in drain) and (
        drained[202] != expected or drained[402] != len(drain) - expected
    ):
        v(f"drain: expected {expected} x 202 and {len(drain) - expected} x 402, got {dict(drained)}")

    # The ledger: oldest first, an exact running balance, never below zero.
    entries = list(reversed(ledger))
    running = 0
    for n, e in enumerate(entries):
        running += e["amount"]
        if e["balanceAfter"] != running:
            v(f"ledger #{n} ({e['reason']} {e['amount']:+d}): balanceAfter {e['balanceAfter']} != {running}")
            running = e["balanceAfter"]
        if e["balanceAfter"] < 0 and e["reason"] != "purchase_reversal" and e["amount"] < 0:
            v(f"ledger #{n}: {e['reason']} took balanceAfter to {e['balanceAfter']} < 0")
    if final_coins != sum(e["amount"] for e in entries):
        v(f"final balance {final_coins} != sum of the ledger {sum(e['amount'] for e in entries)}")
    if final_coins < 0 and not reversed_any:
        v(f"final balance {final_coins} < 0 without a purchase_reversal")
    _audit_purchases(v, results, entries)
    if not entries or entries[0]["reason"] != "signup_bonus" or entries[0]["amount"] != SIGNUP_BONUS:
        v(f"the first entry is not the signup bonus: {entries[:1]}")
    if [e["reason"] for e in entries].count("signup_bonus") != 1:
        v("more than one signup bonus")

    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        by_reason[e["reason"]].append(e)

    # Charges: one per image a 2xx named, of the right amount, none twice, none for a 402.
    generated = {r.body["id"] for r in results if r.op.path == "/images/generate" and r.status == 202}
    uploaded = {r.body["image"]["id"] for r in results if r.op.path == "/images/uploads" and r.status == 201}
    for reason, path, ids, cost in (
        ("image_generation", "/images/generate", generated, GENERATION_COST),
        ("image_upload", "/images/uploads", uploaded, UPLOAD_COST),
    ):
        charged = Counter(e["imageId"] for e in by_reason[reason])
        for image_id, times in charged.items():
            if times > 1:
                v(f"image {image_id} charged {times} times ({reason})")
        uncharged, unanswered = ids - set(charged), set(charged) - ids
        if uncharged or len(unanswered) > sum(1 for r in unknown if r.op.path == path):
            v(
                f"{reason}: {len(ids)} images answered 2xx, {len(charged)} charged; "
                f"uncharged {sorted(uncharged)[:5]}, charged without an answer {sorted(unanswered)[:5]}"
            )
        for e in by_reason[reason]:
            if e["amount"] != -cost:
                v(f"{reason} entry for {e['imageId']}: {e['amount']}, expected {-cost}")

    # Idempotency: one image per key, and only for one body.
    for key in {r.op.key for r in mix if r.op.kind.startswith("generate") and r.op.key}:
        same = [r for r in mix if r.op.key == key]
        ids = {r.body["id"] for r in same if r.status == 202}
        bodies = {json.dumps(r.op.body, sort_keys=True) for r in same if r.status == 202}
        if len(ids) > 1 or len(bodies) > 1:
            v(f"key {key}: {len(ids)} images from {len(bodies)} bodies")
        for r in same:
            if r.status == 409 and r.body.get("code") != "idempotency_key_reused":
                v(f"key {key}: 409 {r.body}")

    # Admin changes: each applied grant or debit is one entry of its amount.
    for reason in ("admin_grant", "admin_debit"):
        answered = {
            r.body["entry"]["id"]: r.op.body["amount"] for r in mix if r.op.kind == reason and r.status == 200
        }
        if reason == "admin_grant" and grant:
            answered[grant["entry"]["id"]] = grant["entry"]["amount"]
        booked = {e["id"]: e["amount"] for e in by_reason[reason]}
        surplus = set(booked) - set(answered)
        if set(answered) - set(booked) or len(surplus) > sum(1 for r in unknown if r.op.kind == reason):
            v(
                f"{reason}: answered {len(answered)} ({sum(answered.values())}), "
                f"booked {len(booked)} ({sum(booked.values())})"
            )

    # Images: the listed ones are the answered ones; each ended well; refunds exactly once.
    listed = {i["id"]: i for i in images}
    phantom = set(listed) - generated - uploaded
    if (generated | uploaded) - set(listed) or len(phantom) > len(unknown):
        v(f"images listed {len(listed)}, answered {len(generated | uploaded)}; phantom {sorted(phantom)[:5]}")
    refunds = Counter(e["imageId"] for e in by_reason["refund"])
    for image_id, times in refunds.items():
        if times > 1:
            v(f"image {image_id} refunded {times} times")
    kinds = {r.body["id"]: r.op.kind for r in results if r.op.path == "/images/generate" and r.status == 202}
    kinds |= {
        r.body["image"]["id"]: r.op.kind
        for r in results
        if r.op.path == "/images/uploads" and r.status == 201
    }
    for image_id, image in listed.items():
        kind = kinds.get(image_id, "unanswered")
        should_fail = kind == "upload_text" or "[[fail:permanent]]" in (image.get("prompt") or "")
        if image["status"] not in ("COMPLETED", "FAILED"):
            if not (kind == "unanswered" and image["type"] == "UPLOADED"):  # it never got its URL
                v(f"image {image_id} ({kind}) still {image['status']} after settling")
        elif image["status"] == "FAILED":
            if not should_fail:
                v(f"image {image_id} ({kind}) FAILED: {image['failureReason']}")
            if image["coinsUsed"] and refunds[image_id] != 1:
                v(f"FAILED image {image_id} ({kind}) refunded {refunds[image_id]} times")
        else:
            if should_fail:
                v(f"image {image_id} ({kind}) COMPLETED")
            if refunds[image_id]:
                v(f"COMPLETED image {image_id} ({kind}) was refunded")
    for e in by_reason["refund"]:
        image = listed.get(e["imageId"])
        if image is None or e["amount"] != image["coinsUsed"]:
            v(f"refund {e['amount']} for {e['imageId']}: its image has {image and image['coinsUsed']}")

    # The summary.
    statuses = Counter(r.status for r in results)
    report.counts = {
        "requests": len(results),
        "planned": report.settings["requests"],
        "by_status": {str(k): n for k, n in sorted(statuses.items())},
        "2xx": sum(n for s, n in statuses.items() if 200 <= s < 300),
        "402": statuses[402],
        "409": statuses[409],
        "429": statuses[429],
        "transport_errors": sum(1 for r in results if r.error and "TimeoutError" not in r.error),
        "client_timeouts": sum(1 for r in results if r.error and "TimeoutError" in r.error),
        "5xx": sum(1 for r in results if r.status >= 500),
        "function_timeouts": function_timeouts,
        "by_kind": {
            kind: dict(sorted(Counter(str(r.status) for r in results if r.op.kind == kind).items()))
            for kind in sorted({r.op.kind for r in results})
        },
        "images": dict(Counter(i["status"] for i in images)),
    }
    report.ledger = {
        "entries": len(entries),
        "final_balance": final_coins,
        "by_reason": {
            k: {"count": len(es), "sum": sum(e["amount"] for e in es)} for k, es in sorted(by_reason.items())
        },
    }
    latencies: dict[str, list[float]] = defaultdict(list)
    for r in results:
        latencies["all"].append(r.latency_ms)
        latencies[r.op.kind].append(r.latency_ms)
    report.latency_ms = {
        k: {"p50": round(_percentile(x, 0.5), 1), "p99": round(_percentile(x, 0.99), 1), "n": len(x)}
        for k, x in sorted(latencies.items())
    }


# ---- the whole run ------------------------------------------------------------------------------------
STACK_ENV = {
    "GENERATION_COST": str(GENERATION_COST),
    "UPLOAD_COST": str(UPLOAD_COST),
    "SIGNUP_BONUS_COINS": str(SIGNUP_BONUS),
    "RATE_LIMIT_GENERATE_PER_MINUTE": "1000000",
    "RATE_LIMIT_UPLOAD_PER_MINUTE": "1000000",
    "MAX_PENDING_UPLOADS": "1000000",
    "ADMIN_EMAILS": ADMIN_EMAIL,
}


STOP_GRACE_SECONDS = 90.0


def stop(stack: Stack) -> int:
    """SIGTERM and wait: after a heavy run the stack takes 10-30 s to exit (see
    docs/performance.md, "The local stack"), longer than stop_stack's 20 s; SIGKILL only past the grace."""
    stack.process.terminate()
    try:
        return stack.process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        return -9


_API_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /")


def run(settings: Settings, stack: Stack | None = None) -> Report:
    """Start a stack (unless given one started with STACK_ENV), stress it, audit it."""
    own = stack is None
    if stack is None:
        stack = start_stack(STACK_ENV)
    report = Report(settings=asdict(settings))
    try:
        user_token, user = stack.sign_in(f"stress-{uuid.uuid4().hex[:10]}@example.com")
        admin_token, admin = stack.sign_in(ADMIN_EMAIL)
        if user["coins"] != SIGNUP_BONUS or "ADMIN" not in admin["roles"]:
            raise RuntimeError(f"the stack was not started with STACK_ENV: {user['coins']}, {admin['roles']}")
        tokens = {"user": user_token, "admin": admin_token}
        drain_ops, mix_ops = plan(settings, user["id"])
        started = time.monotonic()
        deadline = started + settings.max_seconds
        drain = run_phase(stack, drain_ops, tokens, min(settings.clients, len(drain_ops)), deadline)
        drain_done = time.monotonic()
        grant_reply = stack.call(
            "POST",
            f"/admin/users/{user['id']}/coins",
            token=admin_token,
            body={"amount": settings.initial_grant, "reason": "stress: room for the mix"},
            headers={"idempotency-key": f"stress-{settings.seed}-grant"},
        )
        if grant_reply.status != 200:
            report.violate(f"the initial grant answered {grant_reply.status}: {grant_reply.body[:200]!r}")
        grant = grant_reply.json() if grant_reply.status == 200 else {}
        mix = run_phase(stack, mix_ops, tokens, settings.clients, deadline)
        requests_done = time.monotonic()
        uploads = {r.body["image"]["id"] for r in mix if r.op.path == "/images/uploads" and r.status == 201}
        images, settle_seconds = settle(stack, user_token, settings.settle_seconds, uploads)
        settle_seconds += settle_purchases(stack, user_token, mix, settings.settle_seconds)
        ledger = _pages(stack, user_token, "/me/ledger")
        final_coins = stack.call("GET", "/me", token=user_token).json()["coins"]
        report.elapsed_seconds = {
            "drain": round(drain_done - started, 2),
            "mix": round(requests_done - drain_done, 2),
            "requests": round(requests_done - started, 2),
            "settle": round(settle_seconds, 2),
        }
        timeouts = sum(1 for line in stack.lines if _API_LINE.match(line) and "Sandbox.Timedout" in line)
        audit(report, drain, mix, grant, ledger, images, final_coins, timeouts)
        if stack.process.poll() is not None:
            report.violate(f"the stack exited with {stack.process.returncode}")
    finally:
        if own:
            stopping = time.monotonic()
            code = stop(stack)
            report.elapsed_seconds["stop"] = round(time.monotonic() - stopping, 2)
            if code != 0:
                report.violate(
                    f"the stack did not stop on SIGTERM within {STOP_GRACE_SECONDS:.0f} s ({code})"
                )
        report.stack_log = list(stack.lines)
    return report


def print_summary(report: Report) -> None:
    c = report.counts
    e = report.elapsed_seconds
    print(
        f"requests {c.get('requests')} of {c.get('planned')} planned in {e.get('requests')} s "
        f"(drain {e.get('drain')} s, mix {e.get('mix')} s), pipeline settled in {e.get('settle')} s, "
        f"the stack stopped in {e.get('stop')} s after SIGTERM"
    )
    print(
        f"2xx {c.get('2xx')}  402 {c.get('402')}  409 {c.get('409')}  429 {c.get('429')}  5xx {c.get('5xx')} "
        f"(function timeouts {c.get('function_timeouts')})  client timeouts {c.get('client_timeouts')}  "
        f"transport errors {c.get('transport_errors')}  "
        f"all: {c.get('by_status')}"
    )
    print(f"images: {c.get('images')}")
    print(f"ledger: {report.ledger}")
    print(f"{'kind':<18} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for kind, stats in report.latency_ms.items():
        print(
            f"{kind:<18} {stats['n']:>5} {stats['p50']:>8.1f} {stats['p99']:>8.1f}  "
            f"{c.get('by_kind', {}).get(kind, '')}"
        )
    if report.violations:
        print(f"\n{len(report.violations)} VIOLATION(S):")
        for line in report.violations:
            print(f"  - {line}")
    else:
        print("\nno violations")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--settle-seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "stress.json")
    args = parser.parse_args(argv)
    settings = Settings(
        clients=args.clients,
        requests=args.requests,
        max_seconds=args.max_seconds,
        settle_seconds=args.settle_seconds,
        seed=args.seed,
    )
    report = run(settings)
    print_summary(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
        **asdict(report),
    }
    document.pop("stack_log")
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    args.json.with_suffix(".log").write_text("\n".join(report.stack_log) + "\n")
    print(f"wrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 1 if report.violations else 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
