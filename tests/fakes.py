"""Small hand-written fakes for unit tests: an in-memory EphemeralStore and an in-process Google.

They implement the same contracts as the real adapters (the DynamoDB store, Google's token and JWKS
endpoints), so a test that passes here exercises the real logic, not a mock's script.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from imagegen.auth.transport import TransportError
from jwt.algorithms import RSAAlgorithm


class FakeClock:
    """A settable wall clock (seconds since the epoch)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InMemoryEphemeralStore:
    """The EphemeralStore port in memory. Like the DynamoDB adapter it stores copies (a caller's later
    mutation never leaks in), and treats an item past its expiry as absent even before it is purged."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._items: dict[tuple[str, str], tuple[dict[str, object], float]] = {}
        self.calls: list[tuple[str, str, str]] = []

    def _live(self, namespace: str, key: str) -> dict[str, object] | None:
        found = self._items.get((namespace, key))
        if found is None:
            return None
        value, expires_at = found
        if expires_at <= self._clock():
            del self._items[(namespace, key)]
            return None
        return value

    def put_new(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: int) -> bool:
        self.calls.append(("put_new", namespace, key))
        if self._live(namespace, key) is not None:
            return False
        self._items[(namespace, key)] = (copy.deepcopy(value), self._clock() + ttl_seconds)
        return True

    def take(self, namespace: str, key: str) -> dict[str, object] | None:
        self.calls.append(("take", namespace, key))
        value = self._live(namespace, key)
        if value is None:
            return None
        del self._items[(namespace, key)]
        return copy.deepcopy(value)

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        self.calls.append(("get", namespace, key))
        value = self._live(namespace, key)
        return None if value is None else copy.deepcopy(value)

    def hit(self, namespace: str, key: str, limit: int, ttl_seconds: int) -> int | None:
        """Count one more hit in a fixed window; the new count, or None once ``limit`` is reached.
        The window's expiry is set by its first hit only."""
        self.calls.append(("hit", namespace, key))
        current = self._live(namespace, key)
        count = current.get("count", 0) if current is not None else 0
        assert isinstance(count, int)
        if count >= limit:
            return None
        expires_at = self._items[(namespace, key)][1] if current is not None else self._clock() + ttl_seconds
        self._items[(namespace, key)] = ({"count": count + 1}, expires_at)
        return count + 1

    def expires_at(self, namespace: str, key: str) -> float | None:
        """Test helper: when a live item expires."""
        if self._live(namespace, key) is None:
            return None
        return self._items[(namespace, key)][1]

    def keys(self, namespace: str) -> list[str]:
        return [k for (ns, k) in list(self._items) if ns == namespace and self._live(ns, k) is not None]


# ---- RSA keys and ID tokens ----------------------------------------------------------------------


@dataclass(frozen=True)
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: Mapping[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(dict(claims), self.private_key, algorithm="RS256", headers={"kid": kid or self.kid})


@cache
def _generated_key(name: str) -> rsa.RSAPrivateKey:
    # Generating 2048-bit keys is the slow part of these tests; one per name (the cache key) per run.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_key(kid: str, *, variant: str = "") -> RsaKey:
    """An RSA key named ``kid``; a different ``variant`` gives a different key with the same kid."""
    return RsaKey(kid=kid, private_key=_generated_key(f"{kid}/{variant}"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_token(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand, for forgeries PyJWT refuses to produce."""
    head = b64url(json.dumps(dict(header)).encode())
    body = b64url(json.dumps(dict(claims)).encode())
    return f"{head}.{body}.{b64url(signature)}"


def hmac_token(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """An HS256 token signed with an arbitrary secret (e.g. a public key's PEM: the alg-confusion attack)."""
    head = b64url(json.dumps(dict(header)).encode())
    body = b64url(json.dumps(dict(claims)).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


# ---- Google -----------------------------------------------------------------------------------


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as a claim override to leave that claim out of the token."""


@dataclass
class _Grant:
    redirect_uri: str
    code_challenge: str
    nonce: str
    claims: dict[str, Any]


@dataclass
class FakeGoogle:
    """Google's token endpoint and JWKS, served in-process through the HttpTransport protocol.

    ``authorize(url)`` plays the browser at Google's consent screen and returns a code bound to the
    request's redirect URI, PKCE challenge and nonce; ``post_form`` checks the code exchange as Google
    does (single-use code, client credentials, redirect URI, S256 verifier) and mints the ID token.
    """

    client_id: str
    client_secret: str
    token_url: str = "https://google.test/token"
    jwks_url: str = "https://google.test/certs"
    issuer: str = "https://accounts.google.com"
    signing_key: RsaKey = field(default_factory=lambda: rsa_key("google-1"))
    published: list[RsaKey] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    token_calls: list[dict[str, str]] = field(default_factory=list)
    jwks_calls: int = 0
    # Fault injection: a canned token-endpoint answer, or an exception from either endpoint.
    token_response: tuple[int, Any] | None = None
    token_error: Exception | None = None
    jwks_error: Exception | None = None
    _grants: dict[str, _Grant] = field(default_factory=dict)
    last_verifier: str | None = None

    def __post_init__(self) -> None:
        if not self.published:
            self.published = [self.signing_key]

    # -- the browser's side --------------------------------------------------------------------
    def authorize(self, authorization_url: str, **claims: Any) -> str:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorization_url).query))
        assert params["client_id"] == self.client_id
        assert params["response_type"] == "code"
        assert params["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params["nonce"],
            claims=dict(claims),
        )
        return code

    def id_token_claims(self, nonce: str, /, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": "1234567890",
            "email": "ada@example.com",
            "email_verified": True,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "locale": "en",
            "nonce": nonce,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not OMIT}

    # -- HttpTransport --------------------------------------------------------------------------
    def post_form(self, url: str, data: Mapping[str, str]) -> tuple[int, Any]:
        assert url == self.token_url, f"unexpected POST to {url}"
        self.token_calls.append(dict(data))
        if self.token_error is not None:
            raise self.token_error
        if self.token_response is not None:
            return self.token_response
        if data.get("client_id") != self.client_id or data.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        if data.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        grant = self._grants.pop(data.get("code", ""), None)  # codes are single use
        if grant is None or grant.redirect_uri != data.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        verifier = data.get("code_verifier", "")
        self.last_verifier = verifier
        challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        if not hmac.compare_digest(challenge, grant.code_challenge):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        id_token = self.signing_key.sign(self.id_token_claims(grant.nonce, **grant.claims))
        return 200, {
            "access_token": "ya29.fake",
            "id_token": id_token,
            "expires_in": 3599,
            "token_type": "Bearer",
        }

    def get_json(self, url: str) -> Any:
        assert url == self.jwks_url, f"unexpected GET of {url}"
        self.jwks_calls += 1
        if self.jwks_error is not None:
            raise self.jwks_error
        return {"keys": [k.public_jwk() for k in self.published]}


__all__ = [
    "OMIT",
    "FakeClock",
    "FakeGoogle",
    "InMemoryEphemeralStore",
    "RsaKey",
    "TransportError",
    "hmac_token",
    "rsa_key",
    "unsigned_token",
]
