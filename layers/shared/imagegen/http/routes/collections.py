"""Collections, batch operations on images, and share links (served by the images function).

``/collections*`` and ``POST /images/batch`` are the caller's; ``GET /shared/{token}`` is public, cached
for 60 seconds, and shows nothing that names the collection's owner.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import BatchImages, CreateCollection, EditCollection
from imagegen.http.api import (
    RouteSpec,
    empty_response,
    json_response,
    new_router,
    page_params,
    query,
    route,
    services,
)
from imagegen.http.routes import schemas
from imagegen.services.accounts import Principal
from imagegen.services.collections import CollectionService

router = new_router()
SHARED_CACHE_CONTROL = "public, max-age=60"
SHARED_PAGE = 24
_TOKEN: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_-]+$"}


def _collections() -> CollectionService:
    return services(router).collections


@route(
    router,
    RouteSpec(
        method="POST",
        path="/collections",
        summary="Create a collection",
        tag="collections",
        body=CreateCollection,
        responses={201: "Collection"},
        errors=("validation_error", "invalid_json"),
    ),
)
def create_collection(principal: Principal, body: CreateCollection) -> Response[str]:
    service = _collections()
    return json_response(201, service.to_json(service.create(principal.user_id, body)))


@route(
    router,
    RouteSpec(
        method="GET",
        path="/collections",
        summary="The caller's collections, newest first",
        tag="collections",
        query=schemas.LIST_QUERY,
        responses={200: "Page of Collection"},
        errors=("invalid_cursor", "validation_error"),
    ),
)
def list_collections(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    service = _collections()
    page = service.list(principal.user_id, limit, cursor)
    return {"items": [service.to_json(c) for c in page.items], "nextCursor": page.next_cursor}


@route(
    router,
    RouteSpec(
        method="GET",
        path="/collections/{id}",
        summary="One collection",
        tag="collections",
        responses={200: "Collection"},
        errors=("not_found",),
        etag=True,
    ),
)
def get_collection(principal: Principal, id: str) -> dict[str, Any]:
    service = _collections()
    return service.to_json(service.get(principal.user_id, id))


@route(
    router,
    RouteSpec(
        method="PATCH",
        path="/collections/{id}",
        summary="Rename a collection or change its description",
        tag="collections",
        body=EditCollection,
        responses={200: "Collection"},
        errors=("not_found", "validation_error", "invalid_json"),
    ),
)
def update_collection(principal: Principal, id: str, body: EditCollection) -> dict[str, Any]:
    service = _collections()
    return service.to_json(service.update(principal.user_id, id, body))


@route(
    router,
    RouteSpec(
        method="DELETE",
        path="/collections/{id}",
        summary="Delete a collection and its share link (its images stay)",
        tag="collections",
        responses={204: "deleted"},
        errors=("not_found",),
    ),
)
def delete_collection(principal: Principal, id: str) -> Response[str]:
    _collections().delete(principal.user_id, id)
    return empty_response(204)


@route(
    router,
    RouteSpec(
        method="GET",
        path="/collections/{id}/images",
        summary="The collection's images, most recently added first",
        tag="collections",
        query=schemas.LIST_QUERY,
        responses={200: "Page of Image"},
        errors=("not_found", "invalid_cursor", "validation_error"),
    ),
)
def collection_images(principal: Principal, id: str) -> dict[str, Any]:
    limit, cursor = page_params(router)
    page = _collections().images(principal.user_id, id, limit, cursor)
    return {"items": [image.to_json() for image in page.items], "nextCursor": page.next_cursor}


@route(
    router,
    RouteSpec(
        method="POST",
        path="/collections/{id}/share",
        summary="A fresh share link (the previous one stops working)",
        tag="collections",
        responses={200: "ShareLink"},
        errors=("not_found",),
    ),
)
def share_collection(principal: Principal, id: str) -> dict[str, Any]:
    return {"shareUrl": _collections().share(principal.user_id, id)}


@route(
    router,
    RouteSpec(
        method="DELETE",
        path="/collections/{id}/share",
        summary="Revoke the share link",
        tag="collections",
        responses={204: "revoked"},
        errors=("not_found",),
    ),
)
def unshare_collection(principal: Principal, id: str) -> Response[str]:
    _collections().unshare(principal.user_id, id)
    return empty_response(204)


@route(
    router,
    RouteSpec(
        method="GET",
        path="/shared/{token}",
        summary="A shared collection's completed images (public; nothing that names the owner)",
        tag="collections",
        auth=False,
        path_params={"token": _TOKEN},
        query={"cursor": schemas.LIST_QUERY["cursor"]},
        responses={200: "SharedCollection"},
        errors=("not_found", "invalid_cursor", "validation_error"),
        etag=True,
        cache=SHARED_CACHE_CONTROL,
    ),
)
def shared_collection(token: str) -> dict[str, Any]:
    page: dict[str, Any] = _collections().shared_page(token, SHARED_PAGE, query(router, "cursor") or None)
    return page


@route(
    router,
    RouteSpec(
        method="POST",
        path="/images/batch",
        summary="Delete, add to or remove from a collection up to 100 images, each applied independently",
        tag="images",
        body=BatchImages,
        responses={200: "BatchResults"},
        errors=("not_found", "validation_error", "invalid_json"),
    ),
)
def batch_images(principal: Principal, body: BatchImages) -> dict[str, Any]:
    results = services(router).batch.run(principal.user_id, body)
    return {"results": [{"imageId": image_id, "status": status.value} for image_id, status in results]}
