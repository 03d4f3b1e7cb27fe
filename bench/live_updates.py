"""Live updates against polling, on the local stack: what following one generation costs the client and the
backend, and how soon the client learns it is done.

    .venv/bin/python bench/live_updates.py [--samples 12] [--json bench/results/live.json]

A stack is started; one signed-in user generates ``--samples`` 256x256 images one after the other, twice:

- **polling** (the baseline, what the web app does without a socket): after POST /images/generate, GET
  /images/{id} on the web app's schedule (1 s apart for ten polls, then 2 s) until COMPLETED;
- **socket** (what it does with one): a WebSocket on /ws is open before the POST, and the client waits
  for the ``image.updated`` message that says COMPLETED; it sends nothing else.

For each: requests after the POST and their DynamoDB cost (GET /images/{id} is one BatchGetItem of two
items, the caller's profile and the image: 2 RRU, see docs/performance.md), and the delay from the
COMPLETED write (the image's ``updatedAt``) to the moment the client has it: the push latency for the
socket. Medians and p90; the socket's figures as ratios of polling's from the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.localstack_latency import percentile  # noqa: E402
from tests.e2e.conftest import Stack, start_stack, stop_stack  # noqa: E402
from tests.wsclient import WebSocket  # noqa: E402

STACK_ENV = {
    "GENERATION_COST": "1",
    "SIGNUP_BONUS_COINS": "1000000",
    "RATE_LIMIT_GENERATE_PER_MINUTE": "1000000",
}
SMALL = {"width": 256, "height": 256}
RRU_PER_GET = 2  # one consistent BatchGetItem of two items under 4 KB (tests/perf/test_request_cost.py)


def web_app_delay(attempt: int) -> float:
    """frontend/src/lib/poll.ts defaultDelay, in seconds."""
    return 1.0 if attempt < 10 else 2.0 if attempt < 30 else 4.0


def written_at(image: dict[str, Any]) -> float:
    return datetime.fromisoformat(image["updatedAt"].replace("Z", "+00:00")).timestamp()


def generate(stack: Stack, token: str, n: int) -> str:
    reply = stack.call("POST", "/images/generate", token=token, body={"prompt": f"bench live {n}", **SMALL})
    assert reply.status == 202, reply.body
    return str(reply.json()["id"])


def by_polling(stack: Stack, token: str, n: int) -> dict[str, float]:
    image_id = generate(stack, token, n)
    polls = 0
    while True:
        time.sleep(web_app_delay(polls))
        polls += 1
        image = stack.call("GET", f"/images/{image_id}", token=token).json()
        if image["status"] in ("COMPLETED", "FAILED"):
            return {
                "requests": polls,
                "rru": polls * RRU_PER_GET,
                "lag_ms": (time.time() - written_at(image)) * 1000,
            }


def by_socket(stack: Stack, token: str, live: WebSocket, n: int) -> dict[str, float]:
    image_id = generate(stack, token, n)
    while True:
        message = live.recv(timeout=120)
        if message is None:
            raise RuntimeError("the socket closed")
        image = message.get("image") if message.get("type") == "image.updated" else None
        if image and image["id"] == image_id and image["status"] in ("COMPLETED", "FAILED"):
            return {"requests": 0, "rru": 0, "lag_ms": (time.time() - written_at(image)) * 1000}


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    lags = [r["lag_ms"] for r in rows]
    return {
        "samples": len(rows),
        "requests_median": statistics.median(r["requests"] for r in rows),
        "rru_median": statistics.median(r["rru"] for r in rows),
        "lag_p50_ms": round(percentile(lags, 0.5), 1),
        "lag_p90_ms": round(percentile(lags, 0.9), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live.json")
    args = parser.parse_args()
    stack = start_stack(STACK_ENV)
    try:
        token, _ = stack.sign_in(f"bench-live-{uuid.uuid4().hex[:8]}@example.com")
        generate(stack, token, -1)  # warm every function on the way
        time.sleep(3)
        polling = [by_polling(stack, token, n) for n in range(args.samples)]
        live = WebSocket.connect(f"{stack.url.replace('http://', 'ws://')}/ws?token={token}")
        try:
            socket_rows = [by_socket(stack, token, live, n) for n in range(args.samples)]
        finally:
            live.close()
    finally:
        stop_stack(stack)
    result = {"polling": summary(polling), "socket": summary(socket_rows)}
    base, pushed = result["polling"], result["socket"]
    result["socket_vs_polling"] = {
        "lag_p50": round(pushed["lag_p50_ms"] / base["lag_p50_ms"], 3) if base["lag_p50_ms"] else None,
        "requests": pushed["requests_median"] / base["requests_median"] if base["requests_median"] else None,
    }
    print(f"{'following one generation':<26} {'requests':>9} {'RRU':>5} {'lag p50':>9} {'lag p90':>9}")
    for name in ("polling", "socket"):
        row = result[name]
        print(
            f"{name:<26} {row['requests_median']:>9} {row['rru_median']:>5} "
            f"{row['lag_p50_ms']:>7} ms {row['lag_p90_ms']:>7} ms"
        )
    ratios = result["socket_vs_polling"]
    print(f"socket / polling: lag p50 x{ratios['lag_p50']}, requests x{ratios['requests']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
