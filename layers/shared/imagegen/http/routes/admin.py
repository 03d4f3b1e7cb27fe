"""Admin routes (role ADMIN; everyone else gets 403 forbidden)."""

from __future__ import annotations

from typing import Any

from imagegen.commands import ChangeCoins
from imagegen.http.api import (
    RouteSpec,
    enum_param,
    idempotency_key,
    new_router,
    page_json,
    page_params,
    query,
    route,
    services,
)
from imagegen.http.routes import schemas
from imagegen.models import ImageStatus, ImageType, UserRole
from imagegen.services.accounts import Principal
from imagegen.services.admin import AdminService

router = new_router()
_ADMIN_ERRORS = ("forbidden", "not_found")
_ROLE: dict[str, Any] = {"role": {"type": "string", "enum": [r.value for r in UserRole]}}
# Every user keeps USER; only the other roles can be taken away.
_REMOVABLE_ROLE: dict[str, Any] = {
    "role": {"type": "string", "enum": [r.value for r in UserRole if r is not UserRole.USER]}
}


def _admin() -> AdminService:
    return services(router).admin


@route(
    router,
    RouteSpec(
        method="GET",
        path="/admin/users",
        summary="All users, newest first; ?email= looks one up",
        tag="admin",
        admin=True,
        query={**schemas.LIST_QUERY, "email": {"type": "string"}},
        responses={200: "Page of User"},
        errors=("forbidden", "invalid_cursor", "validation_error"),
    ),
)
def list_users(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    return page_json(_admin().list_users(limit, cursor, query(router, "email")))


@route(
    router,
    RouteSpec(
        method="GET",
        path="/admin/users/{id}",
        summary="One user",
        tag="admin",
        admin=True,
        responses={200: "User"},
        errors=_ADMIN_ERRORS,
    ),
)
def get_user(principal: Principal, id: str) -> dict[str, Any]:
    return _admin().get_user(id).to_json()


@route(
    router,
    RouteSpec(
        method="GET",
        path="/admin/images",
        summary="All images, newest first",
        tag="admin",
        admin=True,
        query={**schemas.LIST_QUERY, **schemas.IMAGE_FILTERS},
        responses={200: "Page of Image"},
        errors=("forbidden", "invalid_cursor", "validation_error"),
    ),
)
def list_images(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    page = services(router).images.list_all(
        limit, cursor, enum_param(router, "type", ImageType), enum_param(router, "status", ImageStatus)
    )
    return page_json(page)


@route(
    router,
    RouteSpec(
        method="POST",
        path="/admin/users/{id}/coins",
        summary="Grant (positive) or debit (negative) coins",
        tag="admin",
        admin=True,
        body=ChangeCoins,
        headers=("Idempotency-Key",),
        responses={200: "{user, entry}"},
        errors=(
            *_ADMIN_ERRORS,
            "insufficient_coins",
            "validation_error",
            "invalid_json",
            "idempotency_key_reused",
        ),
    ),
)
def change_coins(principal: Principal, id: str, body: ChangeCoins) -> dict[str, Any]:
    return _admin().change_coins(principal.user_id, id, body, idempotency_key(router)).to_json()


@route(
    router,
    RouteSpec(
        method="PUT",
        path="/admin/users/{id}/roles/{role}",
        summary="Add a role",
        tag="admin",
        admin=True,
        path_params=_ROLE,
        responses={200: "User"},
        errors=(*_ADMIN_ERRORS, "validation_error"),
    ),
)
def add_role(principal: Principal, id: str, role: str) -> dict[str, Any]:
    return _admin().set_role(id, UserRole(role), present=True).to_json()


@route(
    router,
    RouteSpec(
        method="DELETE",
        path="/admin/users/{id}/roles/{role}",
        summary="Remove a role",
        tag="admin",
        admin=True,
        path_params=_REMOVABLE_ROLE,
        responses={200: "User"},
        errors=(*_ADMIN_ERRORS, "validation_error"),
    ),
)
def remove_role(principal: Principal, id: str, role: str) -> dict[str, Any]:
    return _admin().set_role(id, UserRole(role), present=False).to_json()
