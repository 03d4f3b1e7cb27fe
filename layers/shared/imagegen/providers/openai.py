"""OpenAI Images API provider, over plain HTTP (stdlib ``urllib``): OpenAI itself or any server that
speaks the API (``OPENAI_BASE_URL``), the model ``OPENAI_IMAGE_MODEL``, the key from Secrets Manager
(``OPENAI_API_KEY_SECRET_NAME``).

- Text-to-image: ``POST {base}/images/generations``, JSON ``{model, prompt, n: 1, size, quality?,
  style?, response_format?}``; answer ``{"created", "data": [{"b64_json", "revised_prompt"?}]}``.
  ``gpt-image-*`` always answers base64 and takes no ``response_format``; DALL·E is asked for
  ``b64_json`` (never a URL to fetch).
- Image-to-image (a variation): ``POST {base}/images/edits``, ``multipart/form-data`` with ``image`` (a
  PNG), ``prompt``, ``model``, ``size``, ``n``, for the models that take edits (``gpt-image-*``,
  ``dall-e-2``). The API has no seed and no strength: neither is offered for this provider.

Sizes: each model renders a few sizes (``gpt-image-1`` 1024x1024, 1536x1024, 1024x1536; ``dall-e-3``
1024x1024, 1792x1024, 1024x1792; ``dall-e-2`` 256, 512, 1024 squares); the closest aspect ratio is
rendered and fitted to the size asked for. Quality ``premium`` is ``high`` for ``gpt-image-*`` and ``hd``
for ``dall-e-3``.

Errors: ``400`` with ``error.code`` ``content_policy_violation`` (or ``moderation_blocked``) ->
``PermanentError("content_filtered")``; ``429`` -> a few retries in the call with a growing backoff
(``Retry-After`` honoured), then :class:`~imagegen.errors.ProviderThrottled` (but ``insufficient_quota``,
which waiting does not fix, is ``provider_rejected``); ``5xx``, timeouts and connection failures ->
:class:`~imagegen.errors.TransientError`; other ``4xx`` -> ``PermanentError("provider_rejected")``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Final

from imagegen.errors import PermanentError, ProviderThrottled, TransientError
from imagegen.providers import GeneratedImage, GenerationInput
from imagegen.providers.capabilities import Capabilities, capabilities_for
from imagegen.providers.fitting import fit_png, png_size

TIMEOUT_SECONDS: Final = 150  # gpt-image-1 at high quality can take two minutes
THROTTLE_ATTEMPTS: Final = 3
THROTTLE_BACKOFF_SECONDS: Final = 2.0
MAX_RETRY_AFTER_SECONDS: Final = 20.0
MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
CONTENT_CODES: Final = frozenset({"content_policy_violation", "moderation_blocked"})

_SIZES: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "gpt-image": ((1024, 1024), (1536, 1024), (1024, 1536)),
    "dall-e-3": ((1024, 1024), (1792, 1024), (1024, 1792)),
    "dall-e-2": ((1024, 1024), (512, 512), (256, 256)),
}


def model_sizes(model: str) -> tuple[tuple[int, int], ...]:
    for prefix, sizes in _SIZES.items():
        if model.startswith(prefix):
            return sizes
    return ((1024, 1024),)  # the one size every server of the API renders


def render_size(model: str, width: int, height: int) -> tuple[int, int]:
    """The model's size closest in aspect ratio to the request (then the smallest that covers it)."""
    target = math.log(width / height)

    def rank(size: tuple[int, int]) -> tuple[float, int, int]:
        w, h = size
        covers = w >= width and h >= height
        return (round(abs(math.log(w / h) - target), 3), 0 if covers else 1, w * h if covers else -w * h)

    return min(model_sizes(model), key=rank)


