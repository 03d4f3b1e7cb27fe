"""Verification of Google ID tokens (OpenID Connect Core 3.1.3.7) with PyJWT.

Order matters: the token is first proven genuine (signature, issuer, audience, lifetime, nonce) and
only then is ``email_verified`` looked at, so an attacker cannot learn anything from the 403 path with
a forged token. Every failure up to that point is :class:`InvalidIdToken` (401).

The algorithm is pinned to RS256 and keys come only from the JWKS, so ``alg: none`` and the classic
"HS256 signed with the public key as HMAC secret" confusion are refused by PyJWT before any claim is read.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from imagegen.auth.transport import HttpTransport, TransportError
from imagegen.errors import EmailNotVerified, InvalidIdToken, ServiceUnavailable

log = logging.getLogger(__name__)

ALGORITHMS: tuple[str, ...] = ("RS256",)
DEFAULT_LEEWAY_SECONDS = 60
# A Google ID token is about 1 KiB; refusing huge input keeps base64/JSON parsing cheap.
MAX_TOKEN_CHARS = 16 * 1024
MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat")


class KeySource(Protocol):
    """Resolves a JWS ``kid`` to the public key that must have signed it."""

    def key_for(self, kid: str) -> RSAPublicKey: ...


class JwksCache:
    """Google's signing keys, kept in memory across invocations of a warm container.

    - ``max_age``: keys older than this are fetched again before use.
    - ``min_refresh_interval``: an unknown ``kid`` triggers a refetch (Google rotates keys), but at
      most once per interval, so a stream of tokens with made-up ``kid`` values cannot turn this
      function into an amplifier against the JWKS endpoint.
    - ``stale_if_error``: if a refetch fails, keys that expired less than this long ago are still
      used, so a short outage of the JWKS endpoint does not stop every sign-in.
    """

    def __init__(
        self,
        url: str,
        transport: HttpTransport,
        *,
        max_age: float = 3600.0,
        min_refresh_interval: float = 60.0,
        stale_if_error: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.transport = transport
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self.stale_if_error = stale_if_error
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        # The local stack serves requests on threads; Lambda never needs it, and it is uncontended there.
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> RSAPublicKey:
        with self._lock:
            now = self._clock()
            if self._keys is None or (now - self._fetched_at >= self.max_age and self._may_fetch(now)):
                self._refresh(now)
            keys = self._usable_keys(now)
            key = keys.get(kid)
            if key is None and self._may_fetch(now):
                self._refresh(now)
                key = self._usable_keys(now).get(kid)
        if key is None:
            raise InvalidIdToken("The identity token was not signed by a current Google key.")
        return key

    def _may_fetch(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= self.min_refresh_interval

    def _usable_keys(self, now: float) -> dict[str, RSAPublicKey]:
        if self._keys is None:
            return {}
        if now - self._fetched_at >= self.max_age + self.stale_if_error:
            raise ServiceUnavailable("Sign-in is temporarily unavailable.")
        return self._keys

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        try:
            document = self.transport.get_json(self.url)
            keys = parse_jwks(document)
        except (TransportError, ValueError) as exc:
            if self._keys is not None:
                log.warning("JWKS refresh failed, keeping the cached keys: %s", exc)
                return
            log.error("JWKS fetch failed: %s", exc)
            raise ServiceUnavailable("Sign-in is temporarily unavailable.") from exc
        self._keys = keys
        self._fetched_at = now


def parse_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """RSA signing keys of a JWKS document by ``kid``. Keys we would never accept (other types,
    encryption keys, other algorithms, short moduli) are left out rather than failing the whole set."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS document is an object with a 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if (
            not isinstance(kid, str)
            or not kid
            or entry.get("kty") != "RSA"
            or entry.get("use", "sig") != "sig"
            or entry.get("alg", "RS256") not in ALGORITHMS
        ):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    return keys


# One cache per JWKS URL for the life of the process (a warm Lambda container keeps it).
_shared_caches: dict[str, JwksCache] = {}
_shared_lock = threading.Lock()


def shared_jwks_cache(url: str, transport: HttpTransport) -> JwksCache:
    """The process-wide cache for ``url``. A different transport object gets a fresh cache, so a test
    or a reconfigured stack never sees keys fetched through another one."""
    with _shared_lock:
        cache = _shared_caches.get(url)
        if cache is None or cache.transport is not transport:
            cache = JwksCache(url, transport)
            _shared_caches[url] = cache
        return cache


def _invalid_detail(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The identity token has expired."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "The identity token was issued to another client."
    if isinstance(exc, jwt.InvalidIssuerError):
        return "The identity token was not issued by Google."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The identity token has no '{exc.claim}' claim."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The identity token is not valid yet."
    return "The identity token could not be verified."


def verify_id_token(
    token: str,
    *,
    audience: str,
    issuers: Collection[str],
    nonce: str,
    jwks: KeySource,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Return the claims of a genuine ID token issued to ``audience`` for this sign-in (``nonce``)
    whose email Google has verified. Raises :class:`InvalidIdToken` or :class:`EmailNotVerified`."""
    if not audience or not issuers or not nonce:
        # A caller bug, not a client error: without these the checks would pass vacuously.
        raise ValueError("audience, issuers and nonce are all required")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise InvalidIdToken("The identity token is missing or malformed.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidIdToken("The identity token is malformed.") from exc
    # Checked before the key lookup so a token that could never pass does not trigger a JWKS refresh.
    if header.get("alg") not in ALGORITHMS:
        raise InvalidIdToken("The identity token uses an unexpected signature algorithm.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidIdToken("The identity token names no signing key.")
    key = jwks.key_for(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=list(ALGORITHMS),
            audience=audience,
            issuer=frozenset(issuers),
            leeway=leeway,
            options={
                "verify_signature": True,
                "verify_aud": True,
                "verify_iss": True,
                "verify_exp": True,
                "verify_iat": True,
                "verify_nbf": True,
                "require": list(REQUIRED_CLAIMS),
            },
        )
    except jwt.PyJWTError as exc:
        log.info("ID token rejected: %s", type(exc).__name__)
        raise InvalidIdToken(_invalid_detail(exc)) from exc

    _check_authorized_party(claims, audience)
    _check_nonce(claims, nonce)
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise InvalidIdToken("The identity token has no usable subject.")
    # Only now, with the token proven genuine and meant for this sign-in, is the email looked at.
    if not isinstance(claims.get("email"), str) or not claims["email"] or not is_email_verified(claims):
        raise EmailNotVerified()
    return claims


def _check_authorized_party(claims: dict[str, Any], audience: str) -> None:
    # OIDC Core 3.1.3.7 (4) and (5): with several audiences an azp must be present, and whenever an
    # azp is present it must be this client.
    aud = claims.get("aud")
    azp = claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is None:
        raise InvalidIdToken("The identity token has several audiences and no authorized party.")
    if azp is not None and azp != audience:
        raise InvalidIdToken("The identity token was issued to another client.")


def _check_nonce(claims: dict[str, Any], expected: str) -> None:
    got = claims.get("nonce")
    # Constant-time: the comparison must not reveal how much of a guessed nonce was right.
    if not isinstance(got, str) or not hmac.compare_digest(got.encode("utf-8"), expected.encode("utf-8")):
        raise InvalidIdToken("The identity token does not belong to this sign-in.")


def is_email_verified(claims: dict[str, Any]) -> bool:
    """Google sends a JSON boolean; some older tokens carried the string ``"true"``."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")
