"""Export memory bench: peak RSS of the exporting process for a ~50 MB and a ~1 GB export.

    .venv/bin/python bench/export_memory.py [--runs 3] [--image-mb 10] [--small-mb 50] [--large-mb 1000]

For every measurement a fresh emulator process is started (``devstack.emulator``: moto's server, S3
and DynamoDB; a new one each time, so no run pays for another's objects) and filled: one table from
template.yaml, one user, and one ``--image-mb`` original (random bytes, so a ZIP cannot shrink it)
stored once and referenced by as many COMPLETED image records as the export needs. Then a fresh child
process runs the real exporter (``imagegen.bootstrap.exporter(...).process``, the exporter function's
code) against the emulator over HTTP: GetObject streams, zipfile, 8 MiB multipart parts, every byte
of the ZIP through it. It reports its peak RSS after the ZIP is complete, and the RSS it had before
the export started (imports and clients loaded). The peak is ``VmHWM`` from /proc: ``ru_maxrss``
survives ``exec`` on Linux, so a child would report its parent's peak when that was higher.
Reported: the median of ``--runs`` runs per size and the difference between the sizes; results go to
bench/results/export_memory.json. Not part of ``make test`` (``make bench-export``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "layers" / "shared"), str(REPO)]  # this checkout's code, whatever is installed
RESULTS = REPO / "bench" / "results"
MIB = 1024 * 1024


def _child(export_id: str, user_id: str) -> None:
    """Runs in the measured process: the exporter on one export, then the numbers as JSON."""
    from imagegen.bootstrap import exporter, get_adapters
    from imagegen.queues import ExportRequest

    service = exporter(get_adapters())
    service.archives.open("warm-up/none")  # type: ignore[attr-defined]  # build the S3 client first
    service.exports.find(user_id, export_id)  # and the table's connection
    before = _vm("VmRSS")
    started = time.perf_counter()
    service.process(ExportRequest(export_id, user_id))
    seconds = time.perf_counter() - started
    done = service.exports.find(user_id, export_id)
    print(
        json.dumps(
            {
                "status": done.status.value if done else None,
                "size_bytes": done.size_bytes if done else 0,
                "image_count": done.image_count if done else 0,
                "seconds": round(seconds, 2),
                "rss_before_kib": before,
                "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "vmhwm_kib": _vm("VmHWM"),
            }
        )
    )


def _vm(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _setup(env: dict[str, str], image_mb: int, counts: list[int]) -> tuple[str, dict[int, list[str]]]:
    """Table, bucket, one user, one stored original and the image records; the ids per export size."""
    os.environ.update(env)
    from imagegen.bootstrap import reset_adapters
    from imagegen.models import Image, ImageStatus, ImageType, User, new_id
    from imagegen.persistence import build_repositories

    from devstack.template import ensure_table

    reset_adapters()
    import boto3

    ensure_table(REPO / "template.yaml", env["TABLE_NAME"])
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=env["BUCKET_NAME"])
    repos = build_repositories(env["TABLE_NAME"], b"bench-cursor-key-0123456789abcdef")
    user = repos.users.create(User(id=new_id(), email="bench@example.com", google_id="g-bench"))
    key = f"images/{user.id}/1-original.png"
    s3.put_object(
        Bucket=env["BUCKET_NAME"], Key=key, Body=os.urandom(image_mb * MIB), ContentType="image/png"
    )
    ids: dict[int, list[str]] = {}
    for count in counts:
        ids[count] = []
        for n in range(count):
            image = Image(
                id=new_id(),
                user_id=user.id,
                type=ImageType.UPLOADED,
                title=f"Image {n}",
                storage_key=key,  # the one stored original, referenced by every record
                storage_url=f"http://bench/{key}",
                status=ImageStatus.COMPLETED,
                metadata={"format": "png"},
            )
            # The item only (no storage alias, no counters): many records may share the one object.
            repos.models.image.from_image(image).save()
            ids[count].append(image.id)
    return user.id, ids


def _new_export(env: dict[str, str], user_id: str, image_ids: list[str]) -> str:
    from imagegen.models import Export, new_id
    from imagegen.persistence import build_repositories
    from imagegen.services.exports import expiry_after
    from imagegen.storage.archives import export_key

    repos = build_repositories(env["TABLE_NAME"], b"bench-cursor-key-0123456789abcdef")
    export_id = new_id()
    export = Export(
        id=export_id,
        user_id=user_id,
        zip_key=export_key(user_id, export_id),
        expires_at=expiry_after(24, time.time()),
        image_count=len(image_ids),
    )
    repos.exports.create(export, image_ids, max_active=1_000_000)
    return export_id


def _measure(env: dict[str, str], user_id: str, export_id: str) -> dict[str, Any]:
    child_env = {**os.environ, **env, "PYTHONPATH": f"{REPO / 'layers' / 'shared'}:{REPO}"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", export_id, user_id],
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the exporting process failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "COMPLETED":
        raise RuntimeError(f"the export did not complete: {result}")
    return result


_EMULATOR = (
    "import sys, time\n"
    "from devstack.emulator import SerializedMotoServer\n"
    "server = SerializedMotoServer().start()\n"
    "print(server.endpoint_url, flush=True)\n"
    "sys.stdin.read()\n"  # until the bench closes our stdin
)


def _run_once(image_mb: int, count: int) -> dict[str, Any]:
    """A fresh emulator process, filled for one export of ``count`` images; the exporting child's numbers."""
    emulator = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR],
        env={**os.environ, "PYTHONPATH": f"{REPO / 'layers' / 'shared'}:{REPO}"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        endpoint = emulator.stdout.readline().strip()
        suffix = uuid.uuid4().hex[:8]
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "TABLE_NAME": f"bench-export-{suffix}",
            "BUCKET_NAME": f"bench-export-{suffix}",
            "SESSION_SIGNING_KEY": "bench-session-signing-key-0123456789",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        user_id, ids = _setup(env, image_mb, [count])
        return _measure(env, user_id, _new_export(env, user_id, ids[count]))
    finally:
        if emulator.stdin is not None:
            emulator.stdin.close()
        emulator.terminate()
        emulator.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--image-mb", type=int, default=10)
    parser.add_argument("--small-mb", type=int, default=50)
    parser.add_argument("--large-mb", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS / "export_memory.json")
    parser.add_argument("--child", nargs=2, metavar=("EXPORT_ID", "USER_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    sizes = {"small": max(1, args.small_mb // args.image_mb), "large": max(1, args.large_mb // args.image_mb)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sizes}
    for run in range(args.runs):
        for name, count in sizes.items():  # interleaved, so drift in the machine's load hits both
            result = _run_once(args.image_mb, count)
            runs[name].append(result)
            zip_mib, peak_mib = result["size_bytes"] / MIB, result["vmhwm_kib"] / 1024
            print(
                f"run {run + 1} {name:5}: {zip_mib:8.1f} MiB ZIP of {result['image_count']} images"
                f" in {result['seconds']:6.1f} s, peak RSS {peak_mib:6.1f} MiB"
                f" (before the export {result['rss_before_kib'] / 1024:.1f} MiB)",
                flush=True,
            )
    summary = {
        name: {
            "zip_mib": round(statistics.median(r["size_bytes"] for r in results) / MIB, 1),
            "images": results[0]["image_count"],
            "median_peak_rss_mib": round(statistics.median(r["vmhwm_kib"] for r in results) / 1024, 1),
            "median_rss_before_mib": round(statistics.median(r["rss_before_kib"] for r in results) / 1024, 1),
            "median_seconds": round(statistics.median(r["seconds"] for r in results), 1),
        }
        for name, results in runs.items()
    }
    difference = round(summary["large"]["median_peak_rss_mib"] - summary["small"]["median_peak_rss_mib"], 1)
    print(json.dumps(summary, indent=2))
    print(f"peak RSS difference (large - small): {difference} MiB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "image_mb": args.image_mb,
                "runs": runs,
                "summary": summary,
                "difference_mib": difference,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
