"""The process-wide wiring of adapters: one of each, created on first use and reused while warm.

Handlers ask :func:`get_context` for what they need; tests call :func:`reset_context` after changing
the environment. Every attribute is lazy so a function imports and builds only what it uses.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import TYPE_CHECKING

from imagegen.settings import Settings, get_settings

if TYPE_CHECKING:
    from imagegen.auth.oauth import GoogleSignIn
    from imagegen.auth.secrets import SecretsProvider
    from imagegen.auth.sessions import SessionTokens
    from imagegen.persistence import Repositories
    from imagegen.providers import ImageProvider
    from imagegen.queues import Publisher
    from imagegen.storage import StorageService


class AppContext:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def secrets(self) -> SecretsProvider:
        from imagegen.auth.secrets import SecretsProvider

        return SecretsProvider(self.settings)

    @cached_property
    def signing_key(self) -> bytes:
        return self.secrets.session_signing_key()

    @cached_property
    def repos(self) -> Repositories:
        from imagegen.persistence import build_repositories

        # Cursors are signed with a key derived from the session key, never the key itself.
        cursor_key = hashlib.sha256(b"imagegen-cursor\x00" + self.signing_key).digest()
        return build_repositories(self.settings.table_name, cursor_key)

    @cached_property
    def storage(self) -> StorageService:
        from imagegen.storage import StorageService

        return StorageService(self.settings)

    @cached_property
    def publisher(self) -> Publisher:
        from imagegen.queues import SqsPublisher

        return SqsPublisher()

    @cached_property
    def sessions(self) -> SessionTokens:
        from imagegen.auth.sessions import SessionTokens

        return SessionTokens(self.signing_key, self.settings.session_ttl)

    @cached_property
    def google(self) -> GoogleSignIn:
        from imagegen.auth.oauth import GoogleSignIn

        return GoogleSignIn(self.settings, self.repos.ephemeral, self.secrets)

    @cached_property
    def provider(self) -> ImageProvider:
        from imagegen.providers import get_provider

        return get_provider(self.settings.image_provider)


_context: AppContext | None = None


def get_context() -> AppContext:
    global _context  # noqa: PLW0603 - one context per warm process is the point
    if _context is None:
        _context = AppContext()
    return _context


def reset_context() -> None:
    """Forget settings, clients and adapters (tests and the local stack change the environment)."""
    global _context  # noqa: PLW0603
    from imagegen import aws
    from imagegen.settings import reset_settings

    reset_settings()
    aws.reset_clients()
    _context = None
