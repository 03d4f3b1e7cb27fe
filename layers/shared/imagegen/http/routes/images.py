"""Images: generate, upload, list, read, edit, delete, download."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import EditImage, GenerateImage, StartUpload
from imagegen.http.api import (
    RouteSpec,
    empty_response,
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
from imagegen.models import ImageStatus, ImageType
from imagegen.services.accounts import Principal
from imagegen.services.images import ImageService

router = new_router()
_COST_ERRORS = (
    "validation_error",
    "invalid_json",
    "insufficient_coins",
    "idempotency_key_reused",
)


def _images() -> ImageService:
    return services(router).images


@route(
    router,
    RouteSpec(
        method="POST",
        path="/images/generate",
        summary="Generate an image from a prompt (costs GENERATION_COST)",
        tag="images",
        body=GenerateImage,
        headers=("Idempotency-Key",),
        responses={202: "Image (PENDING)"},
        errors=(*_COST_ERRORS, "rate_limited"),
    ),
)
def generate(principal: Principal, body: GenerateImage) -> Response[str]:
    image = _images().generate(principal.user_id, body, idempotency_key(router))
    return json_response(202, image.to_json())


@route(
    router,
    RouteSpec(
        method="POST",
        path="/images/uploads",
        summary="Start an upload: an image record and a presigned POST (or PUT with UPLOAD_METHOD=PUT)",
        tag="images",
        body=StartUpload,
        headers=("Idempotency-Key",),
        responses={
            201: '{image, upload: {method: "POST", url, fields, expiresAt}'
            ' | {method: "PUT", url, headers, expiresAt}}'
        },
        errors=(*_COST_ERRORS, "rate_limited"),
    ),
)
def create_upload(principal: Principal, body: StartUpload) -> Response[str]:
    ticket = _images().create_upload(principal.user_id, body, idempotency_key(router))
    return json_response(201, ticket.to_json())


@route(
    router,
    RouteSpec(
        method="GET",
        path="/images",
        summary="The caller's images, newest first",
        tag="images",
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
    RouteSpec(
        method="GET",
        path="/images/{id}",
        summary="One image",
        tag="images",
        responses={200: "Image"},
        errors=("not_found",),
        image_param="id",
        etag=True,
    ),
)
def get_image(principal: Principal, id: str) -> dict[str, Any]:
    return (
        _images()
        .get_visible(id, principal.user_id, admin=principal.is_admin(), read=principal.image)
        .to_json()
    )


@route(
    router,
    RouteSpec(
        method="PATCH",
        path="/images/{id}",
        summary="Edit title or description",
        tag="images",
        body=EditImage,
        responses={200: "Image"},
        errors=("not_found", "validation_error", "invalid_json"),
    ),
)
def update_image(principal: Principal, id: str, body: EditImage) -> dict[str, Any]:
    return _images().update(id, principal.user_id, body).to_json()


@route(
    router,
    RouteSpec(
        method="DELETE",
        path="/images/{id}",
        summary="Delete the image and every stored object of it",
        tag="images",
        responses={204: "deleted"},
        errors=("not_found",),
    ),
)
def delete_image(principal: Principal, id: str) -> Response[str]:
    # Not read with the caller: the delete reads the image with its collection count (one BatchGetItem).
    _images().delete(id, principal.user_id, admin=principal.is_admin())
    return empty_response(204)


@route(
    router,
    RouteSpec(
        method="GET",
        path="/images/{id}/download",
        summary="302 to a signed URL of the original",
        tag="images",
        responses={302: "redirect to a signed URL valid SIGNED_URL_TTL seconds"},
        errors=("not_found", "image_not_ready"),
        image_param="id",
    ),
)
def download(principal: Principal, id: str) -> Response[str]:
    url = _images().download_url(id, principal.user_id, admin=principal.is_admin(), read=principal.image)
    return empty_response(302, {"Location": url})