def _quality(model: str, quality: str) -> str | None:
    if model.startswith("gpt-image"):
        return "high" if quality == "premium" else "medium"
    if model == "dall-e-3":
        return "hd" if quality == "premium" else "standard"
    return None


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = f"imagegen-{secrets.token_hex(12)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, content_type, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: Callable[[], str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        from imagegen.settings import get_settings

        settings = get_settings()
        self.base_url = (base_url or settings.openai_base_url).rstrip("/")
        self._model = model or settings.openai_image_model
        self._api_key = api_key or _secret_key
        self._sleep = sleep
        self._timeout = timeout

    @property
    def model(self) -> str:
        return self._model

    def capabilities(self) -> Capabilities:
        return capabilities_for("openai", self._model)

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        return self.render(GenerationInput(prompt, width, height))

    def render(self, request: GenerationInput) -> GeneratedImage:
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
        w, h = render_size(self._model, request.width, request.height)
        size = f"{w}x{h}"
        prompt = " ".join(request.prompt.split())
        quality = _quality(self._model, request.quality)
        if request.source is not None:
            fields = {"model": self._model, "prompt": prompt, "n": "1", "size": size}
            if quality is not None:
                fields["quality"] = quality
            if self._model.startswith("dall-e"):
                fields["response_format"] = "b64_json"
            body, content_type = _multipart(
                fields, {"image": ("source.png", "image/png", request.source.data)}
            )
            document = self._post("/images/edits", body, content_type)
        else:
            payload: dict[str, Any] = {"model": self._model, "prompt": prompt, "n": 1, "size": size}
            if quality is not None:
                payload["quality"] = quality
            if request.style is not None:
                style = capabilities.style(request.style)
                assert style is not None  # checked above
                payload["style"] = style.native
            if self._model.startswith("dall-e"):
                payload["response_format"] = "b64_json"
            document = self._post("/images/generations", json.dumps(payload).encode(), "application/json")
        image = _first_image(document)
        if png_size(image) != (request.width, request.height):
            image = fit_png(image, request.width, request.height, "openai")
        return GeneratedImage(image, "image/png", "png")

    # ---- HTTP ----------------------------------------------------------------------------------
    def _post(self, path: str, body: bytes, content_type: str) -> dict[str, Any]:
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                return self._send(path, body, content_type)
            except ProviderThrottled as throttled:
                if attempt == THROTTLE_ATTEMPTS:
                    raise
                wait = THROTTLE_BACKOFF_SECONDS * 2 ** (attempt - 1)
                if throttled.retry_after is not None:
                    wait = min(MAX_RETRY_AFTER_SECONDS, max(wait, throttled.retry_after))
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, path: str, body: bytes, content_type: str) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the operator's configured https (or local) URL
            self.base_url + path,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._api_key()}",
                "Content-Type": content_type,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"openai unreachable: {type(exc).__name__}") from exc
        if len(raw) > MAX_RESPONSE_BYTES:
            raise PermanentError("provider_error", "openai answered more than expected")
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise PermanentError("provider_error", "openai returned a body that is not JSON") from exc
        if not isinstance(document, dict):
            raise PermanentError("provider_error", "openai returned an unexpected document")
        return document


def _http_error(exc: urllib.error.HTTPError) -> Exception:
    status = exc.code
    try:
        document = json.loads(exc.read(256 * 1024) or b"{}")
    except (ValueError, OSError):
        document = {}
    error = document.get("error") if isinstance(document, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    kind = str(error.get("type") or "")
    message = str(error.get("message") or "")[:300]
    if code in CONTENT_CODES or kind in CONTENT_CODES:
        return PermanentError("content_filtered", f"openai {status} {code}: {message}")
    if status == 429:
        if code == "insufficient_quota" or kind == "insufficient_quota":
            return PermanentError("provider_rejected", f"openai 429 insufficient_quota: {message}")
        retry_after = _seconds(exc.headers.get("Retry-After") if exc.headers else None)
        return ProviderThrottled(f"openai 429 {code}: {message}", retry_after=retry_after)
    if status >= 500 or status == 408:
        return TransientError(f"openai {status}: {message}")
    return PermanentError("provider_rejected", f"openai {status} {code}: {message}")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _first_image(document: dict[str, Any]) -> bytes:
    data = document.get("data")
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
    encoded = first.get("b64_json") if first is not None else None
    if not isinstance(encoded, str):
        raise PermanentError("provider_error", "openai: no b64_json image in the response")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError("provider_error", "openai returned an image that is not base64") from exc


def _secret_key() -> str:
    """The API key, from the Secrets Manager secret ``OPENAI_API_KEY_SECRET_NAME`` (cached a while)."""
    from imagegen.auth.secrets import SecretConfigurationError, SecretsProvider
    from imagegen.errors import ServiceUnavailable

    try:
        return SecretsProvider().openai_api_key()
    except ServiceUnavailable as exc:  # the secret could not be read just now (throttled, unreachable)
        raise TransientError("openai: the API key could not be read") from exc
    except SecretConfigurationError as exc:  # not configured: the operator's to fix, not worth retrying
        raise PermanentError("provider_rejected", f"openai: no API key ({exc})") from exc
