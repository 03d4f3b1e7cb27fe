"""What each provider and model supports, as plain data: importable by the HTTP functions (which refuse
an unsupported option with ``422`` before anything is charged) without importing the provider itself.

A style is offered under a stable id of ours (``photographic``) and sent as the model's own value
(``PHOTOREALISM``). The sources of each model's limits are cited in ``docs/providers.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from imagegen.errors import FieldError

SEED_MAX: Final = 2_147_483_647
STRENGTH_MIN: Final = 0.1
STRENGTH_MAX: Final = 0.9
STRENGTH_DEFAULT: Final = 0.5
QUALITIES: Final = ("standard", "premium")

# Sizes the web app offers (any multiple of 64 from 256 to 1024 is accepted; providers that render
# other sizes natively fit their output to the size asked for).
PRESET_SIZES: Final[tuple[tuple[int, int], ...]] = (
    (1024, 1024),
    (1024, 768),
    (768, 1024),
    (1024, 576),
    (576, 1024),
    (512, 512),
)


@dataclass(frozen=True)
class Style:
    id: str
    label: str
    native: str  # the value the model's API takes

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label}


@dataclass(frozen=True)
class Capabilities:
    provider: str
    model: str
    styles: tuple[Style, ...] = ()
    negative_prompt: bool = False
    seed: bool = False
    max_seed: int = SEED_MAX
    premium: bool = False
    variations: bool = False
    # Whether a variation's distance from its source can be chosen (False: the model decides).
    variation_strength: bool = False
    # Whether a style applies to variations too (Nova Canvas documents styles for TEXT_IMAGE only).
    variation_style: bool = False
    max_prompt_length: int = 1000
    max_negative_length: int = 1000
    sizes: tuple[tuple[int, int], ...] = field(default=PRESET_SIZES)

    def style(self, style_id: str) -> Style | None:
        return next((s for s in self.styles if s.id == style_id), None)

    def problems(
        self,
        *,
        negative_prompt: str | None = None,
        style: str | None = None,
        seed: int | None = None,
        quality: str = "standard",
        variation: bool = False,
        strength_given: bool = False,
    ) -> list[FieldError]:
        """Every option this model cannot honour, as the ``422``'s field errors (empty: all fine)."""
        where = f"the {self.provider} provider ({self.model})"
        errors: list[FieldError] = []
        if negative_prompt:
            if not self.negative_prompt:
                errors.append(FieldError("negativePrompt", f"is not supported by {where}"))
            elif len(negative_prompt) > self.max_negative_length:
                errors.append(
                    FieldError("negativePrompt", f"must be at most {self.max_negative_length} characters")
                )
        if style is not None and variation and self.style(style) is not None and not self.variation_style:
            errors.append(FieldError("style", f"does not apply to variations with {where}"))
        elif style is not None and self.style(style) is None:
            offered = ", ".join(s.id for s in self.styles)
            message = f"must be one of {offered}" if offered else f"is not supported by {where}"
            errors.append(FieldError("style", message))
        if seed is not None:
            if not self.seed:
                errors.append(FieldError("seed", f"is not supported by {where}"))
            elif seed > self.max_seed:
                errors.append(FieldError("seed", f"must be at most {self.max_seed} for {where}"))
        if quality == "premium" and not self.premium:
            errors.append(FieldError("quality", f"premium is not offered by {where}"))
        if variation and not self.variations:
            errors.append(FieldError("sourceImageId", f"variations are not supported by {where}"))
        elif variation and strength_given and not self.variation_strength:
            errors.append(FieldError("strength", f"is not supported by {where}"))
        return errors

    def to_json(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "model": self.model,
            "styles": [s.to_json() for s in self.styles],
            "sizes": [{"width": w, "height": h} for w, h in self.sizes],
            "supports": {
                "negativePrompt": self.negative_prompt,
                "seed": self.seed,
                "variations": self.variations,
                "premium": self.premium,
                "strength": self.variation_strength,
            },
        }


