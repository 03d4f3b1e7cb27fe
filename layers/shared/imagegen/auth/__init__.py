"""Sign-in logic, free of any HTTP framework: Google OpenID Connect (PKCE, state, nonce, ID token
verification), session tokens with a logout denylist, and where the secrets come from."""

from imagegen.auth.admin import is_admin_email
from imagegen.auth.idtoken import JwksCache, KeySource, shared_jwks_cache, verify_id_token
from imagegen.auth.oauth import STATE_NAMESPACE, STATE_TTL_SECONDS, GoogleSignIn, VerifiedIdentity
from imagegen.auth.pkce import challenge_s256, new_verifier
from imagegen.auth.secrets import SecretConfigurationError, SecretsProvider
from imagegen.auth.sessions import REVOKED_NAMESPACE, SessionClaims, SessionTokens
from imagegen.auth.transport import HttpTransport, TransportError, UrllibTransport

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
