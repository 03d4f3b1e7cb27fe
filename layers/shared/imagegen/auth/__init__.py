"""Sign-in logic, free of any HTTP framework: Google OpenID Connect (PKCE, state, nonce, ID token
verification), session tokens with a logout denylist, and where the secrets come from.

The names below are loaded from their submodule on first access (PEP 562), so importing one part
(say ``imagegen.auth.pkce``) does not import PyJWT, ``cryptography`` and the Google sign-in with it:
the auth function's cold start pays for those only when a sign-in callback needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagegen.auth.admin import is_admin_email
    from imagegen.auth.idtoken import JwksCache, KeySource, shared_jwks_cache, verify_id_token
    from imagegen.auth.oauth import STATE_NAMESPACE, STATE_TTL_SECONDS, GoogleSignIn, VerifiedIdentity
    from imagegen.auth.pkce import challenge_s256, new_verifier
    from imagegen.auth.secrets import SecretConfigurationError, SecretsProvider
    from imagegen.auth.sessions import REVOKED_NAMESPACE, SessionClaims, SessionTokens
    from imagegen.auth.transport import HttpTransport, TransportError, UrllibTransport

_SUBMODULE_OF = {
    "is_admin_email": "admin",
    "JwksCache": "idtoken",
    "KeySource": "idtoken",
    "shared_jwks_cache": "idtoken",
    "verify_id_token": "idtoken",
    "STATE_NAMESPACE": "oauth",
    "STATE_TTL_SECONDS": "oauth",
    "GoogleSignIn": "oauth",
    "VerifiedIdentity": "oauth",
    "challenge_s256": "pkce",
    "new_verifier": "pkce",
    "SecretConfigurationError": "secrets",
    "SecretsProvider": "secrets",
    "REVOKED_NAMESPACE": "sessions",
    "SessionClaims": "sessions",
    "SessionTokens": "sessions",
    "HttpTransport": "transport",
    "TransportError": "transport",
    "UrllibTransport": "transport",
}

__all__ = [
    "REVOKED_NAMESPACE",
    "STATE_NAMESPACE",
    "STATE_TTL_SECONDS",
    "GoogleSignIn",
    "HttpTransport",
    "JwksCache",
    "KeySource",
    "SecretConfigurationError",
    "SecretsProvider",
    "SessionClaims",
    "SessionTokens",
    "TransportError",
    "UrllibTransport",
    "VerifiedIdentity",
    "challenge_s256",
    "is_admin_email",
    "new_verifier",
    "shared_jwks_cache",
    "verify_id_token",
]


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