# ---- local ------------------------------------------------------------------------------------
LOCAL_STYLES: Final = (
    Style("vivid", "Vivid", "vivid"),
    Style("pastel", "Pastel", "pastel"),
    Style("noir", "Noir", "noir"),
    Style("watercolor", "Watercolor", "watercolor"),
    Style("pixel-art", "Pixel art", "pixel-art"),
    Style("neon", "Neon", "neon"),
)
LOCAL: Final = Capabilities(
    provider="local",
    model="local-painter-v2",
    styles=LOCAL_STYLES,
    negative_prompt=True,
    seed=True,
    premium=True,
    variations=True,
    variation_strength=True,
    variation_style=True,
)

# ---- Amazon Bedrock ---------------------------------------------------------------------------
NOVA_CANVAS_ID: Final = "amazon.nova-canvas-v1:0"
TITAN_V2_ID: Final = "amazon.titan-image-generator-v2:0"
SD35_LARGE_ID: Final = "stability.sd3-5-large-v1:0"
STABLE_IMAGE_CORE_ID: Final = "stability.stable-image-core-v1:1"
STABLE_IMAGE_ULTRA_ID: Final = "stability.stable-image-ultra-v1:1"

NOVA_STYLES: Final = (
    Style("3d-animated", "3D animated film", "3D_ANIMATED_FAMILY_FILM"),
    Style("design-sketch", "Design sketch", "DESIGN_SKETCH"),
    Style("flat-vector", "Flat vector illustration", "FLAT_VECTOR_ILLUSTRATION"),
    Style("graphic-novel", "Graphic novel", "GRAPHIC_NOVEL_ILLUSTRATION"),
    Style("maximalism", "Maximalism", "MAXIMALISM"),
    Style("midcentury-retro", "Midcentury retro", "MIDCENTURY_RETRO"),
    Style("photographic", "Photorealism", "PHOTOREALISM"),
    Style("soft-digital-painting", "Soft digital painting", "SOFT_DIGITAL_PAINTING"),
)


def _bedrock(model: str) -> Capabilities:
    if model.startswith("amazon.nova-canvas"):
        return Capabilities(
            provider="bedrock",
            model=model,
            styles=NOVA_STYLES,
            negative_prompt=True,
            seed=True,
            max_seed=858_993_459,
            premium=True,
            variations=True,
            variation_strength=True,
            max_prompt_length=1000,
            max_negative_length=1000,
        )
    if model.startswith("amazon.titan-image-generator"):
        return Capabilities(
            provider="bedrock",
            model=model,
            negative_prompt=True,
            seed=True,
            max_seed=2_147_483_646,
            premium=True,
            variations=True,
            variation_strength=True,
            max_prompt_length=512,  # longer prompts are cut at a word boundary
            max_negative_length=512,
        )
    if model.startswith("stability.sd3"):  # SD3 / SD3.5: text-to-image and image-to-image
        return Capabilities(
            provider="bedrock",
            model=model,
            negative_prompt=True,
            seed=True,
            variations=True,
            variation_strength=True,
        )
    if model.startswith("stability."):  # Stable Image Core / Ultra: text-to-image on Bedrock
        return Capabilities(provider="bedrock", model=model, negative_prompt=True, seed=True)
    raise ValueError(f"BEDROCK_MODEL_ID {model!r} is not a supported image model")


# ---- OpenAI Images API ------------------------------------------------------------------------
DALL_E_3_STYLES: Final = (Style("vivid", "Vivid", "vivid"), Style("natural", "Natural", "natural"))


def _openai(model: str) -> Capabilities:
    if model.startswith("gpt-image"):
        return Capabilities(provider="openai", model=model, premium=True, variations=True)
    if model == "dall-e-3":
        return Capabilities(provider="openai", model=model, styles=DALL_E_3_STYLES, premium=True)
    if model == "dall-e-2":
        return Capabilities(provider="openai", model=model, variations=True)
    # A self-hosted server speaking the API: generations only, nothing assumed beyond them.
    return Capabilities(provider="openai", model=model)


def capabilities_for(provider: str, model: str) -> Capabilities:
    """The capabilities of ``provider`` (``IMAGE_PROVIDER``) with ``model``; ValueError if unknown."""
    name = provider.strip().lower() or "local"
    if name == "local":
        return LOCAL
    if name == "bedrock":
        return _bedrock(model)
    if name == "openai":
        return _openai(model)
    raise ValueError(f"unknown image provider {provider!r}")
