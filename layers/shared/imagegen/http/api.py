"""Route declaration, request helpers and the Lambda entry point shared by the HTTP functions.

A route is declared once with :func:`route`: it is registered on a Powertools ``Router`` and in
``ROUTES``, from which the OpenAPI document is generated (``scripts/openapi.py``), so the document
cannot drift from the code without the staleness test failing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.logging import correlation_paths

from imagegen.errors import (
    DomainError,
    Forbidden,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from imagegen.http.caching import PRIVATE, not_modified, strong_etag
from imagegen.http.problems import internal_error_response, problem_response
from imagegen.observability import logger, metrics, traced_handler
from imagegen.schema import Schema, obj, validate

if TYPE_CHECKING:
    from aws_lambda_powertools.shared.cookies import Cookie

    from imagegen.bootstrap import HttpServices
    from imagegen.commands import Command
    from imagegen.services.accounts import Principal

MAX_JSON_BODY = 64 * 1024
_MAX_PREFETCH_ID = 128  # ids are UUIDs; anything longer is not worth reading along
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, kw_only=True)
class RouteSpec:
    """One route: how it is served and how the OpenAPI document describes it.

    ``body`` is the command the route takes: its schema validates the JSON body, once, before the
    handler runs, which receives the built command as ``body``. ``path_params`` schemas validate path
    parameters the same way. Authenticated routes receive the caller as ``principal``."""

    method: str
    path: str  # OpenAPI style: /images/{id}
    summary: str
    tag: str
    auth: bool = True
    admin: bool = False
    body: type[Command] | None = None
    query: dict[str, Schema] = field(default_factory=dict)
    path_params: dict[str, Schema] = field(default_factory=dict)
    responses: dict[int, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    # A path parameter naming the image the route is about: it is read with the caller's profile in
    # the authentication's one call (``Principal.image``), so the route needs no read of its own.
    image_param: str | None = None
    # A strong ETag on 200 answers and 304 for a matching If-None-Match (GET routes).
    etag: bool = False
    # Cache-Control of a 200 JSON answer; None: "private, no-cache" when signed in, nothing otherwise.
    cache: str | None = None


ROUTES: list[RouteSpec] = []


def _powertools_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def route(router: Router, spec: RouteSpec) -> Callable[[F], F]:
    """Register ``fn`` for ``spec``: authentication, the ADMIN check and input validation happen here."""

    def decorate(fn: F) -> F:
        def endpoint(**params: str) -> Any:
            arguments: dict[str, Any] = {}
            if spec.auth:
                principal = current_principal(router, image_id=_prefetched_image_id(spec, params))
                if spec.admin and not principal.is_admin():
                    raise Forbidden("This needs the ADMIN role.")
                arguments["principal"] = principal
            for name, value in params.items():
                if name in spec.path_params:
                    validate(obj({name: spec.path_params[name]}), {name: value})
            if spec.body is not None:
                arguments["body"] = spec.body.from_json(json_body(router, spec.body.SCHEMA))
            return _cacheable(router, spec, fn(**arguments, **params))

        endpoint.__name__ = fn.__name__
        router.route(_powertools_path(spec.path), spec.method)(endpoint)
        ROUTES.append(spec)
        return fn

    return decorate


def _cacheable(router: Router, spec: RouteSpec, result: Any) -> Any:
    """A JSON body (a dict the handler returned) with the route's caching headers; 304 when the
    client's ``If-None-Match`` holds the body's ETag. Responses built by the handler pass unchanged."""
    if not isinstance(result, dict):
        return result
    cache_control = spec.cache or (PRIVATE if spec.auth else None)
    if not spec.etag and cache_control is None:
        return result
    body = json.dumps(result)
    headers = {"Cache-Control": cache_control} if cache_control else {}
    if spec.etag:
        headers["ETag"] = strong_etag(body)
        if not_modified(header(router, "if-none-match"), headers["ETag"]):
            return Response(status_code=304, body="", headers=headers)
    return Response(status_code=200, content_type="application/json", body=body, headers=headers)


def _prefetched_image_id(spec: RouteSpec, params: dict[str, str]) -> str | None:
    """The image to read along with the caller, if the route names one and its id is well-formed
    (a malformed one is left for the route's validation to refuse, after authentication)."""
    if spec.image_param is None or spec.image_param not in params:
        return None
    value = params[spec.image_param]
    if not 0 < len(value) <= _MAX_PREFETCH_ID or not value.isprintable():
        return None
    schema = spec.path_params.get(spec.image_param)
    if schema is not None:
        try:
            validate(obj({spec.image_param: schema}), {spec.image_param: value})
        except ValidationError:
            return None
    return value


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]


