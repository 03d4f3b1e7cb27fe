"""The real application on the local stack, started as a subprocess on a free port, driven over HTTP."""

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
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"Local stack ready on (http://\S+)")
ADMIN_EMAIL = "admin@example.com"
STACK_ENV = {
    "ADMIN_EMAILS": ADMIN_EMAIL,
    "GENERATION_COST": "10",
    "SIGNUP_BONUS_COINS": "100",
    "RATE_LIMIT_GENERATE_PER_MINUTE": "1000",
    "RATE_LIMIT_UPLOAD_PER_MINUTE": "1000",
    "MAX_PENDING_UPLOADS": "1000",
    "MAX_UPLOAD_BYTES": "2000000",
}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    """One HTTP request, redirects not followed."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request(
            method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers or {}
        )
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def flow_cookie(login: Reply) -> dict[str, str]:
    """The ``Cookie`` header a browser sends back after ``/auth/google/login`` (its flow cookie; path
    ``/auth``, so it goes back on the callback)."""
    set_cookie = login.headers.get("set-cookie")
    assert set_cookie, "the login set no cookie"
    return {"cookie": set_cookie.split(";", 1)[0]}


@dataclass
class Stack:
    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> Reply:
        hdrs = {"accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        if token:
            hdrs["authorization"] = f"Bearer {token}"
        return request(
            method, f"{self.url}{path}{'?' + urlencode(query) if query else ''}", headers=hdrs, body=data
        )

    def sign_in(self, email: str) -> tuple[str, dict[str, Any]]:
        """The browser's journey: our login -> Google (the stand-in) -> our callback -> a token."""
        login = request("GET", f"{self.url}/auth/google/login")
        assert login.status == 302, login.body
        authorize = login.headers["location"]
        assert authorize.startswith(f"{self.url}/_local/google/authorize?")
        back = request("GET", f"{authorize}&login_hint={email}")
        assert back.status == 302, back.body
        callback = back.headers["location"]
        params = dict(parse_qsl(urlsplit(callback).query))
        assert set(params) >= {"code", "state"}
        reply = request("GET", callback, headers={"accept": "application/json", **flow_cookie(login)})
        assert reply.status == 200, reply.body
        body = reply.json()
        return body["token"], body["user"]

    def wait_for(
        self,
        token: str,
        image_id: str,
        statuses: tuple[str, ...] = ("COMPLETED", "FAILED"),
        timeout: float = 60,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            image: dict[str, Any] = self.call("GET", f"/images/{image_id}", token=token).json()
            if image["status"] in statuses:
                return image
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"image still {image['status']} after {timeout}s:\n" + "\n".join(self.lines[-30:])
                )
            time.sleep(0.2)


def start_stack(extra_env: dict[str, str] | None = None) -> Stack:
    env = {**os.environ, **STACK_ENV, **(extra_env or {}), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.stack",
            "--port",
            "0",
            "--state-dir",
            str(ROOT / ".local" / f"e2e-{os.getpid()}"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout
        for line in process.stdout:
            lines.append(line.rstrip())
            match = READY.search(line)
            if match:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or not found:
        process.kill()
        raise RuntimeError("the local stack did not start:\n" + "\n".join(lines[-40:]))
    return Stack(found[0], process, lines)


def stop_stack(stack: Stack) -> int:
    stack.process.terminate()
    try:
        return stack.process.wait(20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        return -9


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    running = start_stack()
    try:
        yield running
    finally:
        stop_stack(running)
