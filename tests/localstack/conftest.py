"""Fixtures of the local stack's tests: the stack runs as a subprocess on a free port, driven over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).resolve().parent / "fixture_app"
READY = re.compile(r"Local stack ready on (http://\S+)")

# The caller's environment: GREETING feeds a template parameter, OWN_SETTING overrides a variable the
# template sets, TABLE_NAME must not override a resource's name, CALLER_ONLY must not reach functions.
CALLER_ENV = {
    "GREETING": "bonjour",
    "OWN_SETTING": "from-caller",
    "TABLE_NAME": "not-the-table",
    "HOME_SECRET_OF_CALLER": "leaked",
}


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 15,
) -> Reply:
    """One HTTP request without following redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target or "/", body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return request("GET", self.url + path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        return request(method, self.url + path, **kwargs)

    def aws(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.info["emulatorUrl"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def resource_name(self, logical_id: str) -> str:
        return str(self.info["resources"][logical_id]["name"])

    def queue_url(self, logical_id: str) -> str:
        return str(self.info["resources"][logical_id]["url"])

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)


def start_stack(
    tmp: Path,
    *,
    template: Path = FIXTURE_APP / "template.yaml",
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 40,
) -> RunningStack:
    environment = {**os.environ, **CALLER_ENV, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "layers" / "shared"), environment.get("PYTHONPATH")])
    )
    # Let the interpreter keep its bytecode cache (in __pycache__, ignored by git): it halves the start time.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment.pop("PORT", None)
    command = [
        sys.executable,
        "-m",
        "devstack.stack",
        "--port",
        "0",
        "--template",
        str(template),
        "--state-dir",
        str(tmp / "state"),
        *(extra_args or []),
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = RunningStack(process=process, url="")
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line.rstrip("\n"))
            match = READY.search(line)
            if match:
                stack.url = match.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout) or not stack.url:
        process.kill()
        raise AssertionError("the local stack did not start:\n" + stack.output())
    stack.info = request("GET", stack.url + "/_local/info").json()
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("localstack"),
        extra_args=["--frontend-dist", str(FIXTURE_APP / "dist"), "--function-logs"],
    )
    yield running
    code = running.stop()
    assert code == 0, running.output()


def eventually(check: Any, *, timeout: float = 15, interval: float = 0.2) -> Any:
    """Polls ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
