"""Latency of the local stack over HTTP: the API next to GET /health through the same gateway.

    .venv/bin/python bench/localstack_latency.py [--seconds 8] [--concurrency 1,8,32] [--samples 5]
                                                 [--json bench/results/localstack.json]

A stack is started (generation cost 1, a balance of a million, a rate limit nobody reaches). Then, for
each concurrency, three closed loops of that many clients (threads, each with its own keep-alive
connection) run for ``--seconds`` each, one after the other:

- ``GET /health``: the baseline, the gateway and one function invocation (the auth function);
- ``GET /images``: the first page of a user with 30 completed images;
- ``POST /images/generate``: 256x256 generations by another user (the pipeline's work lands between
  phases: each loop waits for it to settle before the next one starts).

Clients re-arm TCP_QUICKACK before each response (see ``Client``); one more /health loop without it
shows what a plain keep-alive client gets. p50 and p99 per loop, requests per second, and each p50 as
a multiple of the same concurrency's /health p50. Then end to end, one at a time: POST /images/generate
(1024x1024, the default) until the image reads COMPLETED, and an upload (a 1600x1200 JPEG through the
presigned POST) until COMPLETED, ``--samples`` each, polled every 50 ms. Prints a table; writes JSON
(the summaries and the machine) to bench/results/localstack.json.

Numbers are the local stack's (moto in one process, at most 4 workers a function, everything on the
same cores as the clients): a floor for relative changes, not a forecast for AWS.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stress_coins import Client, cpu_model, multipart_form  # noqa: E402
from tests.e2e.conftest import Stack, request, start_stack, stop_stack  # noqa: E402

STACK_ENV = {
    "GENERATION_COST": "1",
    "UPLOAD_COST": "0",
    "SIGNUP_BONUS_COINS": "1000000",
    "RATE_LIMIT_GENERATE_PER_MINUTE": "1000000",
    "RATE_LIMIT_UPLOAD_PER_MINUTE": "1000000",
    "MAX_PENDING_UPLOADS": "1000000",
}
GALLERY = 30
SMALL = {"width": 256, "height": 256}


@dataclass
class Loop:
    target: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    rps: float
    p50_vs_health: float = 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def closed_loop(
    stack: Stack,
    token: str,
    concurrency: int,
    seconds: float,
    call: Callable[[Client, int], int],
    *,
    quickack: bool = True,
) -> tuple[list[float], dict[str, int], int, float]:
    """``concurrency`` clients, each sending its next request when the last one answered."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        nonlocal errors
        client = Client(stack.url, token, quickack=quickack)
        mine: list[float] = []
        seen: dict[str, int] = {}
        failed = 0
        try:
            barrier.wait(30)
            i = 0
            while time.monotonic() < deadline[0]:
                started = time.monotonic()
                try:
                    status = call(client, n * 1_000_000 + i)
                except Exception:
                    failed += 1
                    status = 0
                mine.append((time.monotonic() - started) * 1000)
                seen[str(status)] = seen.get(str(status), 0) + 1
                i += 1
        finally:
            client.close()
            with lock:
                latencies.extend(mine)
                for k, v in seen.items():
                    statuses[k] = statuses.get(k, 0) + v
                errors += failed

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    started = time.monotonic()
    barrier.wait(30)
    for thread in threads:
        thread.join(seconds + 60)
    return latencies, statuses, errors, time.monotonic() - started


