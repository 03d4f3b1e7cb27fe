"""Function runtime: a small pool of warm worker processes per function, like Lambda's execution environments.

Each worker is a separate Python process with the function's own environment and import path, so every
function's ``app`` module lives in its own namespace. A worker that times out is killed (Lambda ends the
environment too); one that dies is replaced on the next invocation.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from devstack.stack.sam import FunctionSpec

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
MAX_WORKERS_PER_FUNCTION = 4
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase

LogSink = Callable[[str, str], None]  # (function short name, line)


@dataclass(frozen=True)
class InvocationResult:
    """The end of one invocation. ``kind`` tells apart the ways it can fail (they all become a 500, but
    ``throttled``: no worker became free within the caller's wait, which the gateway answers with 503)."""

    kind: Literal["ok", "error", "timeout", "crash", "init_error", "throttled"]
    result: Any = None
    error: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def describe(self) -> str:
        if self.ok:
            return "ok"
        kind = self.error.get("errorType", self.kind)
        return f"{kind}: {self.error.get('errorMessage', '')}".strip()


class WorkerGone(Exception):
    pass


class CodeWatch:
    """The newest modification time of a function's code and layers, looked at most once a second, so a
    worker started before an edit is replaced instead of reused (what a restart would do)."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = tuple(roots)
        self._checked = 0.0
        self._stamp = 0.0
        self._lock = threading.Lock()

    def stamp(self) -> float:
        with self._lock:
            if time.monotonic() - self._checked >= 1.0:
                self._stamp = max((self._newest(root) for root in self.roots), default=0.0)
                self._checked = time.monotonic()
            return self._stamp

    @staticmethod
    def _newest(root: Path) -> float:
        newest = 0.0
        for directory, names, files in os.walk(root):
            names[:] = [name for name in names if name != "__pycache__" and not name.startswith(".")]
            for name in files:
                if name.endswith(".py"):
                    with contextlib.suppress(OSError):
                        newest = max(newest, os.stat(os.path.join(directory, name)).st_mtime)
        return newest


class Worker:
    def __init__(
        self, spec: FunctionSpec, env: Mapping[str, str], log: LogSink, code_stamp: float = 0.0
    ) -> None:
        self.spec = spec
        self.code_stamp = code_stamp
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-P", "-u", str(WORKER_SCRIPT), spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=spec.code_dir,
            # Own session: Ctrl-C in the terminal reaches the stack, which then stops its workers in order.
            start_new_session=True,
        )
        threading.Thread(target=self._read_protocol, name=f"{spec.short_name}-proto", daemon=True).start()
        threading.Thread(
            target=self._read_logs, args=(log,), name=f"{spec.short_name}-logs", daemon=True
        ).start()

    def _read_protocol(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._messages.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self._messages.put(None)

    def _read_logs(self, log: LogSink) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            log(self.spec.short_name, raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """None when ready; the init error otherwise."""
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            return {"errorType": "Runtime.InitTimeout", "errorMessage": f"init took more than {timeout:.0f}s"}
        if message is None:
            return {"errorType": "Runtime.ExitError", "errorMessage": "the runtime exited during init"}
        if message.get("type") == "ready":
            return None
        self.kill()
        error: dict[str, Any] = message.get("error") or {}
        return error

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The worker's reply; raises TimeoutError (the worker is then killed) or WorkerGone."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise TimeoutError from None
        if message is None:
            raise WorkerGone(f"exit code {self.process.poll()}")
        return message

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, grace: float = 1.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)


class FunctionPool:
    """Up to ``size`` warm workers for one function; invocations beyond that wait for a free one."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], log: LogSink, size: int) -> None:
        self.spec = spec
        self.env = dict(env)
        self.log = log
        self.size = max(1, size)
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        self._code = CodeWatch((spec.code_dir, *spec.layer_dirs))

    def invoke(
        self, event: Any, *, timeout: float | None = None, wait: float | None = None
    ) -> InvocationResult:
        """Run ``event`` on a free worker. ``wait`` bounds the wait for one (None: as long as it takes, as
        for queued events); past it the result is ``throttled`` and nothing ran."""
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        worker, init_error = self._acquire(None if wait is None else started + wait)
        if worker is None and init_error is None:
            return InvocationResult(
                "throttled",
                error={"errorType": "TooManyRequestsException", "errorMessage": "no free worker"},
                request_id=request_id,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        if worker is None:
            return InvocationResult(
                "init_error",
                error=init_error or {},
                request_id=request_id,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        limit = self.spec.timeout_seconds if timeout is None else min(timeout, self.spec.timeout_seconds)
        request = {
            "id": request_id,
            "request_id": request_id,
            "function_arn": self.spec.arn,
            "deadline_ms": int((time.time() + limit) * 1000),
            "event": event,
        }
        healthy = False
        try:
            reply = worker.invoke(request, limit)
            healthy = True
        except TimeoutError:
            return InvocationResult(
                "timeout",
                request_id=request_id,
                duration_ms=(time.monotonic() - started) * 1000,
                error={
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {limit:.2f} seconds",
                },
            )
        except WorkerGone as exc:
            return InvocationResult(
                "crash",
                request_id=request_id,
                duration_ms=(time.monotonic() - started) * 1000,
                error={
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited ({exc})",
                },
            )
        finally:
            self._release(worker, healthy)
        duration = (time.monotonic() - started) * 1000
        if reply.get("ok"):
            return InvocationResult(
                "ok", result=reply.get("result"), duration_ms=duration, request_id=request_id
            )
        return InvocationResult(
            "error", error=reply.get("error") or {}, duration_ms=duration, request_id=request_id
        )

    def _acquire(self, deadline: float | None) -> tuple[Worker | None, dict[str, Any] | None]:
        """A worker, or (None, error) when one could not start, or (None, None) past ``deadline``."""
        code_stamp = self._code.stamp()
        stale: list[Worker] = []
        try:
            return self._take_or_start(code_stamp, stale, deadline)
        finally:
            for worker in stale:
                worker.close()

    def _take_or_start(
        self, code_stamp: float, stale: list[Worker], deadline: float | None
    ) -> tuple[Worker | None, dict[str, Any] | None]:
        with self._cond:
            while True:
                if self._closed:
                    return None, {
                        "errorType": "Runtime.Shutdown",
                        "errorMessage": "the local stack is stopping",
                    }
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive() and worker.code_stamp >= code_stamp:
                        self._busy.add(worker)
                        return worker, None
                    self._count -= 1
                    stale.append(worker)
                if self._count < self.size:
                    self._count += 1
                    break
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, None
                self._cond.wait(remaining)
        started: Worker | None = None
        try:
            started = Worker(self.spec, self.env, self.log, code_stamp)
            with self._cond:
                self._busy.add(started)
            error = started.wait_ready(INIT_TIMEOUT_SECONDS)
        except OSError as exc:
            error = {"errorType": "Runtime.StartError", "errorMessage": str(exc)}
        if error is not None:
            with self._cond:
                if started is not None:
                    self._busy.discard(started)
                self._count -= 1
                self._cond.notify()
            return None, error
        return started, None

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            if healthy and worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker.alive():
                    worker.kill()
            self._cond.notify()

    def close(self) -> None:
        """Idle workers end on their own (end of input); busy ones are killed, their callers get a 500."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._cond.notify_all()
        for worker in busy:
            worker.kill()
        for worker in idle:
            worker.close()


def base_environment() -> dict[str, str]:
    """What a function's process gets besides its settings: of the caller's shell, only the basics."""
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        if key in os.environ
    }
    env.update(
        {
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            # The caller's ~/.aws files must not steer the functions (a profile's region or endpoint).
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env
