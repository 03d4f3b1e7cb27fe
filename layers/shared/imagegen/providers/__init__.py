"""Image generation providers: one interface, chosen by name (``IMAGE_PROVIDER``).

Adding a provider is one class with a ``name``, a ``model``, its ``capabilities()`` (what options it
honours: :mod:`imagegen.providers.capabilities`) and a ``render`` method taking a
:class:`GenerationInput` (the prompt, the options and, for a variation, the source image), plus one
line in ``_PROVIDERS``. Provider modules are imported only when chosen, so importing this package costs
neither boto3 nor Pillow at cold start. The capabilities are plain data, importable without the
provider, so the HTTP functions refuse an unsupported option (``422``) before anything is charged.

Failures are reported with the shared error types: :class:`~imagegen.errors.TransientError` for
anything worth retrying (throttling, timeouts, a provider outage) and
:class:`~imagegen.errors.PermanentError` (whose ``reason`` becomes the image's ``failureReason``)
for anything a retry will not fix (a rejected prompt, a misconfigured model).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from imagegen.providers.capabilities import Capabilities

DEFAULT_PROVIDER = "local"

# name -> "module:Class"; the module is imported on first use.
_PROVIDERS: dict[str, str] = {
    "local": "imagegen.providers.local:LocalProvider",
    "bedrock": "imagegen.providers.bedrock:BedrockProvider",
    "openai": "imagegen.providers.openai:OpenAIProvider",
}


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    content_type: str
    extension: str  # without the dot, e.g. "png"


@dataclass(frozen=True)
class SourceImage:
    """The image a variation starts from, already fitted to the output size and PNG-encoded."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class GenerationInput:
    """One rendering: what the user asked for, with the options the capabilities allowed.

    ``seed`` None lets the provider choose (only images made before seeds were recorded have none);
    ``source`` and ``strength`` (0.1..0.9, how far from the source) make it a variation."""

    prompt: str
    width: int
    height: int
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    quality: str = "standard"
    source: SourceImage | None = None
    strength: float | None = None

    @property
    def is_variation(self) -> bool:
        return self.source is not None


@runtime_checkable
class ImageProvider(Protocol):
    name: str

    @property
    def model(self) -> str:
        """The model this instance renders with (recorded on every image it makes)."""
        ...

    def capabilities(self) -> Capabilities:
        """What this provider and model support: styles, negative prompt, seed, quality, variations."""
        ...

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        """Exactly ``width`` x ``height`` pixels, or TransientError / PermanentError."""
        ...

    def render(self, request: GenerationInput) -> GeneratedImage:
        """Exactly ``request.width`` x ``request.height`` pixels with the request's options, or
        TransientError (ProviderThrottled for the provider's rate refusals) / PermanentError
        (``content_filtered`` for a refusal on content grounds)."""
        ...


def provider_names() -> list[str]:
    return sorted(_PROVIDERS)


def get_provider(name: str = DEFAULT_PROVIDER) -> ImageProvider:
    """A new provider instance for ``name`` (case-insensitive; empty means the default)."""
    key = name.strip().lower() or DEFAULT_PROVIDER
    target = _PROVIDERS.get(key)
    if target is None:
        raise ValueError(f"unknown image provider {name!r}; known: {', '.join(provider_names())}")
    module_name, _, class_name = target.partition(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    provider: ImageProvider = provider_class()
    return provider
