"""The Google sign-in flow end to end against an in-process Google: state, PKCE, code exchange."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

import pytest
from imagegen.auth import pkce
from imagegen.auth.idtoken import JwksCache
from imagegen.auth.oauth import STATE_NAMESPACE, STATE_TTL_SECONDS, GoogleSignIn, VerifiedIdentity
from imagegen.auth.transport import TransportError, UrllibTransport
from imagegen.errors import (
    EmailNotVerified,
    InvalidIdToken,
    InvalidState,
    ServiceUnavailable,
    ValidationError,
)
from imagegen.settings import Settings

from tests.fakes import FakeClock, FakeGoogle, InMemoryEphemeralStore

CLIENT_ID = "client-123.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-secret"
REDIRECT_URI = "https://api.example.com/auth/google/callback"


class StaticSecrets:
    def __init__(self, value: str = CLIENT_SECRET) -> None:
        self.value = value
        self.reads = 0

    def google_client_secret(self) -> str:
        self.reads += 1
        return self.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryEphemeralStore:
    return InMemoryEphemeralStore(clock=clock)


@pytest.fixture
def google() -> FakeGoogle:
    return FakeGoogle(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture
def settings(google: FakeGoogle) -> Settings:
    return Settings(
        google_client_id=CLIENT_ID,
        google_auth_url="https://google.test/auth",
        google_token_url=google.token_url,
        google_jwks_url=google.jwks_url,
    )


@pytest.fixture
def sign_in(settings: Settings, store: InMemoryEphemeralStore, google: FakeGoogle) -> GoogleSignIn:
    jwks = JwksCache(google.jwks_url, google)
    return GoogleSignIn(settings, store, StaticSecrets(), google, jwks=jwks)


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def begin(sign_in: GoogleSignIn, google: FakeGoogle, **claims: Any) -> tuple[str, str]:
    """Start a sign-in and let the user consent at Google: returns ``(code, state)``."""
    url = sign_in.start(REDIRECT_URI)
    return google.authorize(url, **claims), query(url)["state"]


# ---- start ------------------------------------------------------------------------------------


def test_start_builds_the_authorization_url(sign_in: GoogleSignIn) -> None:
    url = sign_in.start(REDIRECT_URI)
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://google.test/auth"
    params = query(url)
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert params["prompt"] == "select_account"
    assert len(params["state"]) >= 43
    assert len(params["nonce"]) >= 43
    assert len(params["code_challenge"]) == 43
    # Spaces are %20, as Google documents, not '+'.
    assert "scope=openid%20email%20profile" in url


def test_start_stores_the_pending_sign_in_under_the_state(
    sign_in: GoogleSignIn, store: InMemoryEphemeralStore, clock: FakeClock
) -> None:
    params = query(sign_in.start(REDIRECT_URI))
    pending = store.get(STATE_NAMESPACE, params["state"])
    assert pending is not None
    assert pending["nonce"] == params["nonce"]
    assert pending["redirect_uri"] == REDIRECT_URI
    assert isinstance(pending["verifier"], str)
    assert pkce.challenge_s256(pending["verifier"]) == params["code_challenge"]
    assert store.expires_at(STATE_NAMESPACE, params["state"]) == pytest.approx(clock.now + STATE_TTL_SECONDS)


def test_authorize_returns_the_state_it_put_in_the_url(
    sign_in: GoogleSignIn, store: InMemoryEphemeralStore
) -> None:
    started = sign_in.authorize(REDIRECT_URI)
    assert query(started.url)["state"] == started.state
    assert store.get(STATE_NAMESPACE, started.state) is not None


def test_every_start_gets_its_own_state_nonce_and_verifier(sign_in: GoogleSignIn) -> None:
    first, second = query(sign_in.start(REDIRECT_URI)), query(sign_in.start(REDIRECT_URI))
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name]


def test_start_keeps_an_existing_query_on_the_auth_url(
    settings: Settings, store: InMemoryEphemeralStore, google: FakeGoogle
) -> None:
    local = dataclasses.replace(settings, google_auth_url="http://127.0.0.1:3000/_local/google/authorize?x=1")
    url = GoogleSignIn(local, store, StaticSecrets(), google, jwks=JwksCache(google.jwks_url, google)).start(
        REDIRECT_URI
    )
    assert url.startswith("http://127.0.0.1:3000/_local/google/authorize?x=1&")
    assert query(url)["client_id"] == CLIENT_ID


@pytest.mark.parametrize(
    "bad", ["/auth/google/callback", "javascript:alert(1)", "https://api.example.com/cb#frag"]
)
def test_start_refuses_a_redirect_uri_that_is_not_an_absolute_url(sign_in: GoogleSignIn, bad: str) -> None:
    with pytest.raises(ValueError):
        sign_in.start(bad)


# ---- finish -----------------------------------------------------------------------------------


def test_finish_returns_the_verified_identity(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google, email="Ada@Example.com", locale="es-419")
    identity = sign_in.finish(code, state)
    assert identity == VerifiedIdentity(
        google_id="1234567890",
        email="ada@example.com",
        email_verified=True,
        first_name="Ada",
        last_name="Lovelace",
        locale="es-419",
    )


def test_finish_sends_the_form_google_expects(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google)
    sign_in.finish(code, state)
    [form] = google.token_calls
    assert form["code"] == code
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == CLIENT_SECRET
    assert form["redirect_uri"] == REDIRECT_URI
    assert form["grant_type"] == "authorization_code"
    assert pkce.is_valid_verifier(form["code_verifier"])


def test_pkce_challenge_in_the_url_is_s256_of_the_verifier_sent_to_the_token_endpoint(
    sign_in: GoogleSignIn, google: FakeGoogle
) -> None:
    url = sign_in.start(REDIRECT_URI)
    code = google.authorize(url)
    sign_in.finish(code, query(url)["state"])
    verifier = google.token_calls[0]["code_verifier"]
    assert pkce.challenge_s256(verifier) == query(url)["code_challenge"]


def test_replayed_state_is_refused_without_calling_the_token_endpoint(
    sign_in: GoogleSignIn, google: FakeGoogle
) -> None:
    code, state = begin(sign_in, google)
    sign_in.finish(code, state)
    assert len(google.token_calls) == 1
    with pytest.raises(InvalidState) as caught:
        sign_in.finish(code, state)
    assert caught.value.status == 400
    assert len(google.token_calls) == 1


def test_unknown_state_is_refused_without_calling_the_token_endpoint(
    sign_in: GoogleSignIn, google: FakeGoogle
) -> None:
    code, _ = begin(sign_in, google)
    with pytest.raises(InvalidState):
        sign_in.finish(code, "aW52ZW50ZWQtc3RhdGUtdGhhdC13YXMtbmV2ZXItaXNzdWVk")
    assert google.token_calls == []


def test_expired_state_is_refused_without_calling_the_token_endpoint(
    sign_in: GoogleSignIn, google: FakeGoogle, clock: FakeClock
) -> None:
    code, state = begin(sign_in, google)
    clock.advance(STATE_TTL_SECONDS + 1)
    with pytest.raises(InvalidState):
        sign_in.finish(code, state)
    assert google.token_calls == []


def test_state_just_before_expiry_still_works(
    sign_in: GoogleSignIn, google: FakeGoogle, clock: FakeClock
) -> None:
    code, state = begin(sign_in, google)
    clock.advance(STATE_TTL_SECONDS - 1)
    assert sign_in.finish(code, state).google_id == "1234567890"


@pytest.mark.parametrize("state", ["", "x" * 500, "has spaces", "a/b", "état"])
def test_malformed_state_is_refused_before_touching_the_store(
    sign_in: GoogleSignIn, store: InMemoryEphemeralStore, google: FakeGoogle, state: str
) -> None:
    with pytest.raises(InvalidState):
        sign_in.finish("some-code", state)
    assert [c for c in store.calls if c[0] == "take"] == []
    assert google.token_calls == []


def test_state_is_checked_before_the_code(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    with pytest.raises(InvalidState):
        sign_in.finish("", "never-issued-state-value")


def test_missing_code_with_a_valid_state_is_a_validation_error_and_uses_up_the_state(
    sign_in: GoogleSignIn, google: FakeGoogle
) -> None:
    code, state = begin(sign_in, google)
    with pytest.raises(ValidationError):
        sign_in.finish("", state)
    with pytest.raises(InvalidState):
        sign_in.finish(code, state)
    assert google.token_calls == []


def test_state_of_one_sign_in_cannot_finish_another(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code_a, _state_a = begin(sign_in, google)
    _code_b, state_b = begin(sign_in, google)
    # Google binds the code to A's PKCE challenge and redirect URI; B's verifier does not match.
    with pytest.raises(InvalidIdToken):
        sign_in.finish(code_a, state_b)


def test_id_token_with_another_sign_ins_nonce_is_refused(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google, nonce="nonce-of-some-other-sign-in")
    with pytest.raises(InvalidIdToken):
        sign_in.finish(code, state)


def test_unverified_email_is_email_not_verified(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google, email_verified=False)
    with pytest.raises(EmailNotVerified):
        sign_in.finish(code, state)


def test_id_token_for_another_client_is_refused(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google, aud="someone-else", azp="someone-else")
    with pytest.raises(InvalidIdToken):
        sign_in.finish(code, state)


# ---- token endpoint failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ((400, {"error": "invalid_grant"}), InvalidIdToken),
        ((401, {"error": "invalid_client"}), InvalidIdToken),
        ((400, None), InvalidIdToken),
        ((200, {"access_token": "x"}), InvalidIdToken),
        ((200, {"id_token": ""}), InvalidIdToken),
        ((200, ["not", "an", "object"]), InvalidIdToken),
        ((200, {"id_token": "not.a.jwt"}), InvalidIdToken),
        ((500, {"error": "internal_failure"}), ServiceUnavailable),
        ((503, None), ServiceUnavailable),
        ((429, {"error": "rate_limited"}), ServiceUnavailable),
    ],
)
def test_token_endpoint_answers(
    sign_in: GoogleSignIn, google: FakeGoogle, response: tuple[int, Any], expected: type[Exception]
) -> None:
    code, state = begin(sign_in, google)
    google.token_response = response
    with pytest.raises(expected):
        sign_in.finish(code, state)
    assert len(google.token_calls) == 1


def test_unreachable_token_endpoint_is_service_unavailable(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google)
    google.token_error = TransportError("timed out")
    with pytest.raises(ServiceUnavailable):
        sign_in.finish(code, state)


def test_a_failed_exchange_still_uses_up_the_state(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google)
    google.token_response = (500, None)
    with pytest.raises(ServiceUnavailable):
        sign_in.finish(code, state)
    google.token_response = None
    with pytest.raises(InvalidState):
        sign_in.finish(code, state)
    assert len(google.token_calls) == 1


def test_wrong_client_secret_is_refused_by_google(
    settings: Settings, store: InMemoryEphemeralStore, google: FakeGoogle
) -> None:
    sign_in = GoogleSignIn(
        settings, store, StaticSecrets("wrong"), google, jwks=JwksCache(google.jwks_url, google)
    )
    code, state = begin(sign_in, google)
    with pytest.raises(InvalidIdToken):
        sign_in.finish(code, state)


def test_secrets_are_not_logged(
    sign_in: GoogleSignIn, google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    code, state = begin(sign_in, google)
    google.token_response = (400, {"error": "invalid_grant"})
    with pytest.raises(InvalidIdToken):
        sign_in.finish(code, state)
    code2, state2 = begin(sign_in, google)
    google.token_response = None
    sign_in.finish(code2, state2)
    for secret in (code, code2, state, state2, CLIENT_SECRET, google.token_calls[-1]["code_verifier"]):
        assert secret not in caplog.text


# ---- identity mapping and wiring ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "language"),
    [("es", "es"), ("es-419", "es"), ("ES_es", "es"), ("en-GB", "en"), ("fr", "en"), ("", "en")],
)
def test_profile_language_comes_from_the_locale(locale: str, language: str) -> None:
    identity = VerifiedIdentity("g1", "a@example.com", True, "A", "B", locale)
    assert identity.to_profile().language == language


def test_profile_names_fit_the_model(sign_in: GoogleSignIn, google: FakeGoogle) -> None:
    code, state = begin(sign_in, google, given_name="A" * 300, family_name="Lo\x00ve\x1flace")
    profile = sign_in.finish(code, state).to_profile()
    assert profile.first_name == "A" * 100
    assert profile.last_name == "Lovelace"
    assert profile.google_id == "1234567890"


def test_default_transport_is_urllib_and_nothing_is_fetched_at_construction(
    settings: Settings, store: InMemoryEphemeralStore
) -> None:
    sign_in = GoogleSignIn(settings, store, StaticSecrets())
    assert isinstance(sign_in._transport, UrllibTransport)
    assert store.calls == []
