"""Generation options: what ``GET /generation/options`` answers, and the check of a request's options
against the configured provider and model, made before anything is charged.

An option the model cannot honour is a ``422 validation_error`` naming the field, never dropped. The seed
is always recorded: when the client gives none, one is chosen here, at request time, from the image's
id (random, and the same for an idempotent replay, which answers the image first recorded).
"""

from __future__ import annotations

import hashlib
from typing import Any

from imagegen.commands import GenerateImage, VaryImage
from imagegen.errors import ValidationError
from imagegen.models import PROMPT_MAX, Generation
from imagegen.providers.capabilities import STRENGTH_DEFAULT, Capabilities, capabilities_for
from imagegen.settings import Settings


def configured_capabilities(settings: Settings) -> Capabilities:
    return capabilities_for(settings.image_provider, settings.image_model())


def options_json(settings: Settings) -> dict[str, Any]:
    """The body of ``GET /generation/options``."""
    capabilities = configured_capabilities(settings)
    body = capabilities.to_json()
    body["costs"] = {"standard": settings.generation_cost, "premium": settings.generation_cost_premium}
    body["maxPromptLength"] = min(PROMPT_MAX, capabilities.max_prompt_length)
    body["maxNegativePromptLength"] = capabilities.max_negative_length if capabilities.negative_prompt else 0
    return body


def seed_for(image_id: str, capabilities: Capabilities) -> int | None:
    """The seed of an image whose request named none: drawn from its (random) id, within the model's
    range; None when the model takes no seed."""
    if not capabilities.seed:
        return None
    digest = hashlib.sha256(b"imagegen-seed\x00" + image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (capabilities.max_seed + 1)


def generation_for(command: GenerateImage, image_id: str, capabilities: Capabilities) -> Generation:
    """The generation record of a new image, or ``ValidationError`` for an option the model lacks."""
    errors = capabilities.problems(
        negative_prompt=command.negative_prompt,
        style=command.style,
        seed=command.seed,
        quality=command.quality,
    )
    if errors:
        raise ValidationError(errors)
    return Generation(
        provider=capabilities.provider,
        model=capabilities.model,
        seed=command.seed if command.seed is not None else seed_for(image_id, capabilities),
        style=command.style,
        negative_prompt=command.negative_prompt,
        quality=command.quality,
    )


def check_variation(command: VaryImage, capabilities: Capabilities) -> None:
    errors = capabilities.problems(
        style=command.style,
        seed=command.seed,
        variation=True,
        strength_given=command.strength is not None,
    )
    if errors:
        raise ValidationError(errors)


def variation_for(command: VaryImage, image_id: str, capabilities: Capabilities) -> Generation:
    check_variation(command, capabilities)
    strength = command.strength if command.strength is not None else STRENGTH_DEFAULT
    return Generation(
        provider=capabilities.provider,
        model=capabilities.model,
        seed=command.seed if command.seed is not None else seed_for(image_id, capabilities),
        style=command.style,
        quality="standard",
        strength=round(strength, 3) if capabilities.variation_strength else None,
    )


def variation_size(width: int | None, height: int | None) -> tuple[int, int]:
    """A variation's size: the source's aspect ratio with the longest side 1024, each side a multiple
    of 64 from 256 to 1024 (what ``POST /images/generate`` accepts)."""
    if not width or not height:
        return 1024, 1024
    scale = 1024 / max(width, height)

    def side(value: int) -> int:
        return max(256, min(1024, round(value * scale / 64) * 64))

    return side(width), side(height)
