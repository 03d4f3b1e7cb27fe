"""Cold start benchmark: what each function's init costs next to a bare ``import boto3``.

    .venv/bin/python bench/coldstart.py [--runs 15] [--only Images,Users] [--first-use]
                                        [--rebuild] [--layer DIR] [--explain]

For every function in template.yaml, a FRESH Python 3.12 process imports its handler module the
way Lambda's init does: ``sys.path`` starts with the function's build directory and the layer's
(``.aws-sam/build/<Function>`` and ``.aws-sam/build/SharedLayer/python`` from ``sam build``;
``make build`` runs first when they are missing, or with ``--rebuild``), the stand-in runtime comes
after them (as ``/var/runtime`` does on Lambda, so a botocore in the layer shadows the runtime's),
the template's environment variables are set to plausible deployed values, then ``import app``.
The baseline is a fresh process running ``import boto3`` against the runtime alone: what a bare
Lambda function pays. ``python -c pass`` is shown too: the interpreter's own start.

``--first-use`` adds what the first request pays on top of init in every function: ``import app``,
then build the repositories (PynamoDB, botocore and a DynamoDB client; nothing is sent), against
``import boto3`` plus a DynamoDB client. Lazy imports move cost from init to this first request;
this row shows what is left for the first caller.

Wall time is taken around the whole process (fork, exec, interpreter start, imports, exit), CPU time
(user + system) from ``wait4``; both sides pay the same fixed costs. Every round runs every
(variant, target) pair once, in a shuffled order, so the load of a noisy shared machine falls on all
of them alike; the tables quote medians and ratios to the baseline's median of the same run. CPU
time is the steadier of the two on a shared machine.

Variants (the build output is copied, never changed in place):
  source    the build as ``sam build`` made it, without ``__pycache__``, PYTHONDONTWRITEBYTECODE=1:
            every cold start compiles every module it imports (Lambda's /opt and /var/task are
            read-only, so nothing is ever cached there).
  compiled  the same after ``compileall --invalidation-mode unchecked-hash`` (such a pyc is used
            without comparing timestamps, which a zip round trip does not preserve exactly).
  slim-*    only when the layer ships its own botocore: the same two with the packages the Lambda
            runtime already provides removed from the layer (what the proposed layer build does).

The stand-in runtime is a copy of boto3, botocore, s3transfer, jmespath, dateutil, six and urllib3
from the interpreter running this script, precompiled, as the Lambda runtime ships them.
Results: tables on stdout; JSON (every sample) and Markdown under bench/results/.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import json
import os
import platform
import py_compile
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WORK = RESULTS / "coldstart"
BUILD = REPO / ".aws-sam" / "build"
LAYER_ID = "SharedLayer"
TEMPLATE = REPO / "template.yaml"
TARGET_RATIO = 1.3

STARTUP = "python -c pass"
BASELINE = "import boto3"
BASELINE_FIRST_USE = "import boto3 + DynamoDB client"
FIRST_USE = " + first use"
SHARED = "-"  # the variant of the references: the same processes whatever the layer

# What the python3.12 Lambda runtime provides in /var/runtime: boto3 and its dependencies.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3")

REGION = "us-east-1"
ACCOUNT = "123456789012"
# What Lambda sets in every function's environment (credentials are fake: nothing is sent).
LAMBDA_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "example-secret-access-key-not-a-real-one",
    "AWS_SESSION_TOKEN": "example-session-token",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
}
FIRST_USE_CODE = (
    "; from imagegen.persistence import build_repositories; build_repositories('bench', b'k' * 32)"
)


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler_module: str
    memory_mb: int
    env: dict[str, str]


@dataclass(frozen=True)
class Variant:
    name: str
    layer: Path
    functions: Path  # one directory per function


@dataclass
class Samples:
    """Per (variant, target): the wall ms and CPU ms of every run."""

    wall_ms: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cpu_ms: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, variant: str, target: str, wall: float, cpu: float) -> None:
        self.wall_ms.setdefault((variant, target), []).append(wall)
        self.cpu_ms.setdefault((variant, target), []).append(cpu)

    def median(self, variant: str, target: str, *, cpu: bool) -> float:
        return statistics.median((self.cpu_ms if cpu else self.wall_ms)[(variant, target)])


# ---- the template ---------------------------------------------------------------------------------


class _PlausibleResources:
    """What ``!Ref``/``!GetAtt`` of a resource would be once deployed (names, URLs, ARNs)."""

    def ref(self, logical_id: str) -> Any:
        if logical_id.endswith(("Queue", "DLQ")):
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/imagegen-dev-{logical_id}"
        if logical_id.endswith("Secret"):
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:imagegen-dev-{logical_id}-AbCdEf"
        if logical_id == "ImagesBucket":
            return f"imagegen-dev-{ACCOUNT}-{REGION}"
        return f"imagegen-dev-{logical_id}-1A2B3C4D5E6F"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:{logical_id}/{attribute}"


def read_functions(template_path: Path) -> list[Function]:
    """Every AWS::Serverless::Function with its handler module, memory and resolved environment."""
    sys.path[:0] = [str(REPO / "layers" / "shared"), str(REPO)]
    from devstack.template import Resolver, open_template

    template = open_template(template_path, environ={})  # parameters take their defaults
    defaults = template.globals.get("Function") or {}
    resources = _PlausibleResources()
    found = []
    for logical_id, resource in template.resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        resolver = Resolver(template, resources, where=logical_id)
        env: dict[str, str] = {}
        for block in (defaults.get("Environment"), props.get("Environment")):
            for name, value in ((block or {}).get("Variables") or {}).items():
                env[name] = str(resolver.resolve(value))
        handler = str(props.get("Handler") or defaults.get("Handler") or "app.lambda_handler")
        memory = int(props.get("MemorySize") or defaults.get("MemorySize") or 128)
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"imagegen-dev-{logical_id}"
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory)
        found.append(Function(logical_id, handler.rpartition(".")[0], memory, env))
    return found


# ---- inputs ---------------------------------------------------------------------------------------


def ensure_build(functions: list[Function], rebuild: bool) -> None:
    missing = [f.logical_id for f in functions if not (BUILD / f.logical_id).is_dir()]
    if rebuild or missing or not (BUILD / LAYER_ID / "python").is_dir():
        print("running make build ...", file=sys.stderr)
        subprocess.run(["make", "build"], cwd=REPO, check=True)


def _drop_bytecode(root: Path) -> None:
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for stray in root.rglob("*.pyc"):
        stray.unlink()


def _compile(root: Path) -> None:
    compileall.compile_dir(
        root, quiet=2, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def runtime_duplicates(layer: Path) -> list[str]:
    """Top-level entries of the layer that the Lambda runtime provides too (packages, dist-info)."""
    dist_prefixes = tuple(f"{d}-" for d in RUNTIME_DISTRIBUTIONS)
    return [
        entry.name
        for entry in sorted(layer.iterdir())
        if entry.name.removesuffix(".py") in RUNTIME_PACKAGES or entry.name.lower().startswith(dist_prefixes)
    ]


def make_runtime() -> tuple[Path, dict[str, str]]:
    """A stand-in for /var/runtime: boto3 and its dependencies, precompiled."""
    target = WORK / "runtime"
    versions = {name: importlib.metadata.version(name) for name in ("boto3", "botocore")}
    stamp = target / "versions.json"
    if stamp.exists() and json.loads(stamp.read_text()) == versions:
        return target, versions
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{name} is not installed in {sys.executable}: cannot stand in for the runtime")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, target / origin.name)
    _compile(target)
    stamp.write_text(json.dumps(versions))
    return target, versions


def make_variants(functions: list[Function], layer_source: Path, slim: bool) -> list[Variant]:
    """Copies of the build: without and with bytecode, and slimmed when the layer duplicates the runtime."""
    shutil.rmtree(WORK / "variants", ignore_errors=True)
    variants = []
    for prefix in ("", "slim-") if slim else ("",):
        for bytecode in (False, True):
            name = prefix + ("compiled" if bytecode else "source")
            root = WORK / "variants" / name
            layer = root / "layer" / "python"
            shutil.copytree(layer_source, layer, symlinks=True)
            if prefix:
                for entry in runtime_duplicates(layer):
                    path = layer / entry
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            for fn in functions:
                shutil.copytree(BUILD / fn.logical_id, root / "functions" / fn.logical_id, symlinks=True)
            _drop_bytecode(root)
            if bytecode:
                _compile(root)
            variants.append(Variant(name, layer, root / "functions"))
    return variants


# ---- measurement ----------------------------------------------------------------------------------


def _command(code: str) -> list[str]:
    # -S -s: none of the site-packages of the interpreter running this; -B: never write bytecode.
    return [sys.executable, "-S", "-s", "-B", "-c", code]


def _base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(LAMBDA_ENV)
    env.update(extra or {})
    return env


def function_code(fn: Function, variant: Variant, runtime: Path, *, first_use: bool = False) -> str:
    paths = [str(variant.functions / fn.logical_id), str(variant.layer)]
    code = (
        f"import sys; sys.path[:0] = {paths!r}; sys.path.append({str(runtime)!r}); import {fn.handler_module}"
    )
    return code + (FIRST_USE_CODE if first_use else "")


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall ms around the whole process, and its CPU ms (user + system, from wait4)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter_ns()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(command)} failed:\n{tail}")
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


Job = tuple[str, str, list[str], dict[str, str]]


def jobs_for(functions: list[Function], variants: list[Variant], runtime: Path, first_use: bool) -> list[Job]:
    bare = f"import sys; sys.path.append({str(runtime)!r}); import boto3"
    jobs: list[Job] = [
        (SHARED, STARTUP, _command("pass"), _base_env()),
        (SHARED, BASELINE, _command(bare), _base_env()),
    ]
    if first_use:
        client = "; boto3.session.Session().client('dynamodb')"
        jobs.append((SHARED, BASELINE_FIRST_USE, _command(bare + client), _base_env()))
    for variant in variants:
        for fn in functions:
            code = function_code(fn, variant, runtime)
            jobs.append((variant.name, fn.logical_id, _command(code), _base_env(fn.env)))
            if first_use:
                code = function_code(fn, variant, runtime, first_use=True)
                jobs.append((variant.name, fn.logical_id + FIRST_USE, _command(code), _base_env(fn.env)))
    return jobs


def measure(jobs: list[Job], runs: int, seed: int) -> Samples:
    for _, _, command, env in jobs:  # once each first: fills the page cache, and fails early
        run_once(command, env)
    rng = random.Random(seed)
    samples = Samples()
    for round_no in range(runs):
        rng.shuffle(jobs)
        for variant_name, target, command, env in jobs:
            samples.add(variant_name, target, *run_once(command, env))
        print(f"round {round_no + 1}/{runs} done", file=sys.stderr)
    return samples


def explain(fn: Function, variant: Variant, runtime: Path, top: int = 8) -> list[tuple[float, str]]:
    """The outer modules with the largest cumulative import time, in ms (one ``-X importtime`` run)."""
    command = [sys.executable, "-X", "importtime", *_command(function_code(fn, variant, runtime))[1:]]
    done = subprocess.run(command, env=_base_env(fn.env), capture_output=True, text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if depth <= 2:  # a package's time includes its imports: the outer ones say enough
            rows.append((int(cumulative_us) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:top]


# ---- reporting ------------------------------------------------------------------------------------


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def layer_report(layer: Path) -> dict[str, Any]:
    sizes = {entry.name: _size(entry) for entry in layer.iterdir()}
    duplicates = runtime_duplicates(layer)
    return {
        "path": str(layer),
        "total_bytes": sum(sizes.values()),
        "pyc_files": sum(1 for _ in layer.rglob("*.pyc")),
        "largest": sorted(sizes.items(), key=lambda kv: -kv[1])[:8],
        "runtime_duplicates": duplicates,
        "runtime_duplicate_bytes": sum(sizes[d] for d in duplicates),
    }


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_end": load,
    }


def table(
    functions: list[Function], variants: list[Variant], samples: Samples, *, cpu: bool, first_use: bool
) -> list[str]:
    """Markdown: medians and ratios to the baseline's median, per function and variant."""
    lines = [
        "| function | MB | " + " | ".join(f"{v.name} ms | x base" for v in variants) + " |",
        "|---|---:|" + "---:|---:|" * len(variants),
    ]

    def row(label: str, memory: str, variant_of: Any, target: str, base: float, mark: bool) -> str:
        cells = []
        for v in variants:
            median = samples.median(variant_of(v), target, cpu=cpu)
            over = mark and median / base > TARGET_RATIO
            cells.append(f"{median:.0f} | {median / base:.2f}{' ✗' if over else ''}")
        return f"| {label} | {memory} | " + " | ".join(cells) + " |"

    def shared(_: Variant) -> str:
        return SHARED

    def own(v: Variant) -> str:
        return v.name

    base = samples.median(SHARED, BASELINE, cpu=cpu)
    lines.append(row(f"`{STARTUP}`", "", shared, STARTUP, base, False))
    lines.append(row(f"`{BASELINE}` (base)", "", shared, BASELINE, base, False))
    for fn in functions:
        lines.append(row(fn.logical_id, str(fn.memory_mb), own, fn.logical_id, base, True))
    if first_use:
        base = samples.median(SHARED, BASELINE_FIRST_USE, cpu=cpu)
        lines.append(row(f"`{BASELINE_FIRST_USE}` (base)", "", shared, BASELINE_FIRST_USE, base, False))
        for fn in functions:
            target = fn.logical_id + FIRST_USE
            lines.append(row(target, str(fn.memory_mb), own, target, base, False))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="rounds; every round runs every target once")
    parser.add_argument("--only", default="", help="comma-separated functions (Images or ImagesFunction)")
    parser.add_argument(
        "--first-use", action="store_true", help="also time init + the first request's imports"
    )
    parser.add_argument("--rebuild", action="store_true", help="run make build first")
    parser.add_argument("--layer", type=Path, help="another layer build's python/ directory to measure")
    parser.add_argument("--explain", action="store_true", help="print the slowest imports of each function")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", type=Path, default=RESULTS / "coldstart.json")
    args = parser.parse_args()
    if sys.version_info[:2] != (3, 12):
        raise SystemExit(f"run this with Python 3.12 (Lambda's python3.12), not {platform.python_version()}")
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")

    functions = read_functions(TEMPLATE)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        functions = [f for f in functions if wanted & {f.logical_id, f.logical_id.removesuffix("Function")}]
    ensure_build(functions, args.rebuild)
    layer_source = (args.layer or BUILD / LAYER_ID / "python").resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    runtime, versions = make_runtime()
    layer = layer_report(layer_source)
    variants = make_variants(functions, layer_source, slim=bool(layer["runtime_duplicates"]))
    samples = measure(jobs_for(functions, variants, runtime, args.first_use), args.runs, args.seed)
    info = machine()

    mib = 1024 * 1024
    summary = [
        f"Cold start: median of {args.runs} fresh processes per cell, interleaved; `x base` is the ratio "
        f"to the base's median in the same run (target for init: <= {TARGET_RATIO} x `{BASELINE}`).",
        f"Machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"load average at the end {info['loadavg_at_end']}.",
        f"Runtime stand-in: boto3 {versions['boto3']}, botocore {versions['botocore']}.",
        "",
        "Wall time (ms):",
        "",
        *table(functions, variants, samples, cpu=False, first_use=args.first_use),
        "",
        "CPU time, user + system (ms):",
        "",
        *table(functions, variants, samples, cpu=True, first_use=args.first_use),
        "",
        f"Layer measured: {layer['path']}: {layer['total_bytes'] / mib:.1f} MiB unzipped, "
        f"{layer['pyc_files']} .pyc files; runtime duplicates: "
        f"{', '.join(layer['runtime_duplicates']) or 'none'} "
        f"({layer['runtime_duplicate_bytes'] / mib:.1f} MiB).",
        "Largest entries (MiB): " + ", ".join(f"{name} {size / mib:.1f}" for name, size in layer["largest"]),
    ]
    explained: dict[str, Any] = {}
    if args.explain:
        best = variants[-1]
        summary += [
            "",
            f"Slowest imports at init ({best.name}; one `-X importtime` run each; cumulative ms):",
        ]
        for fn in functions:
            explained[fn.logical_id] = rows = explain(fn, best, runtime)
            summary.append(f"- {fn.logical_id}: " + ", ".join(f"{name} {ms:.0f}" for ms, name in rows))
    print("\n" + "\n".join(summary))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs,
        "machine": info,
        "runtime": versions,
        "layer": layer,
        "variants": [v.name for v in variants],
        "wall_ms": {f"{v}/{t}": values for (v, t), values in samples.wall_ms.items()},
        "cpu_ms": {f"{v}/{t}": values for (v, t), values in samples.cpu_ms.items()},
        "importtime_ms": explained,
    }
    args.out.write_text(json.dumps(report, indent=2))
    args.out.with_suffix(".md").write_text("\n".join(summary) + "\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
