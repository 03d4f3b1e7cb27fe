"""The request and response shapes of each image model family on Amazon Bedrock (InvokeModel bodies).

Each family turns a :class:`~imagegen.providers.GenerationInput` into the model's own JSON body (and
says what size it renders, which the provider then fits to the size asked for), and reads the model's
response into PNG bytes. Sources (request fields, limits, response fields) are cited in
``docs/providers.md``:

- Amazon Nova Canvas (``amazon.nova-canvas-v1:0``): ``TEXT_IMAGE`` with ``textToImageParams`` (``text``,
  ``negativeText``, ``style``) and ``imageGenerationConfig`` (``width``, ``height``, ``quality``,
  ``seed``, ``numberOfImages``); ``IMAGE_VARIATION`` with ``imageVariationParams`` (``text``,
  ``negativeText``, ``images``, ``similarityStrength`` 0.2..1.0). Sides 320..4096 px, multiples of 16.
  Response ``{"images": [base64], "error": str | null}``.
- Amazon Titan Image Generator v2 (``amazon.titan-image-generator-v2:0``): the same task shapes without
  ``style``; a fixed list of resolutions; prompts up to 512 characters.
- Stability AI on Bedrock (``stability.sd3-5-large-v1:0``, ``stability.stable-image-core-v1:1``,
  ``stability.stable-image-ultra-v1:1``): ``{"prompt", "negative_prompt", "seed", "aspect_ratio",
  "output_format"}``; SD3.x also ``"mode": "image-to-image"`` with ``image`` (base64) and ``strength``.
  Response ``{"seeds", "finish_reasons": [null | "Filter reason: ..." | "Inference error"], "images"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Final, Protocol

from imagegen.errors import PermanentError, TransientError
from imagegen.providers import GenerationInput
from imagegen.providers.capabilities import Capabilities

MAX_TITAN_PROMPT_CHARS: Final = 512
MAX_NOVA_TEXT_CHARS: Final = 1024

# Native resolutions of Titan Image Generator (Amazon Bedrock user guide, Titan image models).
TITAN_SIZES: Final[tuple[tuple[int, int], ...]] = (
    (1024, 1024), (768, 768), (512, 512),
    (768, 1152), (384, 576), (1152, 768), (576, 384),
    (768, 1280), (384, 640), (1280, 768), (640, 384),
    (896, 1152), (448, 576), (1152, 896), (576, 448),
    (768, 1408), (384, 704), (1408, 768), (704, 384),
    (640, 1408), (320, 704), (1408, 640), (704, 320),
    (1152, 640), (1173, 640),
)  # fmt: skip

# Aspect ratios Stability's text-to-image takes on Bedrock (about one megapixel each).
STABILITY_RATIOS: Final = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")

CONTENT_FILTER_HINTS: Final = ("content filter", "blocked", "responsible ai", "moderation")


class ModelFamily(Protocol):
    def body(self, request: GenerationInput, capabilities: Capabilities) -> dict[str, Any]:
        """The InvokeModel body (its output may differ in size from the request's: the provider fits it)."""
        ...

    def image(self, payload: bytes) -> bytes:
        """The PNG (or JPEG) bytes of the first image, or PermanentError / TransientError."""
        ...


def shorten_prompt(prompt: str, limit: int = MAX_TITAN_PROMPT_CHARS) -> str:
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def native_size(width: int, height: int) -> tuple[int, int]:
    """The Titan resolution to render for a request of ``width`` x ``height``."""
    if (width, height) in TITAN_SIZES:
        return width, height
    target = math.log(width / height)

    def rank(size: tuple[int, int]) -> tuple[float, int, int]:
        w, h = size
        covers = w >= width and h >= height
        # Closest aspect ratio first; then a size that covers the request (no upscaling),
        # the smallest such; failing that, the largest.
        return (round(abs(math.log(w / h) - target), 3), 0 if covers else 1, w * h if covers else -w * h)

    return min(TITAN_SIZES, key=rank)


def nova_size(width: int, height: int) -> tuple[int, int]:
    """Nova Canvas renders any size with sides 320..4096 px in multiples of 16: the request's own, or
    the smallest such size of its aspect ratio that covers it."""
    scale = max(1.0, 320 / min(width, height))

    def side(value: int) -> int:
        return min(4096, math.ceil(value * scale / 16) * 16)

    return side(width), side(height)


def stability_ratio(width: int, height: int) -> str:
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(STABILITY_RATIOS, key=distance)


def similarity(strength: float | None) -> float:
    """Our ``strength`` (0.1 close .. 0.9 loose) as Amazon's ``similarityStrength`` (1.0 .. 0.2)."""
    value = 0.5 if strength is None else strength
    return round(min(1.0, max(0.2, 1.1 - value)), 2)


def _document(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise PermanentError("provider_error", "bedrock returned a body that is not JSON") from exc
    if not isinstance(document, dict):
        raise PermanentError("provider_error", "bedrock returned an unexpected document")
    return document


def _decode(images: object) -> bytes:
    if not isinstance(images, list) or not images or not isinstance(images[0], str):
        raise PermanentError("provider_error", "bedrock: no image in the response")
    try:
        return base64.b64decode(images[0], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError("provider_error", "bedrock returned an image that is not base64") from exc


class AmazonImageModel:
    """Nova Canvas and Titan Image Generator: one task-based request shape."""

    def __init__(self, *, nova: bool) -> None:
        self.nova = nova

    def body(self, request: GenerationInput, capabilities: Capabilities) -> dict[str, Any]:
        if self.nova:
            width, height = nova_size(request.width, request.height)
            text = " ".join(request.prompt.split())[:MAX_NOVA_TEXT_CHARS]
        else:
            width, height = native_size(request.width, request.height)
            text = shorten_prompt(request.prompt)
        config: dict[str, Any] = {"numberOfImages": 1, "width": width, "height": height}
        if request.quality == "premium":
            config["quality"] = "premium"
        if request.seed is not None:
            config["seed"] = request.seed
        params: dict[str, Any] = {"text": text}
        if request.negative_prompt:
            params["negativeText"] = request.negative_prompt
        if request.source is not None:
            params["images"] = [base64.b64encode(request.source.data).decode("ascii")]
            params["similarityStrength"] = similarity(request.strength)
            body = {"taskType": "IMAGE_VARIATION", "imageVariationParams": params}
        else:
            if request.style is not None:
                style = capabilities.style(request.style)
                if style is None:
                    raise PermanentError("provider_rejected", f"unknown style {request.style!r}")
                params["style"] = style.native
            body = {"taskType": "TEXT_IMAGE", "textToImageParams": params}
        body["imageGenerationConfig"] = config
        return body

    def image(self, payload: bytes) -> bytes:
        document = _document(payload)
        error = document.get("error")
        if error:
            text = str(error)
            filtered = any(hint in text.lower() for hint in CONTENT_FILTER_HINTS)
            raise PermanentError("content_filtered" if filtered else "provider_error", f"bedrock: {text}")
        return _decode(document.get("images"))


class StabilityModel:
    """Stable Diffusion 3.x, Stable Image Core and Ultra: Stability's own body shape on Bedrock."""

    def body(self, request: GenerationInput, capabilities: Capabilities) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": " ".join(request.prompt.split()), "output_format": "png"}
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            # Stability reads seed 0 as "pick one at random": shifted by one, every seed is honoured.
            body["seed"] = request.seed + 1
        if request.source is not None:
            body["mode"] = "image-to-image"
            body["image"] = base64.b64encode(request.source.data).decode("ascii")
            body["strength"] = 0.5 if request.strength is None else request.strength
        else:
            body["aspect_ratio"] = stability_ratio(request.width, request.height)
        return body

    def image(self, payload: bytes) -> bytes:
        document = _document(payload)
        reasons = document.get("finish_reasons")
        reason = reasons[0] if isinstance(reasons, list) and reasons else None
        if reason:
            text = str(reason)
            if text.lower().startswith("filter reason"):
                raise PermanentError("content_filtered", f"bedrock: {text}")
            raise TransientError(f"bedrock: {text}")  # "Inference error": worth another try
        return _decode(document.get("images"))


def family_for(model_id: str) -> ModelFamily:
    if model_id.startswith("amazon.nova-canvas"):
        return AmazonImageModel(nova=True)
    if model_id.startswith("amazon.titan-image-generator"):
        return AmazonImageModel(nova=False)
    if model_id.startswith("stability."):
        return StabilityModel()
    raise ValueError(f"BEDROCK_MODEL_ID {model_id!r} is not a supported image model")
