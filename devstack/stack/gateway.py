"""The HTTP side of the stack on one port: the template's HTTP API routes (as API Gateway would run them),
the ``/_local/*`` routes, the API docs (``/openapi.json``, ``/docs``) and the built frontend for browser
navigations that match no API route."""

from __future__ import annotations

import json
import mimetypes
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from devstack.stack.apidocs import DOCS_PAGE, docs_missing, openapi_response
from devstack.stack.apigw import (
    MAX_PAYLOAD_BYTES,
    AuthorizerResponseError,
    FunctionResponseError,
    HttpRequest,
    HttpResponse,
    RouteMatch,
    Router,
    apply_cors,
    authorizer_event,
    authorizer_verdict,
    function_response,
    http_event,
    identity_values,
    internal_error,
    is_preflight,
    json_response,
    preflight_response,
    problem,
    route_arn,
)
from devstack.stack.console import Console
from devstack.stack.google import GoogleStandIn
from devstack.stack.runtime import InvocationResult
from devstack.stack.sam import Application, Cors, HttpApi, LambdaAuthorizer
from devstack.stack.websocket import WebSocketGateway

API_TIMEOUT_SECONDS = 30.0  # HTTP API's integration timeout
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
PROBE_HEADER = "X-Local-Stack-Probe"  # the stack's own readiness check, left out of the request log
WEBSOCKET_PATH = "/ws"  # where the template's WebSocket API answers (its wss:// URL on AWS)

Invoke = Callable[..., InvocationResult]  # (function logical id, event, timeout=seconds, wait=seconds)
WORKER_WAIT_SECONDS = 10.0


@dataclass
class _Served:
    response: HttpResponse
    label: str
    note: str = ""
    error: dict[str, Any] | None = None


