"""CORS is limited to FRONTEND_URL: a stack started with FRONTEND_URL=http://app.example.test, over HTTP.

The HTTP API's CorsConfiguration (template.yaml) names ``!Ref FrontendUrl`` as the only origin, and the
gateway answers preflights itself and replaces the functions' ``Access-Control-*`` headers, as API
Gateway does. The bucket's CORS rule (for the browser's presigned POST) names the same origin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.e2e.conftest import Reply, Stack, flow_cookie, request, start_stack, stop_stack

pytestmark = pytest.mark.e2e

FRONTEND = "http://app.example.test"
FOREIGN = [
    "http://evil.example.test",
    "https://app.example.test",  # another scheme is another origin
    "http://app.example.test:8080",  # and so is another port
    "http://app.example.test.evil.test",  # a suffix is not the origin
    "http://sub.app.example.test",
    "null",  # sandboxed frames and file:// pages
]
HEADERS = {"authorization", "content-type", "idempotency-key"}
ROUTES = [
    ("POST", "/images/generate"),
    ("POST", "/images/uploads"),
    ("GET", "/images"),
    ("PATCH", "/images/0f0e6f1e-1111-4222-8333-944445555666"),
    ("DELETE", "/images/0f0e6f1e-1111-4222-8333-944445555666"),
    ("PATCH", "/me"),
    ("DELETE", "/me"),
    ("POST", "/auth/logout"),
    ("PUT", "/admin/users/some-id/roles/ADMIN"),
    ("POST", "/admin/users/some-id/coins"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = start_stack({"FRONTEND_URL": FRONTEND})
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return stack.sign_in(f"cors-{uuid.uuid4().hex[:8]}@example.com")[0]


def _preflight(stack: Stack, path: str, method: str, origin: str) -> Reply:
    return request(
        "OPTIONS",
        f"{stack.url}{path}",
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": "authorization,content-type,idempotency-key",
        },
    )


def _names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_preflight_from_the_frontend_is_allowed(stack: Stack, method: str, path: str) -> None:
    reply = _preflight(stack, path, method, FRONTEND)
    assert 200 <= reply.status < 300, reply
    assert reply.headers["access-control-allow-origin"] == FRONTEND
    assert method.lower() in _names(reply.headers["access-control-allow-methods"])
    assert _names(reply.headers["access-control-allow-headers"]) >= HEADERS
    assert reply.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in reply.headers  # bearer tokens, no cookies


@pytest.mark.parametrize("origin", FOREIGN)
@pytest.mark.parametrize(("method", "path"), ROUTES[:3])
def test_a_preflight_from_another_origin_gets_no_allowance(
    stack: Stack, method: str, path: str, origin: str
) -> None:
    reply = _preflight(stack, path, method, origin)
    assert reply.status < 500
    assert not [k for k in reply.headers if k.startswith("access-control-")], reply.headers


def test_a_preflight_for_a_method_outside_the_configuration_gets_no_allowance(stack: Stack) -> None:
    reply = _preflight(stack, "/me", "TRACE", FRONTEND)
    assert reply.status < 500 and "access-control-allow-origin" not in reply.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/me", 200),
        ("GET", "/images", 200),
        ("GET", "/images/0f0e6f1e-1111-4222-8333-944445555666", 404),  # errors must be readable too
        ("GET", "/admin/users", 403),
        ("GET", "/health", 200),
    ],
)
def test_responses_name_only_the_frontend(
    stack: Stack, token: str, method: str, path: str, status: int
) -> None:
    allowed = stack.call(method, path, token=token, headers={"origin": FRONTEND})
    assert allowed.status == status, allowed.body
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert _names(allowed.headers["access-control-expose-headers"]) >= {"retry-after", "location"}
    for origin in FOREIGN:
        foreign = stack.call(method, path, token=token, headers={"origin": origin})
        assert foreign.status == status, (origin, foreign.body)
        assert not [k for k in foreign.headers if k.startswith("access-control-")], (origin, foreign.headers)


def test_a_request_without_an_origin_gets_no_cors_headers(stack: Stack, token: str) -> None:
    reply = stack.call("GET", "/me", token=token)
    assert reply.status == 200
    assert not [k for k in reply.headers if k.startswith("access-control-")], reply.headers


def test_unauthorized_answers_are_readable_by_the_frontend(stack: Stack) -> None:
    reply = stack.call("GET", "/me", token="not-a-token", headers={"origin": FRONTEND})
    assert (reply.status, reply.json()["code"]) == (401, "unauthorized")
    assert reply.headers["access-control-allow-origin"] == FRONTEND


def test_the_bucket_allows_the_frontends_upload_and_nobody_elses(stack: Stack, token: str) -> None:
    created = stack.call(
        "POST",
        "/images/uploads",
        token=token,
        body={"filename": "a.png", "contentType": "image/png", "size": 10},
    )
    assert created.status == 201, created.body
    url = created.json()["upload"]["url"]
    headers = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    allowed = request("OPTIONS", url, headers={**headers, "origin": FRONTEND})
    assert allowed.status == 200 and allowed.headers["access-control-allow-origin"] == FRONTEND
    assert "POST" in allowed.headers["access-control-allow-methods"]
    for origin in FOREIGN[:2]:
        refused = request("OPTIONS", url, headers={**headers, "origin": origin})
        assert refused.status == 403, (origin, refused.status)  # a failed preflight, whatever its headers


def test_sign_in_returns_to_the_frontend(stack: Stack) -> None:
    login = request("GET", f"{stack.url}/auth/google/login")
    assert login.status == 302
    back = request("GET", f"{login.headers['location']}&login_hint=cors-return@example.com")
    assert back.status == 302 and set(dict(parse_qsl(urlsplit(back.headers["location"]).query))) >= {
        "code",
        "state",
    }
    done = request("GET", back.headers["location"], headers=flow_cookie(login))
    assert done.status == 303
    assert done.headers["location"].startswith(f"{FRONTEND}/auth/callback#token=")
