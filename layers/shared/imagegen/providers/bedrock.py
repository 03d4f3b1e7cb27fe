"""Amazon Bedrock provider: Nova Canvas (the default), Titan Image Generator v2 and Stability's models,
through ``bedrock-runtime`` InvokeModel; each family's request and response shapes are in
:mod:`imagegen.providers.bedrock_models` (sources cited in ``docs/providers.md``).

Models render their own sizes (Titan a fixed list, Nova multiples of 16 from 320 px, Stability an
aspect ratio at about one megapixel), while the API accepts any multiple of 64 from 256 to 1024: the
output is centre-cropped and resampled to exactly the size asked for when it differs.

Errors: throttling (``ThrottlingException``, ``ServiceQuotaExceededException``, HTTP 429) is retried a few
times in the call with a growing backoff, then raises :class:`~imagegen.errors.ProviderThrottled` (the
generator treats it as backpressure); timeouts, outages and connection failures raise
:class:`~imagegen.errors.TransientError` (the queue retries the message); a prompt or image blocked
by the content filters raises ``PermanentError("content_filtered")``; any other rejection (validation,
access denied, unknown model) raises ``PermanentError("provider_rejected")``; a response that is not an
image raises ``PermanentError("provider_error")``.

Settings: ``BEDROCK_MODEL_ID`` (default ``amazon.nova-canvas-v1:0``), ``BEDROCK_REGION`` (default: the
function's ``AWS_REGION``; Stability's models are served in fewer regions). The boto3 client is created
on first use and kept for the life of the process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from imagegen.errors import PermanentError, ProviderThrottled, TransientError
from imagegen.providers import GeneratedImage, GenerationInput
from imagegen.providers.bedrock_models import (
    MAX_TITAN_PROMPT_CHARS,
    TITAN_SIZES,
    family_for,
    native_size,
    shorten_prompt,
)
from imagegen.providers.capabilities import NOVA_CANVAS_ID, Capabilities, capabilities_for
from imagegen.providers.fitting import fit_png, png_size

__all__ = [
    "DEFAULT_MODEL_ID",
    "MAX_PROMPT_CHARS",
    "TITAN_SIZES",
    "BedrockProvider",
    "bedrock_client",
    "native_size",
    "shorten_prompt",
]

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

DEFAULT_MODEL_ID: Final = NOVA_CANVAS_ID
MAX_PROMPT_CHARS: Final = MAX_TITAN_PROMPT_CHARS
# The slowest model (Stable Image Ultra, Nova Canvas premium at 4 megapixels) answers within about a
# minute; the generator's timeout (template.yaml) leaves room for this plus the throttling backoff.
READ_TIMEOUT_SECONDS: Final = 120
THROTTLE_ATTEMPTS: Final = 3
THROTTLE_BACKOFF_SECONDS: Final = 2.0
THROTTLING_CODES: Final = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
)

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
        region_name=os.environ.get("BEDROCK_REGION") or os.environ.get("AWS_REGION"),
        read_timeout=READ_TIMEOUT_SECONDS,
        connect_timeout=5,
        # No SDK retries: throttling is retried (and counted) here, anything else by the queue.
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return client


class BedrockProvider:
    name = "bedrock"

    def __init__(
        self,
        client: BedrockRuntimeClient | None = None,
        model_id: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.model_id = model_id or os.environ.get("BEDROCK_MODEL_ID") or DEFAULT_MODEL_ID
        self._family = family_for(self.model_id)
        self._sleep = sleep

    @property
    def model(self) -> str:
        return self.model_id

    @property
    def client(self) -> BedrockRuntimeClient:
        return self._client if self._client is not None else bedrock_client()

    def capabilities(self) -> Capabilities:
        return capabilities_for("bedrock", self.model_id)

    def request_body(self, request: GenerationInput) -> dict[str, Any]:
        return self._family.body(request, self.capabilities())

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        return self.render(GenerationInput(prompt, width, height))

    def render(self, request: GenerationInput) -> GeneratedImage:
        width, height = request.width, request.height
        if width < 1 or height < 1:
            raise PermanentError("provider_rejected", f"unsupported size {width}x{height}")
        capabilities = self.capabilities()
        problems = capabilities.problems(
            negative_prompt=request.negative_prompt,
            style=request.style,
            seed=request.seed,
            quality=request.quality,
            variation=request.is_variation,
        )
        if problems:  # the API refuses these with a 422; a message queued under another model lands here
            raise PermanentError("provider_rejected", "; ".join(f"{p.field} {p.message}" for p in problems))
        body = self._family.body(request, capabilities)
        payload = self._invoke(json.dumps(body))
        image = self._family.image(payload)
        if png_size(image) != (width, height):  # another size, or not a PNG: fitted and re-encoded
            image = fit_png(image, width, height, "bedrock")
        return GeneratedImage(image, "image/png", "png")

    def _invoke(self, body: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                response = self.client.invoke_model(
                    modelId=self.model_id,
                    body=body,
                    contentType="application/json",
                    accept="application/json",
                )
                return response["body"].read()
            except ClientError as exc:
                error = _map_client_error(exc)
                if isinstance(error, ProviderThrottled) and attempt < THROTTLE_ATTEMPTS:
                    self._sleep(THROTTLE_BACKOFF_SECONDS * 2 ** (attempt - 1))
                    continue
                raise error from exc
            except BotoCoreError as exc:
                raise _map_botocore_error(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _map_client_error(exc: Any) -> Exception:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in THROTTLING_CODES or status == 429:
        return ProviderThrottled(f"bedrock {code or status}: {message}")
    if code in TRANSIENT_CODES or status >= 500:
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