def services(router: Router) -> HttpServices:
    """The services of this invocation, put in the router's context by :func:`lambda_entry`."""
    found: HttpServices = router.context["services"]
    return found


# ---- request helpers ------------------------------------------------------------------------
def current_principal(router: Router, *, image_id: str | None = None) -> Principal:
    cached: Principal | None = router.context.get("principal")
    if cached is None:
        cached = services(router).accounts.authenticate(header(router, "authorization"), image_id=image_id)
        router.context["principal"] = cached
        logger.append_keys(user_id=cached.user_id)
    return cached


def header(router: Router, name: str) -> str | None:
    headers = router.current_event.headers or {}
    value = headers.get(name.lower())
    if value is None:  # tests and some proxies keep the original case
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def json_body(router: Router, schema: Schema) -> dict[str, Any]:
    event = router.current_event
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidJson("The body must be UTF-8 JSON.") from exc
    if len(raw) > MAX_JSON_BODY or len(raw.encode("utf-8", "surrogatepass")) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"The body must be at most {MAX_JSON_BODY} bytes.")
    if not raw.strip():
        raise InvalidJson("The request needs a JSON body.")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidJson("The body is not valid JSON.") from exc
    return validate(schema, parsed)


def idempotency_key(router: Router) -> str | None:
    """The ``Idempotency-Key`` header: 1 to 255 visible ASCII characters, or absent."""
    key = header(router, "idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError.single("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return key


def query(router: Router, name: str) -> str | None:
    params = router.current_event.query_string_parameters or {}
    return params.get(name)


def page_params(router: Router) -> tuple[int, str | None]:
    raw = query(router, "limit")
    limit = 20
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise ValidationError.single("limit", "must be an integer from 1 to 100")
        limit = int(raw)
    cursor = query(router, "cursor")
    return limit, (cursor or None)


def enum_param(router: Router, name: str, enum: type[Any]) -> Any:
    raw = query(router, name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError as exc:
        raise ValidationError.single(name, f"must be one of {', '.join(e.value for e in enum)}") from exc


def page_json(page: Any) -> dict[str, Any]:
    return {"items": [item.to_json() for item in page.items], "nextCursor": page.next_cursor}


def json_response(
    status: int, body: Any, headers: dict[str, str] | None = None, cookies: list[Cookie] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers={"Cache-Control": "no-store", **(headers or {})},
        cookies=cookies,
    )


def empty_response(
    status: int = 204, headers: dict[str, str] | None = None, cookies: list[Cookie] | None = None
) -> Response[str]:
    """``cookies`` become the payload 2.0 response's ``cookies`` list: one ``Set-Cookie`` each."""
    return Response(
        status_code=status,
        body="",
        headers={"Cache-Control": "no-store", **(headers or {})},
        cookies=cookies,
    )


def request_cookies(router: Router) -> list[str]:
    """The request's cookies as API Gateway's payload 2.0 lists them (``name=value`` strings)."""
    cookies = router.current_event.get("cookies") or []
    return [str(cookie) for cookie in cookies] if isinstance(cookies, list) else []


# ---- the resolver and the Lambda entry point ------------------------------------------------
def create_resolver(*routers: Router) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    for r in routers:
        app.include_router(r)

    @app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
    def domain_error(error: DomainError) -> Response[str]:
        if error.status >= 500:
            logger.warning("service error", extra={"code": error.code})
        return problem_response(error)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return problem_response(NotFound("No such route."))

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return internal_error_response()

    return app


def lambda_entry(
    app: APIGatewayHttpResolver, services: Callable[[], HttpServices]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of an HTTP function; ``services`` (the function's composition root) gives the
    services each invocation uses."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        app.context.clear()
        app.append_context(services=services())  # type: ignore[no-untyped-call]
        result: dict[str, Any] = app.resolve(event, context)
        return result

    return traced_handler(handler)
