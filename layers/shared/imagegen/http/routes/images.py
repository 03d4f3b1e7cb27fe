"""Images: generate, upload, list, read, edit, delete, download."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.http.api import (
    RouteSpec,
    empty_response,
    enum_param,
    header,
    json_body,
    json_response,
    new_router,
    page_json,
    page_params,
    route,
)
from imagegen.http.routes import schemas
from imagegen.models import ImageStatus, ImageType
from imagegen.persistence.idempotency import validate_key
from imagegen.services.accounts import Principal
from imagegen.services.context import get_context
from imagegen.services.images import ImageService

router = new_router()
_COST_ERRORS = (
    "validation_error",
    "invalid_json",
    "insufficient_coins",
    "idempotency_key_reused",
    "request_in_progress",
)


def _images() -> ImageService:
    return ImageService(get_context())


@route(
    router,
    RouteSpec(
        "POST",
        "/images/generate",
        "Generate an image from a prompt (costs GENERATION_COST)",
        "images",
        body=schemas.GENERATE,
        headers=("Idempotency-Key",),
        responses={202: "Image (PENDING)"},
        errors=(*_COST_ERRORS, "rate_limited"),
    ),
)
def generate(principal: Principal) -> Response[str]:
    body = json_body(router, schemas.GENERATE)
    image = _images().generate(
        principal.user_id,
        prompt=body["prompt"],
        title=body.get("title"),
        description=body.get("description"),
        width=body.get("width"),
        height=body.get("height"),
        idempotency_key=validate_key(header(router, "idempotency-key")),
    )
    return json_response(202, image)


@route(
    router,
    RouteSpec(
        "POST",
        "/images/uploads",
        "Start an upload: an image record and a presigned POST",
        "images",
        body=schemas.UPLOAD,
        headers=("Idempotency-Key",),
        responses={201: "{image, upload: {url, fields, expiresAt}}"},
        errors=_COST_ERRORS,
    ),
)
def create_upload(principal: Principal) -> Response[str]:
    body = json_body(router, schemas.UPLOAD)
    result = _images().create_upload(
        principal.user_id,
        filename=body["filename"],
        content_type=body["contentType"],
        size=body["size"],
        title=body.get("title"),
        description=body.get("description"),
        idempotency_key=validate_key(header(router, "idempotency-key")),
    )
    return json_response(201, result)


@route(
    router,
    RouteSpec(
        "GET",
        "/images",
        "The caller's images, newest first",
        "images",
        query={**schemas.LIST_QUERY, **schemas.IMAGE_FILTERS},
        responses={200: "Page of Image"},
        errors=("invalid_cursor", "validation_error"),
    ),
)
def list_images(principal: Principal) -> dict[str, Any]:
    limit, cursor = page_params(router)
    page = _images().list_for_user(
        principal.user_id,
        limit,
        cursor,
        enum_param(router, "type", ImageType),
        enum_param(router, "status", ImageStatus),
    )
    return page_json(page)


@route(
    router,
    RouteSpec("GET", "/images/{id}", "One image", "images", responses={200: "Image"}, errors=("not_found",)),
)
def get_image(principal: Principal, id: str) -> dict[str, Any]:
    return _images().get_visible(id, principal.user_id, admin=principal.is_admin()).to_json()


@route(
    router,
    RouteSpec(
        "PATCH",
        "/images/{id}",
        "Edit title or description",
        "images",
        body=schemas.PATCH_IMAGE,
        responses={200: "Image"},
        errors=("not_found", "validation_error", "invalid_json"),
    ),
)
def update_image(principal: Principal, id: str) -> dict[str, Any]:
    changes = json_body(router, schemas.PATCH_IMAGE)
    return _images().update(id, principal.user_id, changes).to_json()


@route(
    router,
    RouteSpec(
        "DELETE",
        "/images/{id}",
        "Delete the image and every stored object of it",
        "images",
        responses={204: "deleted"},
        errors=("not_found",),
    ),
)
def delete_image(principal: Principal, id: str) -> Response[str]:
    _images().delete(id, principal.user_id, admin=principal.is_admin())
    return empty_response(204)


@route(
    router,
    RouteSpec(
        "GET",
        "/images/{id}/download",
        "302 to a signed URL of the original",
        "images",
        responses={302: "redirect to a signed URL valid SIGNED_URL_TTL seconds"},
        errors=("not_found", "image_not_ready"),
    ),
)
def download(principal: Principal, id: str) -> Response[str]:
    url = _images().download_url(id, principal.user_id, admin=principal.is_admin())
    return empty_response(302, {"Location": url})
