"""Admin routes (role ADMIN; everyone else gets 403 forbidden)."""

from __future__ import annotations

from typing import Any

from imagegen.http.api import (
    RouteSpec,
    enum_param,
    header,
    json_body,
    new_router,
    page_json,
    page_params,
    query,
    route,
)
from imagegen.http.routes import schemas
from imagegen.models import ImageStatus, ImageType, UserRole
from imagegen.persistence.idempotency import validate_key
from imagegen.services.accounts import AccountService, Principal
from imagegen.services.context import get_context
from imagegen.services.images import ImageService

router = new_router()
_ADMIN_ERRORS = ("forbidden", "not_found")
_ROLE: dict[str, Any] = {"role": {"type": "string", "enum": [r.value for r in UserRole]}}
# Every user keeps USER; only the other roles can be taken away.
_REMOVABLE_ROLE: dict[str, Any] = {
    "role": {"type": "string", "enum": [r.value for r in UserRole if r is not UserRole.USER]}
}


def _accounts() -> AccountService:
    return AccountService(get_context())


@route(
    router,
    RouteSpec(
        "GET",
        "/admin/users",
        "All users, newest first; ?email= looks one up",
        "admin",
        admin=True,
        query={**schemas.LIST_QUERY, "email": {"type": "string"}},
        responses={200: "Page of User"},
        errors=("forbidden", "invalid_cursor", "validation_error"),
    ),
)
def list_users(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    return page_json(_accounts().list_users(limit, cursor, query(router, "email")))


@route(
    router,
    RouteSpec(
        "GET",
        "/admin/users/{id}",
        "One user",
        "admin",
        admin=True,
        responses={200: "User"},
        errors=_ADMIN_ERRORS,
    ),
)
def get_user(principal: Principal, id: str) -> dict[str, Any]:
    return _accounts().get_user(id).to_json()


@route(
    router,
    RouteSpec(
        "GET",
        "/admin/images",
        "All images, newest first",
        "admin",
        admin=True,
        query={**schemas.LIST_QUERY, **schemas.IMAGE_FILTERS},
        responses={200: "Page of Image"},
        errors=("forbidden", "invalid_cursor", "validation_error"),
    ),
)
def list_images(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    page = ImageService(get_context()).list_all(
        limit, cursor, enum_param(router, "type", ImageType), enum_param(router, "status", ImageStatus)
    )
    return page_json(page)


@route(
    router,
    RouteSpec(
        "POST",
        "/admin/users/{id}/coins",
        "Grant (positive) or debit (negative) coins",
        "admin",
        admin=True,
        body=schemas.ADMIN_COINS,
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
def change_coins(principal: Principal, id: str) -> dict[str, Any]:
    body = json_body(router, schemas.ADMIN_COINS)
    return _accounts().change_coins(
        principal, id, body["amount"], body["reason"], validate_key(header(router, "idempotency-key"))
    )


@route(
    router,
    RouteSpec(
        "PUT",
        "/admin/users/{id}/roles/{role}",
        "Add a role",
        "admin",
        admin=True,
        path_params=_ROLE,
        responses={200: "User"},
        errors=(*_ADMIN_ERRORS, "validation_error"),
    ),
)
def add_role(principal: Principal, id: str, role: str) -> dict[str, Any]:
    return _accounts().set_role(id, role, present=True).to_json()


@route(
    router,
    RouteSpec(
        "DELETE",
        "/admin/users/{id}/roles/{role}",
        "Remove a role",
        "admin",
        admin=True,
        path_params=_REMOVABLE_ROLE,
        responses={200: "User"},
        errors=(*_ADMIN_ERRORS, "validation_error"),
    ),
)
def remove_role(principal: Principal, id: str, role: str) -> dict[str, Any]:
    return _accounts().set_role(id, role, present=False).to_json()
