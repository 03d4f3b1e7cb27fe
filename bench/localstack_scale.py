"""The local stack at size: memory over a mixed load, latency with a full table, the time to stop.

    .venv/bin/python bench/localstack_scale.py [--requests 2000] [--items 20000] [--samples 30]
                                               [--clients 8] [--idle 10]
                                               [--json bench/results/localstack_scale.json]

One stack (``python -m devstack.stack``, on 127.0.0.1 only), in this order:

1. Latency on an empty table: a fresh user, one client, ``--samples`` sequential ``POST /images/uploads``
   (the record and the presigned POST, the file not sent), then as many ``POST /images/generate``
   (256x256), then, once the pipeline has settled, as many ``GET /images`` (the first page); two untimed
   calls before each series. p50 each.
2. The table is filled to ``--items`` items, written straight into the emulator's table with
   BatchWriteItem: images of 200 other users, each as the application writes it (the image item with its
   four index keys and its storage alias item, made by the application's own item classes). Through the
   API the same fill would take 20,000 requests, over ten minutes on this machine; written directly it
   takes seconds, and the measured user's own partitions stay as small as in step 1, so what changes
   between the two measurements is the size of the table only, which is the question.
3. The same latency measurement with another fresh user on the full table; the ratios to step 1.
4. ``--requests`` mixed requests from ``--clients`` clients, each with its own user: uploads (with the file
   through the presigned POST, so the thumbnailer runs), generations, reads (the list and single images)
   and deletes of the client's own images. RSS of the stack's main process (the gateway, the pumps and the
   emulator) from ``/proc/<pid>/status`` before, at the end (after the pipeline settled) and after
   ``--idle`` seconds of nothing; the workers' RSS beside it.
5. SIGTERM, and the seconds until the process has exited (SIGKILL after 60 s).

Prints a summary; writes JSON to bench/results/localstack_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "shared"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench.localstack_latency import SMALL  # noqa: E402
from bench.localstack_latency import STACK_ENV as LATENCY_STACK_ENV  # noqa: E402
from bench.stress_coins import Client, _png, cpu_model, multipart_form  # noqa: E402
from tests.e2e.conftest import Stack, request, start_stack  # noqa: E402

STACK_ENV = {**LATENCY_STACK_ENV, "MAX_UPLOAD_BYTES": "2000000"}
OTHER_USERS = 200
MIX = (("upload", 30), ("generate", 20), ("list", 20), ("read", 15), ("delete", 15))
STOP_LIMIT = 60.0


# ---- the processes --------------------------------------------------------------------------------
def rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def memory(stack: Stack) -> dict[str, float]:
    workers = [rss_mib(pid) for pid in children(stack.process.pid)]
    return {
        "main_mib": round(rss_mib(stack.process.pid), 1),
        "workers": len(workers),
        "workers_mib": round(sum(workers), 1),
    }


# ---- measuring ------------------------------------------------------------------------------------
def settle(stack: Stack, token: str, limit: float = 600) -> float:
    """Wait until none of the user's images is PENDING or PROCESSING (uploads never sent stay PENDING
    and are left out: only generated images are looked at)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        busy = 0
        for status in ("PENDING", "PROCESSING"):
            page = stack.call(
                "GET", "/images", token=token, query={"status": status, "type": "GENERATED", "limit": "1"}
            ).json()
            busy += len(page["items"])
        if not busy:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def timed(
    samples: int, call: Callable[[int], int], expected: int, between: Callable[[], object] | None = None
) -> dict[str, Any]:
    """``between`` runs, untimed, after each sample (a generation's pipeline finishing, so that the next
    request is not timed while the previous image is painted and encoded on the same two cores)."""
    for i in range(2):  # warm: a worker's first invocation includes its cold start
        call(samples + i)
    if between is not None:
        between()
    latencies: list[float] = []
    for i in range(samples):
        started = time.perf_counter()
        status = call(i)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != expected:
            raise RuntimeError(f"status {status}, expected {expected}")
        if between is not None:
            between()
    ordered = sorted(latencies)
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))], 1),
        "min_ms": round(ordered[0], 1),
    }


