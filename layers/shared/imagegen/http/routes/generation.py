"""Generation options and variations: GET /generation/options, POST /images/{id}/variations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.commands import VaryImage
from imagegen.http.api import RouteSpec, idempotency_key, json_response, new_router, route, services
from imagegen.http.caching import PUBLIC_MINUTE
from imagegen.services.accounts import Principal
from imagegen.services.options import options_json

router = new_router()


@route(
    router,
    RouteSpec(
        method="GET",
        path="/generation/options",
        summary="What the configured provider and model offer: styles, sizes, costs, supported options",
        tag="images",
        auth=False,
        responses={
            200: "{provider, model, styles: [{id, label}], sizes: [{width, height}], costs: {standard, "
            "premium}, maxPromptLength, maxNegativePromptLength, supports: {negativePrompt, seed, "
            "variations, premium, strength}}"
        },
        cache=PUBLIC_MINUTE,
    ),
)
def generation_options() -> dict[str, Any]:
    return options_json(services(router).settings)


@route(
    router,
    RouteSpec(
        method="POST",
        path="/images/{id}/variations",
        summary="A variation of one of the caller's completed images (costs GENERATION_COST)",
        tag="images",
        body=VaryImage,
        headers=("Idempotency-Key",),
        responses={202: "Image (PENDING, GENERATED, sourceImageId = id)"},
        errors=(
            "validation_error",
            "invalid_json",
            "not_found",
            "image_not_ready",
            "insufficient_coins",
            "idempotency_key_reused",
            "rate_limited",
        ),
    ),
)
def vary(principal: Principal, id: str, body: VaryImage) -> Response[str]:
    command = VaryImage(
        source_image_id=id, prompt=body.prompt, strength=body.strength, seed=body.seed, style=body.style
    )
    image = services(router).images.vary(principal.user_id, command, idempotency_key(router))
    return json_response(202, image.to_json())
