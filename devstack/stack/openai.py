"""A local stand-in for the OpenAI Images API, so ``IMAGE_PROVIDER=openai`` runs end to end offline.

Served at ``/_local/openai/v1/images/generations`` (JSON) and ``/_local/openai/v1/images/edits``
(multipart), it checks the bearer key (the stack writes it into the template's OpenAI key secret),
answers in the API's own shapes (``{"created", "data": [{"b64_json"}]}``; errors as
``{"error": {"message", "type", "param", "code"}}``) and renders with the offline renderer of the
``local`` provider. What it refuses, it refuses as the API does: an unknown model, a size the model
does not render, ``response_format`` sent to a ``gpt-image`` model, edits for ``dall-e-3``.

Markers in a prompt make it answer as OpenAI does when things go wrong, for tests:
``[[openai:content_policy]]`` (400 ``content_policy_violation``), ``[[openai:rate_limit]]`` (429
``rate_limit_exceeded`` with ``Retry-After``), ``[[openai:quota]]`` (429 ``insufficient_quota``),
``[[openai:server_error]]`` (500).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from devstack.stack.apigw import HttpRequest, HttpResponse, json_response

MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2")
EDIT_MODELS = ("gpt-image-1", "gpt-image-1-mini", "dall-e-2")


def _error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> HttpResponse:
    document = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = [("Retry-After", "1")] if status == 429 and code == "rate_limit_exceeded" else []
    return json_response(status, document, headers)


class OpenAIStandIn:
    def __init__(self, base_path: str = "/_local/openai", api_key: str | None = None) -> None:
        self.base_path = base_path
        self.api_key = api_key or f"sk-local-{secrets.token_hex(16)}"
        self.requests: list[dict[str, Any]] = []  # what was asked, for /_local/openai/requests
        self._lock = threading.Lock()

    def handle(self, request: HttpRequest) -> HttpResponse:
        action = request.raw_path.removeprefix(self.base_path)
        if action == "/requests" and request.method == "GET":
            with self._lock:
                return json_response(200, {"requests": list(self.requests)})
        if request.method != "POST" or action not in ("/v1/images/generations", "/v1/images/edits"):
            return _error(404, f"Invalid URL ({request.method} {action})", None)
        given = request.header("authorization") or ""
        if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if action.endswith("/generations"):
            return self._generations(request)
        return self._edits(request)

    # ---- endpoints -------------------------------------------------------------------------------
    def _generations(self, request: HttpRequest) -> HttpResponse:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", None)
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.", None)
        fields = {k: str(v) for k, v in body.items() if k != "prompt"}
        return self._answer("generations", str(body.get("prompt") or ""), fields, None)

    def _edits(self, request: HttpRequest) -> HttpResponse:
        content_type = request.header("content-type") or ""
        if not content_type.startswith("multipart/form-data"):
            return _error(400, "The edits endpoint takes multipart/form-data.", None)
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        fields: dict[str, str] = {}
        image: bytes | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                continue
            if name in ("image", "image[]"):
                image = payload
            else:
                fields[name] = payload.decode("utf-8", "replace")
        if image is None:
            return _error(400, "Missing required parameter: 'image'.", "missing_required_parameter")
        prompt = fields.pop("prompt", "")
        return self._answer("edits", prompt, fields, image)

    # ---- the answer --------------------------------------------------------------------------------
    def _answer(
        self, endpoint: str, prompt: str, fields: dict[str, str], image: bytes | None
    ) -> HttpResponse:
        from imagegen.providers.openai import model_sizes

        model = fields.get("model") or "dall-e-2"
        with self._lock:
            asked = {"endpoint": endpoint, "prompt": prompt, **fields, "image": image is not None}
            self.requests.append(asked)
        if model not in MODELS:
            return _error(404, f"The model '{model}' does not exist.", "model_not_found")
        if endpoint == "edits" and model not in EDIT_MODELS:
            return _error(400, f"The model '{model}' does not support image edits.", "invalid_value")
        if not prompt.strip():
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter")
        if model.startswith("gpt-image") and "response_format" in fields:
            return _error(400, "Unknown parameter: 'response_format'.", "unknown_parameter")
        if fields.get("n", "1") != "1":
            return _error(400, "This stand-in renders one image a request.", "invalid_value")
        size = fields.get("size", "1024x1024")
        try:
            width, height = (int(part) for part in size.split("x"))
        except ValueError:
            return _error(400, f"Invalid size '{size}'.", "invalid_value")
        if (width, height) not in model_sizes(model):
            supported = ", ".join(f"{w}x{h}" for w, h in model_sizes(model))
            message = f"Invalid value: '{size}'. Supported values are: {supported}."
            return _error(400, message, "invalid_value")
        if "[[openai:content_policy]]" in prompt:
            return _error(
                400,
                "Your request was rejected as a result of our safety system.",
                "content_policy_violation",
            )
        if "[[openai:rate_limit]]" in prompt:
            return _error(429, "Rate limit reached for images per minute.", "rate_limit_exceeded", "requests")
        if "[[openai:quota]]" in prompt:
            return _error(429, "You exceeded your current quota.", "insufficient_quota", "insufficient_quota")
        if "[[openai:server_error]]" in prompt:
            return _error(500, "The server had an error while processing your request.", None, "server_error")
        try:
            data = self._render(prompt, width, height, fields.get("quality") in ("high", "hd"), image)
        except ValueError as exc:  # an image that is not one (PermanentError is not a ValueError)
            return _error(400, f"Invalid image: {exc}", "invalid_image")
        item: dict[str, Any] = {"b64_json": base64.b64encode(data).decode("ascii")}
        if model == "dall-e-3":
            item["revised_prompt"] = prompt
        return json_response(200, {"created": int(time.time()), "data": [item]})

    @staticmethod
    def _render(prompt: str, width: int, height: int, premium: bool, image: bytes | None) -> bytes:
        from imagegen.errors import PermanentError
        from imagegen.providers import GenerationInput, SourceImage
        from imagegen.providers.fitting import fit_source
        from imagegen.providers.local import LocalProvider

        try:
            fitted = fit_source(image, width, height) if image is not None else None
        except PermanentError as exc:
            raise ValueError("the image cannot be read") from exc
        source = SourceImage(fitted, width, height) if fitted is not None else None
        request = GenerationInput(
            prompt, width, height, quality="premium" if premium else "standard", source=source, strength=0.5
        )
        return LocalProvider().render(request).data