def latency(stack: Stack, samples: int, label: str) -> dict[str, dict[str, Any]]:
    token, _ = stack.sign_in(f"scale-{label}-{uuid.uuid4().hex[:8]}@example.com")
    client = Client(stack.url, token)
    try:
        upload = {"filename": "photo.png", "contentType": "image/png", "size": 1000}
        uploads = timed(samples, lambda i: client.call("POST", "/images/uploads", upload)[0], 201)
        generates = timed(
            samples,
            lambda i: client.call("POST", "/images/generate", {"prompt": f"{label} {i}", **SMALL})[0],
            202,
            between=lambda: settle(stack, token),
        )
        settle(stack, token)
        lists = timed(samples, lambda i: client.call("GET", "/images")[0], 200)
    finally:
        client.close()
    result = {"POST /images/uploads": uploads, "POST /images/generate": generates, "GET /images": lists}
    for route, stats in result.items():
        print(f"  {label:<5} {route:<22} p50 {stats['p50_ms']:>7.1f} ms  p90 {stats['p90_ms']:>7.1f} ms")
    return result


# ---- filling the table ----------------------------------------------------------------------------
def fill(stack: Stack, items: int) -> dict[str, Any]:
    """``items`` items of other users' images (image + storage alias each) straight into the table."""
    import boto3
    from imagegen.models import Image, ImageStatus, ImageType
    from imagegen.persistence.items import ImageItem, StorageAliasItem

    info = stack.call("GET", "/_local/info").json()
    table = next(r["name"] for r in info["resources"].values() if r["type"] == "AWS::DynamoDB::Table")
    client = boto3.client(
        "dynamodb",
        endpoint_url=info["emulatorUrl"],
        region_name=info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    rng = random.Random(7)
    started = time.monotonic()
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        nonlocal batch
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in batch]}
        while pending:
            reply = client.batch_write_item(RequestItems=pending)
            pending = reply.get("UnprocessedItems") or {}
        batch = []

    for n in range(items // 2):
        user = f"filler-{n % OTHER_USERS:04d}"
        image_id = uuid.UUID(int=rng.getrandbits(128)).hex
        generated = n % 3 != 0
        key = f"images/{user}/{image_id}.png"
        image = Image(
            id=image_id,
            user_id=user,
            type=ImageType.GENERATED if generated else ImageType.UPLOADED,
            title=f"filler {n}",
            prompt=f"a filler picture {n}" if generated else None,
            storage_key=key,
            storage_url=f"{info['emulatorUrl']}/bucket/{key}",
            status=ImageStatus.COMPLETED,
            coins_used=1 if generated else 0,
            created_at=f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:{n // 60 % 60:02d}.000Z",
        )
        batch.append(ImageItem.from_image(image).serialize())
        batch.append(StorageAliasItem.for_image(image).serialize())
        written += 2
        if len(batch) >= 24:
            flush()
    if batch:
        flush()
    seconds = time.monotonic() - started
    count = client.describe_table(TableName=table)["Table"].get("ItemCount")
    print(f"  filled {written} items in {seconds:.1f} s (the table reports {count})")
    return {"written": written, "seconds": round(seconds, 1), "table_item_count": count}


# ---- the mixed load -------------------------------------------------------------------------------
def mixed(stack: Stack, requests: int, clients: int) -> dict[str, Any]:
    rng = random.Random(11)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    plan = rng.choices(kinds, weights, k=requests)
    per_client = [plan[i::clients] for i in range(clients)]
    tokens = [stack.sign_in(f"scale-mix-{i}-{uuid.uuid4().hex[:6]}@example.com")[0] for i in range(clients)]
    statuses: dict[str, dict[str, int]] = {k: {} for k in kinds}
    errors: list[str] = []
    lock = threading.Lock()
    png = _png(3)

    def run(n: int) -> None:
        client = Client(stack.url, tokens[n])
        mine: list[str] = []
        local = random.Random(n)
        try:
            for i, kind in enumerate(per_client[n]):
                try:
                    status = one(client, kind, mine, local, f"{n}-{i}")
                except Exception as exc:
                    status = 0
                    with lock:
                        errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                with lock:
                    statuses[kind][str(status)] = statuses[kind].get(str(status), 0) + 1
        finally:
            client.close()

    def one(client: Client, kind: str, mine: list[str], local: random.Random, tag: str) -> int:
        if kind == "upload":
            body = {"filename": f"{tag}.png", "contentType": "image/png", "size": len(png)}
            status, _, payload = client.call("POST", "/images/uploads", body)
            if status == 201:
                created = json.loads(payload)
                form, form_type = multipart_form(created["upload"]["fields"], png, "image/png")
                posted = request(
                    "POST", created["upload"]["url"], headers={"content-type": form_type}, body=form
                )
                if posted.status not in (200, 201, 204):
                    raise RuntimeError(f"presigned POST: {posted.status}")
                mine.append(created["image"]["id"])
            return status
        if kind == "generate":
            status, _, payload = client.call("POST", "/images/generate", {"prompt": f"mix {tag}", **SMALL})
            if status == 202:
                mine.append(json.loads(payload)["id"])
            return status
        if kind == "list":
            return client.call("GET", "/images")[0]
        if kind == "read" and mine:
            return client.call("GET", f"/images/{local.choice(mine)}")[0]
        if kind == "delete" and mine:
            return client.call("DELETE", f"/images/{mine.pop(local.randrange(len(mine)))}")[0]
        return client.call("GET", "/images?limit=5")[0]  # nothing of its own yet: a read instead

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    settled = max(settle(stack, token) for token in tokens)
    rate = requests / seconds
    print(f"  {requests} requests in {seconds:.0f} s ({rate:.1f} req/s); settled {settled:.1f} s")
    print(f"  statuses: {statuses}")
    if errors:
        print(f"  {len(errors)} errors, first: {errors[:3]}")
    return {
        "requests": requests,
        "clients": clients,
        "seconds": round(seconds, 1),
        "settle_seconds": round(settled, 1),
        "statuses": statuses,
        "errors": len(errors),
        "first_errors": errors[:5],
    }


def stop_timed(stack: Stack) -> tuple[int, float]:
    started = time.monotonic()
    stack.process.send_signal(signal.SIGTERM)
    try:
        code = stack.process.wait(STOP_LIMIT)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        code = -9
    return code, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "localstack_scale.json")
    args = parser.parse_args(argv)

    started_all = time.monotonic()
    load_before = os.getloadavg()
    stack = start_stack(STACK_ENV)
    rss: dict[str, dict[str, float]] = {}
    code, stop_seconds = -1, 0.0
    try:
        rss["started"] = memory(stack)
        print("latency, empty table")
        empty = latency(stack, args.samples, "empty")
        print(f"filling the table to {args.items} items")
        filled = fill(stack, args.items)
        rss["filled"] = memory(stack)
        print(f"latency, {args.items} items")
        full = latency(stack, args.samples, "full")
        rss["before_mix"] = memory(stack)
        print(f"mixed load: {args.requests} requests, {args.clients} clients")
        load = mixed(stack, args.requests, args.clients)
        rss["after_mix"] = memory(stack)
        time.sleep(args.idle)
        rss["after_idle"] = memory(stack)
    finally:
        if stack.process.poll() is None:
            code, stop_seconds = stop_timed(stack)

    ratios = {
        route: round(full[route]["p50_ms"] / empty[route]["p50_ms"], 2) if empty[route]["p50_ms"] else 0.0
        for route in empty
    }
    growth = round(rss["after_mix"]["main_mib"] - rss["before_mix"]["main_mib"], 1)
    back = round(rss["after_idle"]["main_mib"] - rss["before_mix"]["main_mib"], 1)
    print()
    print(f"{'route':<22} {'empty p50':>10} {'full p50':>10} {'full/empty':>10}")
    for route in empty:
        before, after = empty[route]["p50_ms"], full[route]["p50_ms"]
        print(f"{route:<22} {before:>8.1f}ms {after:>8.1f}ms {ratios[route]:>10.2f}")
    print(f"RSS (MiB, main process / workers): {rss}")
    print(f"main process over the mixed load: {growth:+.1f} MiB; after {args.idle:.0f} s idle: {back:+.1f}")
    print(f"stop: exit {code} in {stop_seconds:.2f} s")
    machine = {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"machine: {machine}; total {time.monotonic() - started_all:.0f} s")
    targets = {
        "rss_growth_at_most_100_mib": growth <= 100,
        "latency_at_most_1_5x": all(r <= 1.5 for r in ratios.values()),
        "stop_under_5_s": code == 0 and stop_seconds < 5,
    }
    print(f"targets: {targets}")
    document = {
        "command": "bench/localstack_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine,
        "settings": vars(args) | {"json": str(args.json), "stack_env": STACK_ENV},
        "latency_empty": empty,
        "fill": filled,
        "latency_full": full,
        "p50_full_over_empty": ratios,
        "mixed": load,
        "rss": rss,
        "main_rss_growth_mib": growth,
        "main_rss_after_idle_vs_before_mib": back,
        "stop": {"exit": code, "seconds": round(stop_seconds, 2)},
        "targets": targets,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(targets.values()) and load["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