def settle(stack: Stack, token: str, limit: float = 180) -> float:
    """Wait until none of the user's images is PENDING or PROCESSING; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        pending = 0
        for status in ("PENDING", "PROCESSING"):
            page = stack.call("GET", "/images", token=token, query={"status": status, "limit": "1"}).json()
            pending += len(page["items"])
        if not pending:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def wait_completed(stack: Stack, token: str, image_id: str, limit: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        image = stack.call("GET", f"/images/{image_id}", token=token).json()
        if image["status"] in ("COMPLETED", "FAILED"):
            if image["status"] != "COMPLETED":
                raise RuntimeError(f"image {image_id} failed: {image['failureReason']}")
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"image {image_id} not COMPLETED after {limit}s")


def photo(seed: int) -> bytes:
    """A 1600x1200 JPEG with detail, so that decoding and resizing do real work."""
    from PIL import Image, ImageFilter

    noise = Image.effect_noise((1600, 1200), 40 + seed).filter(ImageFilter.GaussianBlur(1))
    gradient = Image.linear_gradient("L").resize((1600, 1200))
    out = io.BytesIO()
    Image.merge("RGB", (noise, gradient, gradient.rotate(180))).save(out, "JPEG", quality=88)
    return out.getvalue()


def end_to_end(stack: Stack, token: str, samples: int) -> dict[str, dict[str, Any]]:
    generate: list[float] = []
    for i in range(samples):
        started = time.monotonic()
        created = stack.call("POST", "/images/generate", token=token, body={"prompt": f"end to end {i}"})
        if created.status != 202:
            raise RuntimeError(f"generate: {created.status} {created.body[:200]!r}")
        wait_completed(stack, token, created.json()["id"])
        generate.append(time.monotonic() - started)
    upload: list[float] = []
    for i in range(samples):
        data = photo(i)
        started = time.monotonic()
        created = stack.call(
            "POST",
            "/images/uploads",
            token=token,
            body={"filename": f"photo-{i}.jpg", "contentType": "image/jpeg", "size": len(data)},
        )
        if created.status != 201:
            raise RuntimeError(f"upload: {created.status} {created.body[:200]!r}")
        form, form_type = multipart_form(created.json()["upload"]["fields"], data, "image/jpeg")
        posted = request(
            "POST", created.json()["upload"]["url"], headers={"content-type": form_type}, body=form
        )
        if posted.status not in (200, 201, 204):
            raise RuntimeError(f"presigned POST: {posted.status} {posted.body[:200]!r}")
        wait_completed(stack, token, created.json()["image"]["id"])
        upload.append(time.monotonic() - started)

    def summary(values: list[float]) -> dict[str, Any]:
        return {
            "samples": len(values),
            "p50_s": round(statistics.median(values), 3),
            "min_s": round(min(values), 3),
            "max_s": round(max(values), 3),
        }

    return {
        "generate_1024_to_completed": summary(generate),
        "upload_1600x1200_jpeg_to_completed": summary(upload),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "localstack.json")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]

    started_all = time.monotonic()
    load_before = os.getloadavg()
    stack = start_stack(STACK_ENV)
    try:
        reader, _ = stack.sign_in(f"bench-reader-{uuid.uuid4().hex[:8]}@example.com")
        writer, _ = stack.sign_in(f"bench-writer-{uuid.uuid4().hex[:8]}@example.com")
        for i in range(GALLERY):
            reply = stack.call(
                "POST", "/images/generate", token=reader, body={"prompt": f"gallery {i}", **SMALL}
            )
            if reply.status != 202:
                raise RuntimeError(f"gallery: {reply.status} {reply.body[:200]!r}")
        settle(stack, reader)
        page = stack.call("GET", "/images", token=reader).json()["items"]
        if len(page) != 20 or any(i["status"] != "COMPLETED" for i in page):
            raise RuntimeError("the gallery did not complete")

        targets: dict[str, tuple[str, Callable[[Client, int], int]]] = {
            "GET /health": (reader, lambda c, i: c.call("GET", "/health")[0]),
            "GET /images": (reader, lambda c, i: c.call("GET", "/images")[0]),
            "POST /images/generate": (
                writer,
                lambda c, i: c.call("POST", "/images/generate", {"prompt": f"bench {i}", **SMALL})[0],
            ),
        }
        loops: list[Loop] = []
        settled: dict[str, float] = {}
        for concurrency in levels:
            health_p50 = 0.0
            for target, (token, call) in targets.items():
                latencies, statuses, errors, elapsed = closed_loop(
                    stack, token, concurrency, args.seconds, call
                )
                loop = Loop(
                    target=target,
                    concurrency=concurrency,
                    seconds=round(elapsed, 2),
                    requests=len(latencies),
                    errors=errors,
                    statuses=statuses,
                    p50_ms=round(percentile(latencies, 0.5), 1),
                    p90_ms=round(percentile(latencies, 0.9), 1),
                    p99_ms=round(percentile(latencies, 0.99), 1),
                    mean_ms=round(statistics.fmean(latencies), 1) if latencies else 0.0,
                    rps=round(len(latencies) / elapsed, 1),
                )
                if target == "GET /health":
                    health_p50 = loop.p50_ms
                loop.p50_vs_health = round(loop.p50_ms / health_p50, 2) if health_p50 else 0.0
                loops.append(loop)
                print(
                    f"c={concurrency:<3} {target:<22} n={loop.requests:<5} p50 {loop.p50_ms:>8.1f} ms  "
                    f"p99 {loop.p99_ms:>8.1f} ms  {loop.rps:>6.1f} req/s  x{loop.p50_vs_health:<5} "
                    f"{statuses}",
                    flush=True,
                )
                if target == "POST /images/generate":
                    settled[f"c={concurrency}"] = round(settle(stack, writer), 1)
        # The same baseline without TCP_QUICKACK: what a keep-alive client such as a browser sees.
        latencies, _, _, elapsed = closed_loop(
            stack, reader, 1, min(args.seconds, 4), targets["GET /health"][1], quickack=False
        )
        plain_keepalive = {
            "requests": len(latencies),
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
        }
        e2e = end_to_end(stack, writer, args.samples)
    finally:
        code = stop_stack(stack)

    print()
    print(
        f"{'concurrency':>11} {'target':<22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p50/health':>10}"
    )
    for loop in loops:
        print(
            f"{loop.concurrency:>11} {loop.target:<22} {loop.requests:>8} {loop.rps:>7.1f} "
            f"{loop.p50_ms:>8.1f} {loop.p99_ms:>8.1f} {loop.p50_vs_health:>10.2f}"
        )
    print()
    for name, stats in e2e.items():
        print(
            f"{name:<36} p50 {stats['p50_s']:.2f} s  (min {stats['min_s']:.2f}, "
            f"max {stats['max_s']:.2f}, n={stats['samples']})"
        )
    print(f"pipeline settle after each generate loop (s): {settled}")
    print(f"GET /health, c=1, keep-alive without TCP_QUICKACK: {plain_keepalive}")
    machine = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"machine: {machine}; stack exit {code}; total {time.monotonic() - started_all:.0f} s")
    document = {
        "command": "bench/localstack_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine,
        "settings": {
            "seconds": args.seconds,
            "concurrency": levels,
            "samples": args.samples,
            "stack_env": STACK_ENV,
        },
        "loops": [asdict(loop) for loop in loops],
        "end_to_end": e2e,
        "health_keepalive_without_quickack": plain_keepalive,
        "settle_seconds_after_generate": settled,
        "stack_exit": code,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if code == 0 and all(loop.errors == 0 for loop in loops) else 1


if __name__ == "__main__":
    raise SystemExit(main())
