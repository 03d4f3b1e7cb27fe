"""API Gateway HTTP API semantics, without I/O: route selection, the payload 2.0 event, the Lambda
authorizer's event and verdict, mapping a function's result to a response, CORS.

Where the behaviour is API Gateway's own (route precedence, authorizer answers, CORS) it follows the
service's documentation, so the code is designed against what it will meet on AWS.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from devstack.stack.sam import Cors, Route
from devstack.template import ACCOUNT_ID, REGION

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "application/yaml",
    "+json",
    "+xml",
)


@dataclass
class HttpRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    request_id: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(12)).decode()[:16])
    received: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """All values of a header joined with ',' (how API Gateway folds repeated headers), or None."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(key, val) for key, val in self.headers if key.lower() != name.lower()]
        self.headers.append((name, value))


def json_response(status: int, document: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json"), *headers], json.dumps(document).encode()
    )


def problem(status: int, title: str, code: str, detail: str | None = None) -> HttpResponse:
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    return HttpResponse(status, [("Content-Type", "application/problem+json")], json.dumps(document).encode())


def internal_error() -> HttpResponse:
    return problem(500, "Internal Server Error", "internal_error")


# --- routing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


class Router:
    """Chooses the route API Gateway would: a full match with the method, then a greedy path with the
    method, then ANY, then ``$default``; more literal segments win among equals."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        best: tuple[tuple[int, ...], RouteMatch] | None = None
        for route in self.routes:
            if route.method not in ("ANY", method):
                continue
            parameters = match_path(route.path, raw_path)
            if parameters is None:
                continue
            score = (
                int(route.path != "$default"),
                int(route.method != "ANY"),
                int(not route.path.endswith("+}")),
                sum(1 for segment in route.path.split("/") if not segment.startswith("{")),
            )
            if best is None or score > best[0]:
                best = (score, RouteMatch(route, parameters))
        return None if best is None else best[1]

    def any_method_matches(self, raw_path: str) -> list[Route]:
        return [route for route in self.routes if match_path(route.path, raw_path) is not None]


def match_path(pattern: str, raw_path: str) -> dict[str, str] | None:
    """Path parameters (decoded) when ``raw_path`` fits ``pattern``, else None."""
    if pattern == "$default":
        return {}
    wanted = pattern.split("/")[1:]
    given = raw_path.split("/")[1:]
    parameters: dict[str, str] = {}
    for index, segment in enumerate(wanted):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = given[index:]
            if index != len(wanted) - 1 or not rest or rest == [""]:
                return None
            parameters[segment[1:-2]] = unquote("/".join(rest))
            return parameters
        if index >= len(given):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            if not given[index]:
                return None
            parameters[segment[1:-1]] = unquote(given[index])
        elif segment != unquote(given[index]):
            return None
    return parameters if len(given) == len(wanted) else None


# --- events -------------------------------------------------------------------------------------------


def _lowercase_headers(request: HttpRequest) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in request.headers:
        name = key.lower()
        if name == "cookie":
            continue  # payload 2.0 moves cookies to their own list
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers.setdefault("x-forwarded-proto", "http")
    host = headers.get("host", "")
    headers.setdefault("x-forwarded-port", host.rpartition(":")[2] if ":" in host else "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(request.received):08x}-{secrets.token_hex(12)}")
    return headers


def _cookies(request: HttpRequest) -> list[str]:
    cookies: list[str] = []
    for key, value in request.headers:
        if key.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
    return cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    return parameters


def is_text(content_type: str | None, body: bytes) -> bool:
    if content_type:
        lowered = content_type.lower().split(";")[0].strip()
        if not any(marker in lowered for marker in _TEXT_TYPES):
            return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _request_context(request: HttpRequest, route_key: str, api_id: str) -> dict[str, Any]:
    host = request.header("host") or "127.0.0.1"
    return {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.received)),
        "timeEpoch": int(request.received * 1000),
    }


def _common(request: HttpRequest, match: RouteMatch, api_id: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    cookies = _cookies(request)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = _lowercase_headers(request)
    query = _query_parameters(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = _request_context(request, match.route.route_key, api_id)
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    event["stageVariables"] = None
    return event


def http_event(
    request: HttpRequest, match: RouteMatch, api_id: str, authorizer_context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    event = _common(request, match, api_id)
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": dict(authorizer_context)}
    if request.body:
        if is_text(request.header("content-type"), request.body):
            event["body"] = request.body.decode("utf-8")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def route_arn(request: HttpRequest, api_id: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{api_id}/$default/{request.method}{request.raw_path}"


def authorizer_event(
    request: HttpRequest, match: RouteMatch, api_id: str, identity: list[str]
) -> dict[str, Any]:
    event = _common(request, match, api_id)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(request, api_id),
        "identitySource": identity,
        **{key: value for key, value in event.items() if key != "version"},
    }


def identity_values(request: HttpRequest, sources: Iterable[str]) -> list[str] | None:
    """The identity source values in order, or None when one is missing or empty (API Gateway then
    answers 401 without calling the authorizer)."""
    values: list[str] = []
    query = _query_parameters(request.raw_query)
    for source in sources:
        value: str | None
        if source.startswith("$request.header."):
            value = request.header(source.removeprefix("$request.header."))
        elif source.startswith("$request.querystring."):
            value = query.get(source.removeprefix("$request.querystring."))
        elif source.startswith("$context."):
            value = _context_value(_request_context(request, "", ""), source.removeprefix("$context."))
        else:
            value = None  # stage variables do not exist locally
        if not value:
            return None
        values.append(value)
    return values


def _context_value(context: Mapping[str, Any], dotted: str) -> str | None:
    current: Any = context
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return None if current is None else str(current)


class AuthorizerResponseError(ValueError):
    """The authorizer returned something API Gateway cannot use (it answers 500 then)."""


def authorizer_verdict(result: Any, *, simple: bool, arn: str) -> tuple[bool, dict[str, Any]]:
    """(authorized, context) from an authorizer's result, simple or IAM-policy format."""
    if not isinstance(result, dict):
        raise AuthorizerResponseError(f"authorizer returned {type(result).__name__}, not an object")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerResponseError("authorizer context is not an object")
    if simple:
        allowed = result.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise AuthorizerResponseError("isAuthorized is missing or not a boolean")
        return allowed, context
    document = result.get("policyDocument")
    if not isinstance(document, dict) or "principalId" not in result:
        raise AuthorizerResponseError("an IAM policy response needs principalId and policyDocument")
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, resource) for resource in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False, context
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed, {**context, "principalId": result["principalId"]} if allowed else context


