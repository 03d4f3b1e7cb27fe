"""Public routes and sign-in: /health, /auth/google/login, /auth/google/callback, /auth/logout."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response

from imagegen.errors import InvalidState, SignInCancelled
from imagegen.http.api import (
    RouteSpec,
    empty_response,
    header,
    json_response,
    new_router,
    query,
    route,
    services,
)
from imagegen.services.accounts import Principal

router = new_router()


def _callback_url() -> str:
    settings = services(router).settings
    if settings.api_base_url:
        return f"{settings.api_base_url}/auth/google/callback"
    context = router.current_event.get("requestContext") or {}
    domain = context.get("domainName") or "localhost"
    return f"https://{domain}/auth/google/callback"


@route(
    router,
    RouteSpec(
        method="GET",
        path="/health",
        summary="Liveness check",
        tag="public",
        auth=False,
        responses={200: "ok"},
    ),
)
def health() -> dict[str, Any]:
    return {"status": "ok"}


@route(
    router,
    RouteSpec(
        method="GET",
        path="/auth/google/login",
        summary="Start Google sign-in (302 to Google)",
        tag="auth",
        auth=False,
        responses={302: "redirect to Google's authorization endpoint"},
    ),
)
def login() -> Response[str]:
    url = services(router).sign_in.begin(_callback_url())
    return empty_response(302, {"Location": url})


@route(
    router,
    RouteSpec(
        method="GET",
        path="/auth/google/callback",
        summary="Finish Google sign-in and issue a session token",
        tag="auth",
        auth=False,
        query={"code": {"type": "string"}, "state": {"type": "string"}},
        responses={
            200: "SignIn (with Accept: application/json)",
            303: "redirect to FRONTEND_URL/auth/callback#token=...",
        },
        errors=(
            "invalid_state",
            "invalid_id_token",
            "email_not_verified",
            "sign_in_cancelled",
            "validation_error",
        ),
    ),
)
def callback() -> Response[str]:
    sign_in = services(router).sign_in
    state, code, error = query(router, "state"), query(router, "code"), query(router, "error")
    if not state:
        raise InvalidState("The sign-in state is missing.")
    if error:
        sign_in.cancel(state)  # single use, even when cancelled
        raise SignInCancelled(f"Google answered: {error}"[:200])
    # finish() consumes the state before it looks at the code or calls Google.
    result = sign_in.finish(code or "", state)
    accept = header(router, "accept") or ""
    if "application/json" in accept:
        return json_response(
            200, {"token": result.token, "expiresAt": result.expires_at, "user": result.user.to_json()}
        )
    frontend = services(router).settings.frontend_url
    return empty_response(303, {"Location": f"{frontend}/auth/callback#token={quote(result.token, safe='')}"})


@route(
    router,
    RouteSpec(
        method="POST",
        path="/auth/logout",
        summary="End this session",
        tag="auth",
        responses={204: "signed out"},
    ),
)
def logout(principal: Principal) -> Response[str]:
    services(router).accounts.logout(principal)
    return empty_response(204)
