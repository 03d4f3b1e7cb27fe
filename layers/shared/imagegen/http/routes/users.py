"""The caller's own account: /me, /me/stats, /me/ledger, DELETE /me."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import UpdateProfile
from imagegen.http.api import RouteSpec, empty_response, new_router, page_json, page_params, route, services
from imagegen.http.routes import schemas
from imagegen.services.accounts import AccountService, Principal

router = new_router()


def _accounts() -> AccountService:
    return services(router).accounts


@route(
    router,
    RouteSpec(
        method="GET", path="/me", summary="The signed-in user", tag="me", responses={200: "User"}, etag=True
    ),
)
def me(principal: Principal) -> dict[str, Any]:
    return principal.user.to_json()


@route(
    router,
    RouteSpec(
        method="PATCH",
        path="/me",
        summary="Change name or language",
        tag="me",
        body=UpdateProfile,
        responses={200: "User"},
        errors=("validation_error", "invalid_json"),
    ),
)
def update_me(principal: Principal, body: UpdateProfile) -> dict[str, Any]:
    return _accounts().update_profile(principal.user_id, body).to_json()


@route(
    router,
    RouteSpec(
        method="GET",
        path="/me/stats",
        summary="Counts of the user's images and coins spent",
        tag="me",
        responses={200: "Stats"},
    ),
)
def stats(principal: Principal) -> dict[str, Any]:
    return _accounts().stats(principal).to_json()


@route(
    router,
    RouteSpec(
        method="GET",
        path="/me/ledger",
        summary="The user's coin ledger, newest first",
        tag="me",
        query=schemas.LIST_QUERY,
        responses={200: "Page of LedgerEntry"},
        errors=("invalid_cursor", "validation_error"),
    ),
)
def ledger(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    return page_json(_accounts().ledger(principal.user_id, limit, cursor))


@route(
    router,
    RouteSpec(
        method="DELETE",
        path="/me",
        summary="Delete the account, its images and every stored object",
        tag="me",
        responses={204: "deleted", 202: "deletion continues in the background"},
    ),
)
def delete_me(principal: Principal) -> Response[str]:
    accounts = _accounts()
    accounts.logout(principal)
    done = accounts.delete_account(principal.user_id)
    return empty_response(204 if done else 202)