class StaticSite:
    """Files of the built frontend; ``index.html`` for HTML navigations to the SPA's own routes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def serve(self, request: HttpRequest) -> HttpResponse | None:
        relative = unquote(request.raw_path).lstrip("/")
        candidate = (self.root / relative).resolve()
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return self._file(candidate)
        if "text/html" in (request.header("accept") or ""):
            index = self.root / "index.html"
            if index.is_file():
                return self._file(index)
        return None

    @staticmethod
    def _file(path: Path) -> HttpResponse:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in (
            "application/javascript",
            "application/json",
            "image/svg+xml",
        ):
            kind += "; charset=utf-8"
        return HttpResponse(200, [("Content-Type", kind), ("Cache-Control", "no-cache")], path.read_bytes())


class Gateway:
    def __init__(
        self,
        *,
        app: Application,
        invoke: Invoke,
        console: Console,
        google: GoogleStandIn,
        static: StaticSite | None,
        local_routes: Callable[[HttpRequest], HttpResponse | None],
        openapi: Path | None = None,
    ) -> None:
        self.app = app
        self.invoke = invoke
        self.console = console
        self.google = google
        self.static = static
        self.local_routes = local_routes
        self.openapi = openapi  # served at /openapi.json when the template declares no such route
        self.router = Router(app.routes)
        self.base_url = ""
        # How long a request waits for a free worker before the gateway answers 503 (API Gateway answers
        # at once when a function's concurrency is exhausted; a little patience suits a laptop better).
        self.worker_wait = WORKER_WAIT_SECONDS
        self._auth_cache: dict[tuple[str, str, tuple[str, ...]], tuple[float, Any]] = {}
        self._auth_lock = threading.Lock()
        self._health_declared = any(route.path == "/health" for route in app.routes)
        # The template's WebSocket API, served at WEBSOCKET_PATH (set by the stack when there is one).
        self.websocket: WebSocketGateway | None = None

    def label(self, function: str) -> str:
        spec = self.app.functions.get(function)
        return spec.short_name if spec else function

    def handle(self, request: HttpRequest) -> _Served:
        path = request.raw_path
        if path.startswith("/_local/"):
            if path.startswith(self.google.base_path + "/"):
                return _Served(self.google.handle(request, self.base_url), "google")
            found = self.local_routes(request)
            return _Served(found or problem(404, "Not Found", "not_found"), "_local")
        if is_preflight(request):
            cors = self._cors_for(path)
            if cors is not None:
                return _Served(preflight_response(cors, request), "cors")
        match = self.router.match(request.method, path)
        if match is None:
            return self._unrouted(request)
        api = self.app.apis[match.route.api]
        served = self._route(request, match, api)
        if api.cors is not None:
            apply_cors(api.cors, request, served.response)
        served.response.set_header("Apigw-Requestid", request.request_id)
        return served

    def _cors_for(self, path: str) -> Cors | None:
        candidates = [self.app.apis[route.api] for route in self.router.any_method_matches(path)]
        candidates += list(self.app.apis.values())
        for api in candidates:
            if api.cors is not None:
                return api.cors
        return None

    def _unrouted(self, request: HttpRequest) -> _Served:
        if request.raw_path == "/health" and not self._health_declared and request.method in ("GET", "HEAD"):
            return _Served(json_response(200, {"status": "ok"}), "gateway")
        if request.method in ("GET", "HEAD"):
            if request.raw_path == "/openapi.json" and self.openapi is not None and self.openapi.is_file():
                return _Served(openapi_response(self.openapi, self.base_url), "docs")
            if request.raw_path.rstrip("/") == "/docs" and (
                self.static is None or not (self.static.root / DOCS_PAGE).is_file()
            ):
                return _Served(docs_missing(), "docs")
        if request.method in ("GET", "HEAD") and self.static is not None:
            found = self.static.serve(request)
            if found is not None:
                return _Served(found, "static")
        response = problem(404, "Not Found", "not_found")
        cors = self._cors_for(request.raw_path)
        if cors is not None:
            apply_cors(cors, request, response)
        return _Served(response, "-")

    def _route(self, request: HttpRequest, match: RouteMatch, api: HttpApi) -> _Served:
        route = match.route
        label = self.label(route.function)
        context: dict[str, Any] | None = None
        if route.authorizer is not None:
            authorizer = api.authorizers[route.authorizer]
            verdict = self._authorize(request, match, api, authorizer)
            if isinstance(verdict, _Served):
                verdict.label = label
                return verdict
            context = verdict
        event = http_event(request, match, api.api_id, context)
        timeout = route.timeout_seconds or API_TIMEOUT_SECONDS
        outcome = self.invoke(route.function, event, timeout=timeout, wait=self.worker_wait)
        if outcome.kind == "throttled":
            # What API Gateway answers when the function's concurrency is exhausted, as a problem document.
            busy = problem(503, "Service Unavailable", "service_unavailable", "Too many requests; try again.")
            busy.headers.append(("Retry-After", "1"))
            return _Served(busy, label, f"! no free worker within {self.worker_wait:.0f}s")
        if not outcome.ok:
            return _Served(internal_error(), label, f"! {outcome.describe()}", outcome.error)
        try:
            return _Served(function_response(outcome.result), label)
        except FunctionResponseError as exc:
            return _Served(internal_error(), label, f"! invalid response: {exc}")

    def _authorize(
        self, request: HttpRequest, match: RouteMatch, api: HttpApi, authorizer: LambdaAuthorizer
    ) -> dict[str, Any] | _Served:
        """The authorizer context, or the gateway's own answer: 401 {"message": "Unauthorized"} when an
        identity source is missing, 403 {"message": "Forbidden"} when denied, 500 when it fails."""
        identity = identity_values(request, authorizer.identity_sources)
        if identity is None:
            return _Served(json_response(401, {"message": "Unauthorized"}), "", "(no identity source)")
        cache_key = (api.logical_id, authorizer.name, tuple(identity))
        result: Any = None
        cached = False
        if authorizer.ttl_seconds > 0:
            with self._auth_lock:
                entry = self._auth_cache.get(cache_key)
            if entry is not None and entry[0] > time.monotonic():
                result, cached = entry[1], True
        if not cached:
            outcome = self.invoke(authorizer.function, authorizer_event(request, match, api.api_id, identity))
            if not outcome.ok:
                return _Served(internal_error(), "", f"! authorizer {outcome.describe()}", outcome.error)
            result = outcome.result
        try:
            allowed, context = authorizer_verdict(
                result, simple=authorizer.simple_responses, arn=route_arn(request, api.api_id)
            )
        except AuthorizerResponseError as exc:
            return _Served(internal_error(), "", f"! authorizer: {exc}")
        if authorizer.ttl_seconds > 0 and not cached:
            with self._auth_lock:
                self._auth_cache[cache_key] = (time.monotonic() + authorizer.ttl_seconds, result)
        if not allowed:
            return _Served(json_response(403, {"message": "Forbidden"}), "", "(denied by authorizer)")
        return context


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default of 5 resets connections under a burst of clients
    gateway: Gateway | None = None
    console: Console = Console()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imagegen-local"
    sys_version = ""
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body until the
    # client's delayed ACK (about 40 ms on every keep-alive response, i.e. every browser request).
    disable_nagle_algorithm = True
    server: GatewayServer

    def version_string(self) -> str:
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (unknown method, oversized headers, bad request line) as
        problem documents instead of its HTML page."""
        title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
        self.close_connection = True
        slug = title.lower().replace(" ", "_").replace("-", "_")
        self._write(problem(code, title, slug, explain or message or title))

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        started = time.monotonic()
        raw_path, raw_query = _split_target(self.path)
        gateway = self.server.gateway
        if (
            raw_path == WEBSOCKET_PATH
            and self.command == "GET"
            and "websocket" in (self.headers.get("Upgrade") or "").lower()
            and gateway is not None
            and gateway.websocket is not None
        ):
            request = HttpRequest(
                method="GET",
                raw_path=raw_path,
                raw_query=raw_query,
                headers=list(self.headers.items()),
                source_ip=self.client_address[0],
            )
            gateway.websocket.serve(self, request)
            return
        note = ""
        try:
            body = self._read_body()
            if body is None:
                served = _Served(problem(413, "Payload Too Large", "payload_too_large"), "-")
            elif self.server.gateway is None:
                served = _Served(problem(503, "Service Unavailable", "starting"), "-")
            else:
                request = HttpRequest(
                    method=self.command,
                    raw_path=raw_path,
                    raw_query=raw_query,
                    headers=list(self.headers.items()),
                    body=body,
                    source_ip=self.client_address[0],
                    protocol=self.request_version,
                )
                served = self.server.gateway.handle(request)
            note = served.note
        except Exception:
            served = _Served(internal_error(), "-")
            note = "! gateway error\n" + traceback.format_exc()
        self._write(served.response)
        elapsed = (time.monotonic() - started) * 1000
        if self.headers.get(PROBE_HEADER) is None:
            line = f"{self.command} {raw_path} {served.response.status} {elapsed:.0f}ms {served.label}"
            self.server.console.line(f"{line} {note}".rstrip())
            if served.error:
                self.server.console.trace(served.error)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's payload limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_PAYLOAD_BYTES:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            if length <= DRAIN_LIMIT_BYTES:
                # Read the refused body: a client still sending it then gets the 413, not a broken pipe.
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            else:
                self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, response: HttpResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            if response.status not in (204, 304) and response.status >= 200:
                self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and response.status not in (204, 304):
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target; "//x" is a path here, not a host as urlsplit would read it."""
    if not target.startswith("/"):
        parts = urlsplit(target)  # absolute form, as sent to a proxy
        return parts.path or "/", parts.query
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


def bind(host: str, port: int, console: Console) -> GatewayServer:
    server = GatewayServer((host, port), _Handler)
    server.console = console
    return server


def info_response(document: dict[str, Any]) -> HttpResponse:
    return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(document, indent=2).encode())
