"""Public routes and sign-in: /health, /auth/google/login, /auth/google/callback, /auth/logout.

The sign-in's flow cookie (``imagegen.auth.binding``) is set by ``login``, checked by ``callback``
before the state is used, and cleared by a successful callback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from imagegen.auth.binding import COOKIE_NAME, COOKIE_PATH, needs_secure
from imagegen.errors import InvalidState, SignInCancelled
from imagegen.http.api import (
    RouteSpec,
    empty_response,
    header,
    json_response,
    new_router,
    query,
    request_cookies,
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


def _flow_cookie(value: str, max_age: int) -> Cookie:
    """The sign-in flow's cookie (``max_age`` 0 clears it); ``Secure`` unless this API is the local
    stack, judged from the callback URL (``imagegen.auth.binding.needs_secure``)."""
    return Cookie(
        name=COOKIE_NAME,
        value=value,
        path=COOKIE_PATH,
        secure=needs_secure(_callback_url()),
        http_only=True,
        max_age=max_age,
        same_site=SameSite.LAX_MODE,
    )


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
        responses={302: "redirect to Google's authorization endpoint (sets the sign-in flow's cookie)"},
    ),
)
def login() -> Response[str]:
    from imagegen.auth.oauth import STATE_TTL_SECONDS

    started = services(router).sign_in.begin(_callback_url())
    return empty_response(
        302, {"Location": started.url}, cookies=[_flow_cookie(started.binding, STATE_TTL_SECONDS)]
    )


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
    cookies = request_cookies(router)
    # Both check the flow's cookie first: another browser's callback is refused and leaves the state.
    if error:
        sign_in.cancel(state, cookies)  # single use, even when cancelled
        raise SignInCancelled(f"Google answered: {error}"[:200])
    # finish() consumes the state before it looks at the code or calls Google.
    result = sign_in.finish(code or "", state, cookies)
    cleared = [_flow_cookie("", 0)]
    accept = header(router, "accept") or ""
    if "application/json" in accept:
        return json_response(
            200,
            {"token": result.token, "expiresAt": result.expires_at, "user": result.user.to_json()},
            cookies=cleared,
        )
    frontend = services(router).settings.frontend_url
    location = f"{frontend}/auth/callback#token={quote(result.token, safe='')}"
    return empty_response(303, {"Location": location}, cookies=cleared)


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