# --- responses ----------------------------------------------------------------------------------------


class FunctionResponseError(ValueError):
    """The function's result is not a valid payload 2.0 response (API Gateway answers 500)."""


def function_response(result: Any) -> HttpResponse:
    """Maps a function result as API Gateway does for payload 2.0: a dict with statusCode is a response,
    anything else is a 200 JSON body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(result).encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise FunctionResponseError(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = result.get("body")
    if body is None:
        payload = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise FunctionResponseError("isBase64Encoded body is not base64") from exc
        else:
            payload = body.encode("utf-8")
    else:
        raise FunctionResponseError(f"body must be a string, got {type(body).__name__}")
    hop_by_hop = {"content-length", "transfer-encoding", "connection", "keep-alive"}
    return HttpResponse(status, [(k, v) for k, v in headers if k.lower() not in hop_by_hop], payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\r", " ").replace("\n", " ")


# --- CORS ---------------------------------------------------------------------------------------------


def origin_allowed(cors: Cors, origin: str) -> bool:
    for allowed in cors.allow_origins:
        if allowed == "*" or allowed.lower() == origin.lower():
            return True
        if "*" in allowed and fnmatch.fnmatchcase(origin.lower(), allowed.lower()):
            return True
    return False


def is_preflight(request: HttpRequest) -> bool:
    return (
        request.method == "OPTIONS"
        and request.header("origin") is not None
        and request.header("access-control-request-method") is not None
    )


def preflight_response(cors: Cors, request: HttpRequest) -> HttpResponse:
    """API Gateway answers preflights itself once CORS is configured, whatever the routes."""
    response = HttpResponse(204)
    origin = request.header("origin") or ""
    method = (request.header("access-control-request-method") or "").upper()
    if not origin_allowed(cors, origin):
        return response
    if "*" not in cors.allow_methods and method not in cors.allow_methods:
        return response
    response.headers.append(("Access-Control-Allow-Origin", _allow_origin_value(cors, origin)))
    methods = method if "*" in cors.allow_methods else ",".join(cors.allow_methods)
    response.headers.append(("Access-Control-Allow-Methods", methods))
    requested = request.header("access-control-request-headers")
    if cors.allow_headers:
        allow = requested if "*" in cors.allow_headers and requested else ",".join(cors.allow_headers)
        response.headers.append(("Access-Control-Allow-Headers", allow))
    if cors.max_age is not None:
        response.headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.allow_credentials:
        response.headers.append(("Access-Control-Allow-Credentials", "true"))
    return response


def apply_cors(cors: Cors, request: HttpRequest, response: HttpResponse) -> None:
    """API Gateway replaces the integration's CORS headers with those of the API's configuration."""
    response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
    origin = request.header("origin")
    if not origin or not origin_allowed(cors, origin):
        return
    response.headers.append(("Access-Control-Allow-Origin", _allow_origin_value(cors, origin)))
    if cors.allow_credentials:
        response.headers.append(("Access-Control-Allow-Credentials", "true"))
    if cors.expose_headers:
        response.headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))


def _allow_origin_value(cors: Cors, origin: str) -> str:
    return "*" if "*" in cors.allow_origins and not cors.allow_credentials else origin
