"""A capacity model: the load a traffic level puts on every limit the backend can hit.

    python bench/capacity.py [--levels 1 10 100 1000] [--bedrock-per-minute 100] [--json PATH]

Not a load test of AWS: a calculation. It multiplies a traffic mix (requests and events per second
at 1x, the assumed peak of ``docs/performance.md`` section 4) by each level and by the per-request
costs of ``bench/request_costs.py`` (the table ``tests/perf/test_request_cost.py`` checks against the
code), and gives, for the data layout and template before and after the scale work:

- WRU/RRU per second per DynamoDB partition (the base table's, spread over item keys, and every index
  partition class: the all-images list, each status, ``USERS``, the users' own partitions);
- Lambda concurrency per function (rate x duration; the generator capped by its MaximumConcurrency);
- API requests per second per route, against the route's throttle;
- the generation queue's depth after a peak of ``--peak-minutes``;
- Bedrock calls per minute;

and flags every limit crossed: DynamoDB's 1,000 WRU and 3,000 RRU per partition (hard), the on-demand
table's 40,000 WRU/RRU per second (an account quota), the account's 1,000 concurrent executions
(quota), API Gateway's 10,000 requests per second per account and region (quota), a route's throttle
and the reserved concurrency (template parameters), the Bedrock model's images a minute (quota).

"after" sizes the template's parameters for the level (printed under the table), the way a deployment
for that level would set them; "before" is the template as it was (one gsi4 partition, one gsi3
partition per status, every route at 100 requests/s, the generator at 10).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.request_costs import COSTS

# ---- the traffic mix at 1x (requests or events per second at the assumed peak) -----------------------
GENERATIONS_PER_S = 1.0
UPLOADS_PER_S = 0.5
POLLS_PER_GENERATION = 10  # GET /images/{id} every second for about 10 s while Bedrock works
POLLS_PER_UPLOAD = 3
MIX_1X: dict[str, float] = {
    "POST /images/generate (first in its minute)": GENERATIONS_PER_S,
    "POST /images/uploads": UPLOADS_PER_S,
    "GET /images/{id}": GENERATIONS_PER_S * POLLS_PER_GENERATION + UPLOADS_PER_S * POLLS_PER_UPLOAD,
    "GET /images": GENERATIONS_PER_S + UPLOADS_PER_S,  # the gallery, once per image made
    "GET /me": GENERATIONS_PER_S + UPLOADS_PER_S,  # the header's balance
    "GET /admin/images": 0.05,
    "generator event": GENERATIONS_PER_S,
    "thumbnailer event (generation)": GENERATIONS_PER_S,
    "thumbnailer event (upload)": UPLOADS_PER_S,
}
ROUTE_OF = {name: name.split(" (")[0] for name in MIX_1X if name.startswith(("GET ", "POST "))}

# ---- limits -----------------------------------------------------------------------------------------
PARTITION_WRU = 1000.0
PARTITION_RRU = 3000.0
TABLE_ON_DEMAND_UNITS = 40_000.0  # per table and second, read and write each (adjustable quota)
ACCOUNT_CONCURRENCY = 1000  # concurrent executions per region (adjustable quota)
API_ACCOUNT_RPS = 10_000.0  # HTTP API, per account and region (adjustable quota)
UNRESERVED_MINIMUM = 100  # Lambda keeps at least this many unreserved
SHARD_SKEW = 1.1  # the busiest of 16 hash shards, relative to an even share
HEADROOM = 1.5  # parameters sized at 1.5x the level's demand
HTTP_FUNCTIONS = ("auth", "users", "images", "admin")
BEFORE_ROUTE_LIMIT = 100.0
ESM_MAX_CONCURRENCY = 1000  # an SQS event source mapping's MaximumConcurrency: 2..1,000
MAX_GENERATOR_BATCH = 10  # GeneratorBatchSize's largest value: generations run in parallel in one execution
# template.yaml's per-route throttle parameters; every other route has ApiThrottle* (DefaultRouteSettings).
ROUTE_PARAMETERS = {
    "GET /images/{id}": "ApiPollThrottle",
    "POST /images/generate": "ApiGenerateThrottle",
    "GET /images": "ApiListThrottle",
    "POST /images/uploads": "ApiUploadThrottle",
}


def _route_limits(routes: Mapping[str, float]) -> dict[str, float]:
    """Each throttle parameter at HEADROOM x its routes' demand, at least the template's default 100."""
    need: dict[str, float] = defaultdict(float)
    for route, rps in routes.items():
        parameter = ROUTE_PARAMETERS.get(route, "ApiThrottle")
        need[parameter] = max(need[parameter], rps)
    return {name: max(100.0, math.ceil(rps * HEADROOM / 10) * 10) for name, rps in need.items()}


BEFORE_GENERATOR_CAP = 10


@dataclass(frozen=True)
class Layout:
    name: str
    image_shards: int  # partitions of gsi4 and of each gsi3 status
    sized: bool  # the template's parameters sized to the level ("after") or as they were ("before")


BEFORE = Layout("before", image_shards=1, sized=False)
AFTER = Layout("after", image_shards=16, sized=True)


@dataclass
class Check:
    what: str
    value: float
    limit: float
    kind: str  # "hard" (only the design lifts it), "quota" (a quota increase), "setting" (a parameter)
    lift: str = ""

    @property
    def crossed(self) -> bool:
        return self.value > self.limit


@dataclass
class Result:
    level: float
    layout: str
    partitions: dict[str, dict[str, float]] = field(default_factory=dict)
    concurrency: dict[str, float] = field(default_factory=dict)
    routes: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)
    queue_depth: float = 0.0
    bedrock_per_minute: float = 0.0
    checks: list[Check] = field(default_factory=list)

    @property
    def crossed(self) -> list[Check]:
        return [c for c in self.checks if c.crossed]


def _rates(level: float) -> dict[str, float]:
    return {name: rate * level for name, rate in MIX_1X.items()}


def _partitions(rates: Mapping[str, float], layout: Layout) -> dict[str, dict[str, float]]:
    """WRU and RRU per second of the busiest partition of each class."""
    classes: dict[str, dict[str, float]] = defaultdict(lambda: {"wru": 0.0, "rru": 0.0, "partitions": 1})
    base_wru = base_rru = 0.0
    for name, rate in rates.items():
        cost = COSTS[name]
        base_wru += rate * (cost.wru - cost.index_wru_total)
        base_rru += rate * (cost.rru - sum(cost.index_rru.values()))
        for index, units in cost.index_wru.items():
            classes[index]["wru"] += rate * units
        for index, units in cost.index_rru.items():
            classes[index]["rru"] += rate * units
    found: dict[str, dict[str, float]] = {}
    for index, load in sorted(classes.items()):
        if index in ("gsi4",) or index.startswith("gsi3:"):
            shards = layout.image_shards
            skew = SHARD_SKEW if shards > 1 else 1.0
            label = ("gsi4 IMAGES" if index == "gsi4" else f"gsi3 STATUS#{index[5:]}") + (
                f"#{{0..{shards - 1}}}" if shards > 1 else ""
            )
            # Reads of a merged list query every shard: the same RRU in each.
            found[label] = {
                "wru": load["wru"] / shards * skew,
                "rru": load["rru"],
                "partitions": shards,
            }
        elif index == "gsi1:USERS":
            found["gsi1 USERS (split by sort key)"] = {**load, "partitions": 1}
        else:
            found["gsi1/gsi2 a user's images"] = {"wru": load["wru"], "rru": load["rru"], "partitions": 0}
    found["base table (all keys)"] = {"wru": base_wru, "rru": base_rru, "partitions": 0}
    return found


def model(level: float, layout: Layout, *, bedrock_per_minute: float, peak_minutes: float = 10) -> Result:
    rates = _rates(level)
    result = Result(level=level, layout=layout.name)
    result.partitions = _partitions(rates, layout)

    # Lambda: demand per function; the generator is capped by its event source's MaximumConcurrency.
    demand: dict[str, float] = defaultdict(float)
    for name, rate in rates.items():
        cost = COSTS[name]
        demand[cost.function] += rate * cost.duration_ms / 1000
    generator_seconds = COSTS["generator event"].duration_ms / 1000
    # Generations in flight that the Bedrock quota allows; a batch of them shares one execution.
    bedrock_bound = max(2, math.ceil(bedrock_per_minute / 60 * generator_seconds))
    in_flight_wanted = min(demand["generator"], bedrock_bound)
    batch = 1
    if layout.sized:
        batch = min(MAX_GENERATOR_BATCH, max(1, math.ceil(in_flight_wanted * HEADROOM / ESM_MAX_CONCURRENCY)))
        cap = min(ESM_MAX_CONCURRENCY, max(2, math.ceil(bedrock_bound / batch)))
    else:
        cap = BEFORE_GENERATOR_CAP
    result.concurrency = {fn: round(value, 1) for fn, value in sorted(demand.items())}
    result.concurrency["generator"] = round(min(demand["generator"] / batch, cap), 1)
    result.parameters["GeneratorMaxConcurrency"] = cap
    result.parameters["GeneratorBatchSize"] = batch

    # The generation queue: what the capped generator cannot take waits (or, before, fails).
    served_per_s = min(cap * batch / generator_seconds, bedrock_per_minute / 60)
    arriving = rates["generator event"]
    in_flight = min(arriving, served_per_s) * generator_seconds
    result.queue_depth = round(in_flight + max(0.0, arriving - served_per_s) * peak_minutes * 60)
    result.bedrock_per_minute = round(arriving * 60, 1)

    # API Gateway per route.
    routes: dict[str, float] = defaultdict(float)
    for name, route in ROUTE_OF.items():
        routes[route] += rates[name]
    result.routes = {route: round(value, 2) for route, value in sorted(routes.items())}

    checks = result.checks
    for label, load in result.partitions.items():
        if load["partitions"] == 0:
            continue  # spread over many keys: no partition near its limit
        lift = "shard the key" if not layout.sized else "more shards"
        if "USERS" in label:
            lift = "split for heat (writes spread over its sort key range; pre-warm for a sudden jump)"
            kind = "adaptive"
        else:
            kind = "hard"
        checks.append(Check(f"DynamoDB {label}: WRU/s per partition", load["wru"], PARTITION_WRU, kind, lift))
        checks.append(Check(f"DynamoDB {label}: RRU/s per partition", load["rru"], PARTITION_RRU, kind, lift))
    total_wru = sum(rate * COSTS[name].wru for name, rate in rates.items())
    total_rru = sum(rate * COSTS[name].rru for name, rate in rates.items())
    table_lift = "quota increase: DynamoDB table-level on-demand throughput (40,000 units/s by default)"
    checks.append(Check("DynamoDB table WRU/s", total_wru, TABLE_ON_DEMAND_UNITS, "quota", table_lift))
    checks.append(Check("DynamoDB table RRU/s", total_rru, TABLE_ON_DEMAND_UNITS, "quota", table_lift))

    used = sum(result.concurrency.values())
    concurrency_lift = "quota increase: Lambda concurrent executions per region"
    checks.append(Check("Lambda concurrency, account", used, ACCOUNT_CONCURRENCY, "quota", concurrency_lift))
    if layout.sized:
        for fn in HTTP_FUNCTIONS:
            need = demand.get(fn, 0.0)
            reserve = math.ceil(need * HEADROOM) if need >= 1 else 0
            result.parameters[f"{fn.capitalize()}ReservedConcurrency"] = reserve
        reserved = sum(v for k, v in result.parameters.items() if k.endswith("ReservedConcurrency"))
        checks.append(
            Check(
                "Lambda reserved concurrency + 100 unreserved",
                reserved + UNRESERVED_MINIMUM,
                ACCOUNT_CONCURRENCY,
                "quota",
                concurrency_lift,
            )
        )
    api_lift = "quota increase: API Gateway throttle per account and region"
    checks.append(Check("API requests/s, account", sum(routes.values()), API_ACCOUNT_RPS, "quota", api_lift))
    limits = _route_limits(result.routes) if layout.sized else {}
    if layout.sized:
        result.parameters.update({f"{name}RateLimit": value for name, value in limits.items()})
    for route, rps in result.routes.items():
        parameter = ROUTE_PARAMETERS.get(route, "ApiThrottle")
        limit = limits[parameter] if layout.sized else BEFORE_ROUTE_LIMIT
        checks.append(Check(f"API {route}: requests/s", rps, limit, "setting", f"{parameter}RateLimit"))
    checks.append(
        Check(
            "Bedrock images/minute",
            result.bedrock_per_minute,
            bedrock_per_minute,
            "quota",
            "quota increase: Bedrock on-demand images per minute of the model (or provisioned throughput)",
        )
    )
    if layout.sized:
        checks.append(
            Check(
                "Lambda concurrency, generator (one event source mapping: MaximumConcurrency <= 1,000)",
                math.ceil(in_flight_wanted / batch),
                ESM_MAX_CONCURRENCY,
                "hard",
                "GeneratorBatchSize (up to 10 in parallel an execution); beyond, more generation queues",
            )
        )
    if served_per_s >= bedrock_per_minute / 60:
        kind, lift = "quota", "the Bedrock quota"
    elif cap >= ESM_MAX_CONCURRENCY:
        kind, lift = "hard", "the generator's event source mapping (above)"
    else:
        kind, lift = "setting", "GeneratorMaxConcurrency"
    backlog = max(0.0, arriving - served_per_s)
    checks.append(Check("generation queue: generations/s beyond what is served", backlog, 0.0, kind, lift))
    return result


# ---- output -----------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def table(results: list[Result]) -> str:
    levels = sorted({r.level for r in results})
    by = {(r.level, r.layout): r for r in results}
    layouts = [name for name in ("before", "after") if any(r.layout == name for r in results)]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, get: object) -> None:
        cells = []
        for level in levels:
            for name in layouts:
                result = by.get((level, name))
                cells.append(get(result) if result is not None else "")  # type: ignore[operator]
        rows.append((label, cells))

    partition_labels: list[str] = []
    for r in results:
        partition_labels += [p for p in r.partitions if p not in partition_labels]
    for label in partition_labels:
        for unit in ("wru", "rru"):

            def get(r: Result, label: str = label, unit: str = unit) -> str:
                load = r.partitions.get(label)
                if load is None or (unit == "rru" and load[unit] == 0):
                    return "-" if load is None else ""
                return _fmt(load[unit])

            if any(r.partitions.get(label, {}).get(unit) for r in results):
                row(f"{label} {unit.upper()}/s", get)
    functions = sorted({fn for r in results for fn in r.concurrency})
    for fn in functions:
        row(f"Lambda concurrency: {fn}", lambda r, fn=fn: _fmt(r.concurrency.get(fn, 0.0)))
    row("Lambda concurrency: total", lambda r: _fmt(sum(r.concurrency.values())))
    routes = sorted({route for r in results for route in r.routes})
    for route in routes:
        row(f"API {route} req/s", lambda r, route=route: _fmt(r.routes.get(route, 0.0)))
    row("API total req/s", lambda r: _fmt(sum(r.routes.values())))
    row("generation queue depth after the peak", lambda r: _fmt(r.queue_depth))
    row("Bedrock images/min wanted", lambda r: _fmt(r.bedrock_per_minute))
    row(
        "limits crossed (hard/setting + quota)",
        lambda r: (
            f"{sum(1 for c in r.crossed if c.kind in ('hard', 'setting'))} + "
            f"{sum(1 for c in r.crossed if c.kind in ('quota', 'adaptive'))}"
        ),
    )
    header = ["per second at the peak"] + [f"{_level(level)} {name}" for level in levels for name in layouts]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells in rows]
    return "\n".join(lines)


def _level(level: float) -> str:
    return f"{level:g}x"


def crossed_report(results: list[Result]) -> str:
    lines = []
    for r in results:
        if not r.crossed:
            lines.append(f"- {_level(r.level)} {r.layout}: no limit crossed")
            continue
        lines.append(f"- {_level(r.level)} {r.layout}:")
        for c in r.crossed:
            lines.append(f"  - [{c.kind}] {c.what}: {_fmt(c.value)} > {_fmt(c.limit)} ({c.lift})")
    return "\n".join(lines)


def parameters_report(results: list[Result]) -> str:
    lines = []
    for r in results:
        if r.layout != "after":
            continue
        shown = ", ".join(f"{k} {int(v):,}" for k, v in r.parameters.items() if v)
        lines.append(f"- {_level(r.level)}: {shown}")
    return "\n".join(lines)


def run(levels: list[float], bedrock_per_minute: float, peak_minutes: float) -> list[Result]:
    return [
        model(level, layout, bedrock_per_minute=bedrock_per_minute, peak_minutes=peak_minutes)
        for level in levels
        for layout in (BEFORE, AFTER)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--levels", type=float, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument(
        "--bedrock-per-minute",
        type=float,
        default=None,
        help="the Bedrock image quota assumed (images a minute); default: the level's need (a raised quota)",
    )
    parser.add_argument("--peak-minutes", type=float, default=10)
    parser.add_argument("--json", default="bench/results/capacity.json")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for level in args.levels:
        quota = args.bedrock_per_minute or MIX_1X["generator event"] * level * 60
        for layout in (BEFORE, AFTER):
            results.append(model(level, layout, bedrock_per_minute=quota, peak_minutes=args.peak_minutes))
    print(table(results))
    print("\nLimits crossed:\n" + crossed_report(results))
    print("\nParameters sized for each level (after):\n" + parameters_report(results))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
