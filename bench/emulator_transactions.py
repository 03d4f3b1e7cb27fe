"""The emulator's TransactWriteItems as the table grows: latency and memory, with and without the fixes.

Each variant runs in a fresh process: the serialized moto server with ``devstack.moto_fixes`` installed
(what the tests and the local stack use), and plain moto (``--plain``) as the baseline measured in the
same run. A run creates the table from template.yaml, fills it to each size with BatchWriteItem, and at
each size times transactions shaped like an image creation (put image, put alias, update profile,
put ledger entry); then it reports the process's resident memory after a batch of transactions.

    .venv/bin/python bench/emulator_transactions.py               # both variants, sizes 0 2000 20000
    .venv/bin/python bench/emulator_transactions.py --sizes 0 5000 --transactions 200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _transaction(table: str, user: str, n: int) -> list[dict[str, object]]:
    image = str(uuid.uuid4())
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"IMAGE#{image}"}, "sk": {"S": "IMAGE"}, "title": {"S": "t" * 200}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"STORAGEKEY#{image}"}, "sk": {"S": "ALIAS"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": f"USER#{user}"}, "sk": {"S": "PROFILE"}},
                "UpdateExpression": "SET seq = :n",
                "ExpressionAttributeValues": {":n": {"N": str(n)}},
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"USER#{user}"}, "sk": {"S": f"LEDGER#{n:012d}"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


def run_variant(plain: bool, sizes: list[int], transactions: int) -> dict[str, object]:
    sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
    import boto3

    from devstack import emulator
    from devstack.template import ensure_table

    if plain:  # the baseline: moto as it comes
        from devstack import moto_fixes

        moto_fixes.install = lambda: None
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    server = emulator.SerializedMotoServer().start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint_url
    client = boto3.client("dynamodb", endpoint_url=server.endpoint_url)
    table = ensure_table(ROOT / "template.yaml", "bench")
    user = "u1"
    filled = 0
    latencies: dict[str, float] = {}
    queries: dict[str, dict[str, float]] = {}
    serial = 0
    start_rss = _rss_mib()
    for size in sizes:
        while filled < size:
            batch = [
                {
                    "PutRequest": {
                        "Item": {"pk": {"S": f"FILL#{filled + i}"}, "sk": {"S": "X"}, "v": {"S": "y" * 300}}
                    }
                }
                for i in range(min(25, size - filled))
            ]
            client.batch_write_item(RequestItems={table: batch})
            filled += len(batch)
        samples = []
        for _ in range(transactions):
            serial += 1
            started = time.perf_counter()
            client.transact_write_items(TransactItems=_transaction(table, user, serial))
            samples.append((time.perf_counter() - started) * 1000)
        latencies[str(size)] = statistics.median(samples)
        timed: dict[str, list[float]] = {"query": [], "index": []}
        for _ in range(max(5, transactions // 4)):
            for name, params in (
                (
                    "query",
                    {
                        "KeyConditionExpression": "pk = :p",
                        "ExpressionAttributeValues": {":p": {"S": f"USER#{user}"}},
                    },
                ),
                (
                    "index",
                    {
                        "IndexName": "gsi1",
                        "KeyConditionExpression": "gsi1pk = :p",
                        "ExpressionAttributeValues": {":p": {"S": "USERS"}},
                    },
                ),
            ):
                started = time.perf_counter()
                client.query(TableName=table, Limit=20, **params)
                timed[name].append((time.perf_counter() - started) * 1000)
        queries[str(size)] = {name: statistics.median(values) for name, values in timed.items()}
    end_rss = _rss_mib()
    server.stop()
    return {
        "p50_ms": latencies,
        "query_p50_ms": queries,
        "rss_growth_mib": round(end_rss - start_rss, 1),
        "transactions": serial,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 2000, 20000])
    parser.add_argument("--transactions", type=int, default=100, help="timed transactions at each size")
    parser.add_argument("--variant", choices=["fixed", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant == "plain", args.sizes, args.transactions)))
        return
    results = {}
    for variant in ("fixed", "plain"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--transactions",
                str(args.transactions),
                "--sizes",
                *map(str, args.sizes),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    base = args.sizes[0]
    print(
        f"{'variant':8} "
        + " ".join(f"{'p50@' + str(s):>12}" for s in args.sizes)
        + f" {'ratio':>7} {'RSS +MiB':>9}"
    )
    for variant, result in results.items():
        p50 = result["p50_ms"]
        ratio = p50[str(args.sizes[-1])] / p50[str(base)]
        cells = " ".join(f"{p50[str(s)]:>10.1f}ms" for s in args.sizes)
        print(f"{variant:8} {cells} {ratio:>6.2f}x {result['rss_growth_mib']:>9}")
    for variant, result in results.items():
        for name in ("query", "index"):
            cells = " ".join(f"{result['query_p50_ms'][str(s)][name]:>10.1f}ms" for s in args.sizes)
            print(f"{variant + ' ' + name:14} {cells}")
    print(
        f"(ratio: p50 at {args.sizes[-1]} items / p50 at {base}; {args.transactions} transactions per size)"
    )


if __name__ == "__main__":
    main()
