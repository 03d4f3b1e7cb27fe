"""Amazon Bedrock provider: Amazon Titan Image Generator v2 through ``bedrock-runtime`` InvokeModel.

Request: ``taskType`` TEXT_IMAGE with ``textToImageParams.text`` and ``imageGenerationConfig``
(``numberOfImages`` 1, ``width``, ``height``); response: JSON whose ``images[0]`` is a base64 PNG.

Titan only renders a fixed list of resolutions (320..1408 px per side, see ``TITAN_SIZES``), while
the API accepts any multiple of 64 from 256 to 1024. A size Titan renders natively goes through
untouched; any other is rendered at the native size of the closest aspect ratio and then
centre-cropped and resampled to exactly the size asked for. Titan also caps the prompt at 512
characters; longer prompts are cut at a word boundary rather than failed.

Errors: throttling, timeouts, outages and connection failures raise
:class:`~imagegen.errors.TransientError` (the queue retries the message); a prompt blocked by the
content filters raises ``PermanentError("content_filtered")``; any other rejection (validation,
access denied, unknown model) raises ``PermanentError("provider_rejected")``; a response that is
not an image raises ``PermanentError("provider_error")``.

Settings: ``BEDROCK_MODEL_ID`` (default ``amazon.titan-image-generator-v2:0``) and ``AWS_REGION``.
The boto3 client is created on first use and kept for the life of the process.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from typing import TYPE_CHECKING, Any, Final

from imagegen.errors import PermanentError, TransientError
from imagegen.providers import GeneratedImage

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

DEFAULT_MODEL_ID: Final = "amazon.titan-image-generator-v2:0"
MAX_PROMPT_CHARS: Final = 512
READ_TIMEOUT_SECONDS: Final = 90

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

TRANSIENT_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ModelTimeoutException",
        "ModelNotReadyException",
        "ModelErrorException",
        "InternalServerException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_CONTENT_FILTER_HINTS: Final = ("content filter", "blocked", "responsible ai", "moderation")


def bedrock_client() -> BedrockRuntimeClient:
    """The process-wide ``bedrock-runtime`` client, created on first use."""
    from imagegen import aws

    client: BedrockRuntimeClient = aws.client(
        "bedrock-runtime",
        region_name=os.environ.get("AWS_REGION"),
        read_timeout=READ_TIMEOUT_SECONDS,
        connect_timeout=5,
        # One quick retry at most: the queue redelivers with a backoff of its own.
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return client


def native_size(width: int, height: int) -> tuple[int, int]:
    """The Titan resolution to render for a request of ``width`` x ``height``."""
    if (width, height) in TITAN_SIZES:
        return width, height
    import math

    target = math.log(width / height)

    def rank(size: tuple[int, int]) -> tuple[float, int, int]:
        w, h = size
        covers = w >= width and h >= height
        # Closest aspect ratio first; then a size that covers the request (no upscaling),
        # the smallest such; failing that, the largest.
        return (round(abs(math.log(w / h) - target), 3), 0 if covers else 1, w * h if covers else -w * h)

    return min(TITAN_SIZES, key=rank)


def shorten_prompt(prompt: str, limit: int = MAX_PROMPT_CHARS) -> str:
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


class BedrockProvider:
    name = "bedrock"

    def __init__(self, client: BedrockRuntimeClient | None = None, model_id: str | None = None) -> None:
        self._client = client
        self.model_id = model_id or os.environ.get("BEDROCK_MODEL_ID") or DEFAULT_MODEL_ID

    @property
    def client(self) -> BedrockRuntimeClient:
        return self._client if self._client is not None else bedrock_client()

    def request_body(self, prompt: str, width: int, height: int) -> dict[str, Any]:
        return {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": shorten_prompt(prompt)},
            "imageGenerationConfig": {"numberOfImages": 1, "width": width, "height": height},
        }

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        if width < 1 or height < 1:
            raise PermanentError("provider_rejected", f"unsupported size {width}x{height}")
        render_w, render_h = native_size(width, height)
        body = json.dumps(self.request_body(prompt, render_w, render_h))
        payload = self._invoke(body)
        png = _decode_first_image(payload)
        if _png_size(png) != (width, height):
            png = _fit_png(png, width, height)
        return GeneratedImage(png, "image/png", "png")

    def _invoke(self, body: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_model(
                modelId=self.model_id, body=body, contentType="application/json", accept="application/json"
            )
            return response["body"].read()
        except ClientError as exc:
            raise _map_client_error(exc) from exc
        except BotoCoreError as exc:
            raise _map_botocore_error(exc) from exc


def _map_client_error(exc: Any) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return TransientError(f"bedrock {code or status}: {message}")
    if any(hint in message.lower() for hint in _CONTENT_FILTER_HINTS):
        return PermanentError("content_filtered", f"bedrock {code}: {message}")
    return PermanentError("provider_rejected", f"bedrock {code or status}: {message}")


def _map_botocore_error(exc: Exception) -> Exception:
    from botocore.exceptions import (
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
    )

    if isinstance(exc, ConnectionError | HTTPClientError):  # timeouts, resets, DNS, TLS
        return TransientError(f"bedrock unreachable: {type(exc).__name__}")
    if isinstance(exc, NoCredentialsError | NoRegionError | ParamValidationError):
        return PermanentError("provider_rejected", f"bedrock misconfigured: {exc}")
    return TransientError(f"bedrock client error: {type(exc).__name__}")


def _decode_first_image(payload: bytes) -> bytes:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise PermanentError("provider_error", "bedrock returned a body that is not JSON") from exc
    if not isinstance(document, dict):
        raise PermanentError("provider_error", "bedrock returned an unexpected document")
    error = document.get("error")
    images = document.get("images")
    if error or not isinstance(images, list) or not images or not isinstance(images[0], str):
        text = str(error or "no image in the response")
        reason = (
            "content_filtered" if any(h in text.lower() for h in _CONTENT_FILTER_HINTS) else "provider_error"
        )
        raise PermanentError(reason, f"bedrock: {text}")
    try:
        return base64.b64decode(images[0], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError("provider_error", "bedrock returned an image that is not base64") from exc


def _png_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _fit_png(data: bytes, width: int, height: int) -> bytes:
    """Centre-crop to the requested aspect ratio, resample to the exact size, PNG-encode."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as source:
            source.load()
            image = ImageOps.fit(source.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PermanentError("provider_error", "bedrock returned bytes that are not an image") from exc
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)
    return out.getvalue()
