"""Sign-in with Google: the OpenID Connect authorization-code flow with PKCE, state and nonce.

``start`` (``authorize``) creates a single-use state (600 s) holding the nonce, the PKCE verifier and
the redirect URI, and returns Google's authorization URL (and the state, which the caller binds to the
browser: ``imagegen.auth.binding``). ``finish`` consumes that state *before* anything else,
so an unknown, expired or replayed state never reaches the token endpoint; then it exchanges the code
and verifies the ID token.

Token endpoint failures are split by whose fault they are:

- the endpoint answered 4xx (typically ``invalid_grant``: a code that is expired, already used, or
  does not match the PKCE verifier or redirect URI), or 200 without a usable ``id_token``:
  :class:`InvalidIdToken` (401). Retrying the same code can never succeed.
- the endpoint answered 5xx or 429, timed out, or could not be reached: :class:`ServiceUnavailable`
  (503). Google is having a moment; starting the sign-in again later will work.

Neither the code, the tokens nor the client secret are ever logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from imagegen.auth import pkce
from imagegen.auth.idtoken import (
    DEFAULT_LEEWAY_SECONDS,
    KeySource,
    is_email_verified,
    shared_jwks_cache,
    verify_id_token,
)
from imagegen.auth.transport import HttpTransport, TransportError, UrllibTransport
from imagegen.errors import InvalidIdToken, InvalidState, ServiceUnavailable, ValidationError
from imagegen.models import DEFAULT_LANGUAGE, NAME_MAX, SUPPORTED_LANGUAGES
from imagegen.ports import EphemeralStore, GoogleProfile
from imagegen.settings import Settings

log = logging.getLogger(__name__)

STATE_NAMESPACE = "oauth_state"
STATE_TTL_SECONDS = 600
SCOPE = "openid email profile"
# token_urlsafe(32) is 43 characters; bounds keep junk input away from the store.
MAX_STATE_CHARS = 128
MAX_CODE_CHARS = 4096
_STATE_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_transport_singleton: UrllibTransport | None = None


def _default_transport() -> UrllibTransport:
    # One object per process, so the shared JWKS cache (keyed on the transport) survives across
    # invocations even when a GoogleSignIn is built per request.
    global _transport_singleton  # noqa: PLW0603
    if _transport_singleton is None:
        _transport_singleton = UrllibTransport()
    return _transport_singleton


class ClientSecretSource(Protocol):
    def google_client_secret(self) -> str: ...


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who Google says signed in, taken from a verified ID token."""

    google_id: str
    email: str
    email_verified: bool
    first_name: str
    last_name: str
    locale: str

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> VerifiedIdentity:
        return cls(
            google_id=str(claims["sub"]),
            email=str(claims["email"]).strip().lower(),
            email_verified=is_email_verified(claims),
            first_name=_text_claim(claims, "given_name"),
            last_name=_text_claim(claims, "family_name"),
            locale=_text_claim(claims, "locale"),
        )

    def to_profile(self) -> GoogleProfile:
        """The repository's view: names fitted to the model's limits, locale reduced to a language we
        support (``es-419`` -> ``es``; anything unknown -> the default), so a long or odd Google
        profile can never make sign-in fail validation."""
        primary = self.locale.replace("_", "-").split("-", 1)[0].lower()
        return GoogleProfile(
            google_id=self.google_id,
            email=self.email,
            first_name=self.first_name[:NAME_MAX].strip(),
            last_name=self.last_name[:NAME_MAX].strip(),
            language=primary if primary in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE,
        )


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value).strip()


@dataclass(frozen=True)
class Authorization:
    """A started sign-in: where to send the browser, and the state that names the flow."""

    url: str
    state: str


@dataclass(frozen=True)
class _PendingSignIn:
    nonce: str
    verifier: str
    redirect_uri: str


