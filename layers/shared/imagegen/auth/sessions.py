"""Session tokens: short-lived HS256 JWTs issued by this API after a Google sign-in.

The key comes from a secret (see :mod:`imagegen.auth.secrets`) and the algorithm is pinned on both
sides, so a token with ``alg: none`` or any other algorithm is refused. Logout records the token's
``jti`` on the user's profile (see ``UserRepository.revoke_session``) until the token would have expired
anyway, so authentication reads one item: the profile, with roles as they are and the revoked sessions.

Roles are carried for the client's convenience only: the API re-reads the user on every request
(role changes take effect immediately, whatever the token says).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from imagegen.auth.secrets import MIN_SESSION_KEY_BYTES, SecretConfigurationError
from imagegen.errors import Unauthorized
from imagegen.models import User

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "imagegen"
AUDIENCE = "imagegen-api"
TOKEN_TYPE = "session"  # noqa: S105 - a claim value, not a secret
REQUIRED_CLAIMS = ("sub", "jti", "iat", "exp", "iss", "aud", "typ")
# Our own tokens are checked by our own clocks, so only a little slack for drift between containers.
LEEWAY_SECONDS = 5
# A session token is a few hundred bytes; anything far larger is not ours.
MAX_TOKEN_CHARS = 8 * 1024


def iso_from_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    roles: tuple[str, ...]
    jti: str
    expires_at: int
    """Expiry as seconds since the epoch (the token's ``exp``)."""

    @property
    def expires_at_iso(self) -> str:
        return iso_from_epoch(self.expires_at)


class SessionTokens:
    def __init__(self, signing_key: bytes, ttl: int, *, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(signing_key, bytes) or len(signing_key) < MIN_SESSION_KEY_BYTES:
            raise SecretConfigurationError(
                f"the session signing key must be at least {MIN_SESSION_KEY_BYTES} bytes"
            )
        if ttl <= 0:
            raise ValueError("session ttl must be positive")
        self._key = signing_key
        self.ttl = ttl
        self._clock = clock

    def issue(self, user: User) -> tuple[str, str, str]:
        """A new session token for ``user``: ``(token, expires_at_iso, jti)``."""
        now = int(self._clock())
        expires_at = now + self.ttl
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "sub": user.id,
            "roles": [str(r) for r in user.roles],
            "jti": jti,
            "iat": now,
            "exp": expires_at,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "typ": TOKEN_TYPE,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return token, iso_from_epoch(expires_at), jti

    def verify(self, token: str) -> SessionClaims:
        """The claims of a genuine, unexpired session token; :class:`Unauthorized` for anything else.
        Whether it was signed out is on the profile: see ``AccountService.authenticate``."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("The session token is missing or malformed.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={
                    "verify_signature": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "strict_aud": True,
                    "require": list(REQUIRED_CLAIMS),
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The session has expired; sign in again.") from exc
        except jwt.PyJWTError as exc:
            log.info("session token rejected: %s", type(exc).__name__)
            raise Unauthorized("The session token is not valid.") from exc
        return _to_session_claims(claims)


def _to_session_claims(claims: dict[str, Any]) -> SessionClaims:
    sub, jti, roles, typ = claims.get("sub"), claims.get("jti"), claims.get("roles", []), claims.get("typ")
    if typ != TOKEN_TYPE:
        raise Unauthorized("The token is not a session token.")
    if not isinstance(sub, str) or not sub or not isinstance(jti, str) or not jti:
        raise Unauthorized("The session token is not valid.")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("The session token is not valid.")
    return SessionClaims(user_id=sub, roles=tuple(roles), jti=jti, expires_at=int(claims["exp"]))
