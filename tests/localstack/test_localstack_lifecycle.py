"""Starting and stopping the local stack, and the one-shot invoker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.stack.runtime import FunctionPool
from tests.localstack.conftest import FIXTURE_APP, ROOT, start_stack

pytestmark = pytest.mark.e2e


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_everything_and_exits_0(tmp_path: Path, signum: int) -> None:
    stack = start_stack(tmp_path)
    try:
        assert (tmp_path / "state" / "localstack.json").exists()
        assert stack.get("/public/echo").status == 200
        assert stack.get("/slow?seconds=0").status == 200
        workers = children(stack.process.pid)
        assert len(workers) >= 2
        started = time.monotonic()
        stack.process.send_signal(signum)
        code = stack.process.wait(timeout=8)
        assert code == 0, stack.output()
        assert time.monotonic() - started < 4.0
        assert not [pid for pid in workers if alive(pid)]
        assert not (tmp_path / "state" / "localstack.json").exists()
    finally:
        if stack.process.poll() is None:
            stack.process.kill()


def test_invoke_runs_one_function_once(tmp_path: Path) -> None:
    event = tmp_path / "scheduled.json"
    event.write_text(json.dumps({"id": "evt-1", "detail-type": "Scheduled Event", "source": "aws.events"}))
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.stack.invoke",
            "ticker",
            str(event),
            "--template",
            str(FIXTURE_APP / "template.yaml"),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ticked": "evt-1"}
    assert "ticker: ok" in done.stderr

    failing = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.stack.invoke",
            "BoomFunction",
            str(event),
            "--template",
            str(FIXTURE_APP / "template.yaml"),
            "--quiet",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["errorType"] == "ValueError"


def test_template_error_names_the_resource(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Thing:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      QueueName: !ImportValue other-stack-queue\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    done = subprocess.run(
        [sys.executable, "-m", "devstack.stack", "--template", str(template), "--port", "0"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Thing" in done.stderr and "ImportValue" in done.stderr


def test_stopping_ends_invocations_in_flight(tmp_path: Path) -> None:
    import threading

    stack = start_stack(tmp_path)
    try:
        assert stack.get("/slow?seconds=0").status == 200  # warm, so the next call is sleeping within 0.5 s
        thread = threading.Thread(target=lambda: stack.get("/slow?seconds=4.8"), daemon=True)
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        stack.process.send_signal(signal.SIGTERM)
        assert stack.process.wait(timeout=12) == 0
        # Before the 4.8 s handler (within the fixture's 5 s timeout) returns; room for a busy machine.
        assert time.monotonic() - started < 4.0
    finally:
        if stack.process.poll() is None:
            stack.process.kill()


def _one_worker_pool(code: Path, *, timeout_seconds: int) -> FunctionPool:
    """A pool of one worker for the function ``code/app.py:handler``."""
    from devstack.stack.runtime import base_environment
    from devstack.stack.sam import FunctionSpec

    spec = FunctionSpec(
        logical_id="Fn",
        name="fn",
        short_name="fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        code_dir=code,
        handler="app.handler",
        runtime="python3.12",
        timeout_seconds=timeout_seconds,
        memory_mb=128,
        layer_dirs=(),
        raw_env={},
    )
    return FunctionPool(
        spec, {**base_environment(), "PYTHONPATH": str(code)}, lambda name, line: None, size=1
    )


def test_an_edited_function_is_reloaded_on_its_next_invocation(tmp_path: Path) -> None:

    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return 'first'\n")
    pool = _one_worker_pool(code, timeout_seconds=5)
    try:
        assert pool.invoke({}).result == "first"
        assert pool.invoke({}).result == "first"  # warm
        time.sleep(1.1)
        (code / "app.py").write_text("def handler(event, context):\n    return 'second'\n")
        os.utime(code / "app.py", (time.time() + 1, time.time() + 1))
        assert pool.invoke({}).result == "second"
    finally:
        pool.close()


def test_a_request_waits_for_a_free_worker_only_so_long(tmp_path: Path) -> None:
    """One worker, busy: a second invocation with a bounded wait is ``throttled`` (the gateway's 503)
    instead of hanging; without a bound (a queued event) it waits and runs."""
    import threading

    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(event)\n    return event\n"
    )
    pool = _one_worker_pool(code, timeout_seconds=10)
    try:
        assert pool.invoke(0).result == 0  # warm
        busy = threading.Thread(target=pool.invoke, args=(2,))
        busy.start()
        time.sleep(0.3)
        started = time.monotonic()
        refused = pool.invoke(0, wait=0.5)
        waited = time.monotonic() - started
        assert refused.kind == "throttled" and not refused.ok
        assert 0.4 < waited < 1.5
        patient = pool.invoke(0)  # no bound: runs once the worker is free
        assert patient.ok and patient.result == 0
        busy.join()
    finally:
        pool.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
def test_stopping_after_load_is_quick_whatever_the_emulator_holds(tmp_path: Path) -> None:
    """The emulator lives in the stack's process: after a long session it holds a big heap, whose final
    garbage collection once took longer than the whole orderly stop. 20,000 items (a million objects in
    moto) and some requests, then SIGTERM: exit 0, the workers gone, well within 5 s."""
    stack = start_stack(tmp_path)
    try:
        dynamodb = stack.aws("dynamodb")
        table = stack.resource_name("Table")
        padding = "x" * 200
        for start in range(0, 20_000, 25):
            dynamodb.batch_write_item(
                RequestItems={
                    table: [
                        {
                            "PutRequest": {
                                "Item": {
                                    "pk": {"S": f"USER#{n % 500}"},
                                    "sk": {"S": f"ITEM#{n:06d}"},
                                    "gsi1pk": {"S": f"ALL#{n % 7}"},
                                    "gsi1sk": {"S": f"{n:06d}"},
                                    "tags": {"L": [{"S": f"tag-{n % 13}"}, {"N": str(n)}]},
                                    "padding": {"S": padding},
                                }
                            }
                        }
                        for n in range(start, start + 25)
                    ]
                }
            )
        for _ in range(20):
            assert stack.get("/public/echo").status == 200
        assert stack.get("/slow?seconds=0").status == 200
        workers = children(stack.process.pid)
        assert workers
        started = time.monotonic()
        stack.process.send_signal(signal.SIGTERM)
        code = stack.process.wait(timeout=30)
        took = time.monotonic() - started
        assert code == 0, stack.output()
        assert took < 5, f"stopping took {took:.1f}s:\n" + "\n".join(stack.lines[-5:])
        assert not [pid for pid in workers if alive(pid)]
        assert any("stopped in" in line for line in stack.lines), stack.output()
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
