"""API docs on the local stack: the OpenAPI document at ``/openapi.json`` (its ``servers`` entry is the
stack itself, so Swagger UI's "Try it out" calls it), and ``/_local/token``, which signs in through the
Google stand-in the way a browser does and answers the session token to paste into Swagger UI.

The page at ``/docs`` is part of the built web app (``frontend/docs``, put into ``frontend/dist/docs`` with
the pinned ``swagger-ui-dist`` assets by ``npm run build``); the gateway serves it as a static file.
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from devstack.stack.apigw import HttpRequest, HttpResponse, json_response, problem

LOGIN_PATH = "/auth/google/login"
CALLBACK_PATH = "/auth/google/callback"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DOCS_PAGE = Path("docs") / "index.html"  # inside the built web app


def openapi_response(document: Path, base_url: str) -> HttpResponse:
    """The document, read on every request (``make openapi`` shows without a restart), with
    ``servers`` replaced by this stack's URL."""
    try:
        spec = json.loads(document.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return problem(500, "Internal Server Error", "openapi_unreadable", f"{document}: {exc}")
    spec["servers"] = [{"url": base_url, "description": "this local stack"}]
    return HttpResponse(
        200,
        [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-cache")],
        json.dumps(spec, indent=2).encode(),
    )


def docs_missing() -> HttpResponse:
    return problem(
        404,
        "Not Found",
        "not_found",
        "The API docs page is part of the built web app: run `make frontend` (or `npm run build` in "
        "frontend/) and reload.",
    )


def token_response(request: HttpRequest, base_url: str, google_base_path: str) -> HttpResponse:
    """``GET /_local/token?email=...``: the application's real sign-in (login, the stand-in's
    authorize with ``login_hint``, the callback with ``Accept: application/json``), run over HTTP
    against this stack; answers the callback's JSON (``token``, ``expiresAt``, ``user``)."""
    if request.method != "GET":
        return problem(405, "Method Not Allowed", "method_not_allowed", "Use GET /_local/token?email=...")
    email = dict(parse_qsl(request.raw_query)).get("email", "").strip()
    if not EMAIL.fullmatch(email):
        detail = "Pass an email: /_local/token?email=you@example.com"
        return problem(400, "Bad Request", "validation_error", detail)
    login = _get(base_url, LOGIN_PATH)
    if login.status == 404:
        return problem(404, "Not Found", "not_found", f"This application has no GET {LOGIN_PATH} route.")
    authorize = login.getheader("Location") or ""
    stand_in = f"{base_url}{google_base_path}/authorize?"
    if login.status != 302 or not authorize.startswith(stand_in):
        what = f"GET {LOGIN_PATH} answered {login.status}, not a redirect to the Google stand-in"
        return _failed(what, login)
    cookie = "; ".join(
        value.split(";", 1)[0] for key, value in login.getheaders() if key.lower() == "set-cookie"
    )
    params = dict(parse_qsl(urlsplit(authorize).query, keep_blank_values=True))
    params["login_hint"] = email
    back = _get(base_url, f"{google_base_path}/authorize?{urlencode(params)}")
    callback = urlsplit(back.getheader("Location") or "")
    if back.status != 302 or callback.path != CALLBACK_PATH:
        return _failed(f"the Google stand-in answered {back.status}, not a redirect to the callback", back)
    headers = {"Accept": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    signed_in = _get(base_url, f"{CALLBACK_PATH}?{callback.query}", headers)
    body = signed_in.read()
    if signed_in.status != 200:
        return _failed(f"GET {CALLBACK_PATH} answered {signed_in.status}", signed_in, body)
    try:
        answer = json.loads(body)
    except ValueError:
        return _failed(f"GET {CALLBACK_PATH} answered no JSON", signed_in, body)
    return json_response(200, answer, headers=[("Cache-Control", "no-store")])


class _Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self._headers = response.getheaders()
        self._body = response.read()

    def getheader(self, name: str) -> str | None:
        return next((value for key, value in self._headers if key.lower() == name.lower()), None)

    def getheaders(self) -> list[tuple[str, str]]:
        return self._headers

    def read(self) -> bytes:
        return self._body


def _get(base_url: str, target: str, headers: dict[str, str] | None = None) -> _Reply:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=35)
    try:
        connection.request("GET", target, headers=headers or {})
        return _Reply(connection.getresponse())
    finally:
        connection.close()


def _failed(what: str, reply: _Reply, body: bytes | None = None) -> HttpResponse:
    text = (reply.read() if body is None else body).decode("utf-8", "replace")[:500]
    return problem(502, "Bad Gateway", "sign_in_failed", f"The local sign-in failed: {what}. {text}".strip())
