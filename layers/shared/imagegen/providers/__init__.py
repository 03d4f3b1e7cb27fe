"""Image generation providers: one interface, chosen by name (``IMAGE_PROVIDER``).

Adding a provider is one class with a ``name`` and a ``generate`` method, plus one line in
``_PROVIDERS``. Provider modules are imported only when chosen, so importing this package costs
neither boto3 nor Pillow at cold start.

Failures are reported with the shared error types: :class:`~imagegen.errors.TransientError` for
anything worth retrying (throttling, timeouts, a provider outage) and
:class:`~imagegen.errors.PermanentError` (whose ``reason`` becomes the image's ``failureReason``)
for anything a retry will not fix (a rejected prompt, a misconfigured model).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

DEFAULT_PROVIDER = "local"

# name -> "module:Class"; the module is imported on first use.
_PROVIDERS: dict[str, str] = {
    "local": "imagegen.providers.local:LocalProvider",
    "bedrock": "imagegen.providers.bedrock:BedrockProvider",
}


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    content_type: str
    extension: str  # without the dot, e.g. "png"


@runtime_checkable
class ImageProvider(Protocol):
    name: str

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        """Exactly ``width`` x ``height`` pixels, or TransientError / PermanentError."""
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