class GoogleSignIn:
    def __init__(
        self,
        settings: Settings,
        store: EphemeralStore,
        secrets_provider: ClientSecretSource,
        transport: HttpTransport | None = None,
        *,
        jwks: KeySource | None = None,
        leeway: int = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        self._settings = settings
        self._store = store
        self._secrets = secrets_provider
        self._transport = transport if transport is not None else _default_transport()
        self._jwks = (
            jwks if jwks is not None else shared_jwks_cache(settings.google_jwks_url, self._transport)
        )
        self._leeway = leeway

    def start(self, redirect_uri: str) -> str:
        """Record a new pending sign-in and return the URL to send the browser to."""
        return self.authorize(redirect_uri).url

    def authorize(self, redirect_uri: str) -> Authorization:
        """Record a new pending sign-in: the URL to send the browser to, and its state."""
        _check_redirect_uri(redirect_uri)
        nonce = secrets.token_urlsafe(32)
        verifier = pkce.new_verifier()
        pending = {"nonce": nonce, "verifier": verifier, "redirect_uri": redirect_uri}
        # 256 random bits never collide in practice; put_new still guarantees one state, one sign-in.
        for _ in range(3):
            state = secrets.token_urlsafe(32)
            if self._store.put_new(STATE_NAMESPACE, state, dict(pending), STATE_TTL_SECONDS):
                break
        else:
            raise ServiceUnavailable("Could not start the sign-in; try again.")
        query = urllib.parse.urlencode(
            {
                "client_id": self._settings.google_client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce.challenge_s256(verifier),
                "code_challenge_method": "S256",
                "prompt": "select_account",
            },
            quote_via=urllib.parse.quote,
        )
        base = self._settings.google_auth_url
        return Authorization(url=f"{base}{'&' if '?' in base else '?'}{query}", state=state)

    def finish(self, code: str, state: str) -> VerifiedIdentity:
        """Complete the sign-in that ``state`` started: raises :class:`InvalidState` (400),
        :class:`InvalidIdToken` (401), :class:`EmailNotVerified` (403) or :class:`ServiceUnavailable`."""
        pending = self._consume_state(state)
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_CHARS:
            raise ValidationError.single("code", "must be the authorization code Google returned")
        id_token = self._exchange_code(code, pending)
        claims = verify_id_token(
            id_token,
            audience=self._settings.google_client_id,
            issuers=self._settings.google_issuers,
            nonce=pending.nonce,
            jwks=self._jwks,
            leeway=self._leeway,
        )
        return VerifiedIdentity.from_claims(claims)

    def _consume_state(self, state: str) -> _PendingSignIn:
        if (
            not isinstance(state, str)
            or not state
            or len(state) > MAX_STATE_CHARS
            or not _STATE_CHARS.fullmatch(state)
        ):
            raise InvalidState()
        # take() deletes as it reads: of two concurrent callbacks with one state, only one gets it.
        item = self._store.take(STATE_NAMESPACE, state)
        if item is None:
            raise InvalidState()
        nonce, verifier, redirect_uri = item.get("nonce"), item.get("verifier"), item.get("redirect_uri")
        if not (isinstance(nonce, str) and isinstance(verifier, str) and isinstance(redirect_uri, str)):
            raise InvalidState()
        return _PendingSignIn(nonce=nonce, verifier=verifier, redirect_uri=redirect_uri)

    def _exchange_code(self, code: str, pending: _PendingSignIn) -> str:
        form = {
            "code": code,
            "client_id": self._settings.google_client_id,
            "client_secret": self._secrets.google_client_secret(),
            "redirect_uri": pending.redirect_uri,
            "grant_type": "authorization_code",
            "code_verifier": pending.verifier,
        }
        try:
            status, body = self._transport.post_form(self._settings.google_token_url, form)
        except TransportError as exc:
            log.warning("token endpoint unreachable: %s", exc)
            raise ServiceUnavailable("Google did not answer; try signing in again.") from exc
        if status >= 500 or status == 429:
            log.warning("token endpoint answered %s", status)
            raise ServiceUnavailable("Google did not answer; try signing in again.")
        if status != 200:
            # Google's ``error`` is a fixed vocabulary (invalid_grant, invalid_client, ...), safe to log.
            error = body.get("error") if isinstance(body, dict) else None
            log.info(
                "token endpoint refused the code: status=%s error=%s",
                status,
                error[:64] if isinstance(error, str) else None,
            )
            raise InvalidIdToken("Google refused the authorization code; sign in again.")
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise InvalidIdToken("Google's answer carried no identity token.")
        return id_token


def _check_redirect_uri(redirect_uri: str) -> None:
    # The redirect URI is chosen by the API, not the client; this only catches a misconfiguration
    # early instead of at Google's error page.
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ValueError("redirect_uri must be an absolute http(s) URL without a fragment")
