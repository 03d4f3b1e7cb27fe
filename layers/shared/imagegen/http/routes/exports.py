"""Exports: a set of the caller's images as one ZIP to download (built by the exporter function)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import CreateExport
from imagegen.http.api import RouteSpec, json_response, new_router, page_params, route, services
from imagegen.http.routes import schemas
from imagegen.services.accounts import Principal
from imagegen.services.exports import ExportService

router = new_router()


def _exports() -> ExportService:
    return services(router).exports


@route(
    router,
    RouteSpec(
        method="POST",
        path="/exports",
        summary="Export images (ids, or a collection) as one ZIP; at most MAX_ACTIVE_EXPORTS at once",
        tag="exports",
        body=CreateExport,
        responses={202: "Export (PENDING)"},
        errors=("validation_error", "invalid_json", "not_found", "rate_limited"),
    ),
)
def create_export(principal: Principal, body: CreateExport) -> Response[str]:
    service = _exports()
    return json_response(202, service.to_json(service.create(principal.user_id, body)))


@route(
    router,
    RouteSpec(
        method="GET",
        path="/exports",
        summary="The caller's exports, newest first",
        tag="exports",
        query=schemas.LIST_QUERY,
        responses={200: "Page of Export"},
        errors=("invalid_cursor", "validation_error"),
    ),
)
def list_exports(principal: Principal) -> dict[str, Any]:
    service = _exports()
    limit, cursor = page_params(router)
    page = service.list_for_user(principal.user_id, limit, cursor)
    return {"items": [service.to_json(export) for export in page.items], "nextCursor": page.next_cursor}


@route(
    router,
    RouteSpec(
        method="GET",
        path="/exports/{id}",
        summary="One export; downloadUrl (signed, SIGNED_URL_TTL seconds) once COMPLETED",
        tag="exports",
        responses={200: "Export"},
        errors=("not_found",),
    ),
)
def get_export(principal: Principal, id: str) -> dict[str, Any]:
    service = _exports()
    return service.to_json(service.get(principal.user_id, id))
