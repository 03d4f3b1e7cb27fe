"""The coin shop: /shop/packs (public), /shop/checkout, /me/purchases; and ``admin_router``'s
/admin/purchases, served by the admin function."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import StartCheckout
from imagegen.http.api import (
    RouteSpec,
    enum_param,
    idempotency_key,
    json_response,
    new_router,
    page_json,
    page_params,
    route,
    services,
)
from imagegen.http.routes import schemas
from imagegen.purchases import PurchaseStatus
from imagegen.services.accounts import Principal
from imagegen.services.shop import ShopService

router = new_router()
admin_router = new_router()
PACKS_CACHE_CONTROL = "public, max-age=60"
_ID: dict[str, Any] = {
    "id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9-]+$"}
}
PURCHASE_FILTERS: dict[str, Any] = {"status": {"type": "string", "enum": [s.value for s in PurchaseStatus]}}


def _shop() -> ShopService:
    return services(router).shop


@route(
    router,
    RouteSpec(
        method="GET",
        path="/shop/packs",
        summary="The coin packs for sale",
        tag="shop",
        auth=False,
        responses={200: "PackList"},
    ),
)
def packs() -> Response[str]:
    body = {"items": [pack.to_json() for pack in _shop().packs]}
    return json_response(200, body, headers={"Cache-Control": PACKS_CACHE_CONTROL})


@route(
    router,
    RouteSpec(
        method="POST",
        path="/shop/checkout",
        summary="Start buying a pack: a PENDING purchase and its Stripe Checkout URL",
        tag="shop",
        body=StartCheckout,
        headers=("Idempotency-Key",),
        responses={201: "{purchase, checkoutUrl}"},
        errors=("idempotency_key_reused", "service_unavailable"),
    ),
)
def checkout(principal: Principal, body: StartCheckout) -> Response[str]:
    started = _shop().checkout(principal.user_id, principal.user.email, body, idempotency_key(router))
    return json_response(201, started.to_json())


@route(
    router,
    RouteSpec(
        method="GET",
        path="/me/purchases",
        summary="The user's purchases, newest first",
        tag="shop",
        query=schemas.LIST_QUERY,
        responses={200: "Page of Purchase"},
        errors=("invalid_cursor", "validation_error"),
    ),
)
def my_purchases(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    return page_json(_shop().list_for_user(principal.user_id, limit, cursor))


@route(
    router,
    RouteSpec(
        method="GET",
        path="/me/purchases/{id}",
        summary="One of the user's purchases",
        tag="shop",
        path_params=_ID,
        responses={200: "Purchase"},
        errors=("not_found", "validation_error"),
    ),
)
def my_purchase(principal: Principal, id: str) -> dict[str, Any]:
    return _shop().get(principal.user_id, id).to_json()


@route(
    admin_router,
    RouteSpec(
        method="GET",
        path="/admin/purchases",
        summary="All purchases, newest first; ?status= keeps one status",
        tag="admin",
        admin=True,
        query={**schemas.LIST_QUERY, **PURCHASE_FILTERS},
        responses={200: "Page of Purchase"},
        errors=("forbidden", "invalid_cursor", "validation_error"),
    ),
)
def admin_purchases(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(admin_router)
    status = enum_param(admin_router, "status", PurchaseStatus)
    return page_json(services(admin_router).shop.list_all(status, limit, cursor))
