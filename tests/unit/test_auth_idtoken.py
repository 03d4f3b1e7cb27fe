"""ID token verification: every check of OIDC Core 3.1.3.7 that we rely on, and the classic forgeries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from imagegen.auth.idtoken import JwksCache, parse_jwks, shared_jwks_cache, verify_id_token
from imagegen.auth.transport import TransportError
from imagegen.errors import EmailNotVerified, InvalidIdToken, ServiceUnavailable

from tests.fakes import OMIT, FakeClock, FakeGoogle, hmac_token, rsa_key, unsigned_token

CLIENT_ID = "client-123.apps.googleusercontent.com"
ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture
def google() -> FakeGoogle:
    return FakeGoogle(client_id=CLIENT_ID, client_secret="s3cret")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1000.0)


@pytest.fixture
def jwks(google: FakeGoogle, clock: FakeClock) -> JwksCache:
    return JwksCache(google.jwks_url, google, max_age=3600, min_refresh_interval=60, clock=clock)


def verify(token: str, jwks: JwksCache, **kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"audience": CLIENT_ID, "issuers": ISSUERS, "nonce": NONCE, "jwks": jwks}
    args.update(kwargs)
    return verify_id_token(token, **args)


def token(google: FakeGoogle, **overrides: Any) -> str:
    return google.signing_key.sign(google.id_token_claims(NONCE, **overrides))


def test_valid_token_returns_its_claims(google: FakeGoogle, jwks: JwksCache) -> None:
    claims = verify(token(google), jwks)
    assert claims["sub"] == "1234567890"
    assert claims["email"] == "ada@example.com"
    assert google.jwks_calls == 1


def test_short_issuer_form_is_accepted(google: FakeGoogle, jwks: JwksCache) -> None:
    assert verify(token(google, iss="accounts.google.com"), jwks)["iss"] == "accounts.google.com"


@dataclass(frozen=True)
class FromNow:
    """A timestamp this many seconds from the moment the test runs."""

    seconds: int


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "someone-else.apps.googleusercontent.com"}, id="wrong-aud"),
        pytest.param({"aud": OMIT}, id="missing-aud"),
        pytest.param({"aud": ["other-client", CLIENT_ID], "azp": OMIT}, id="several-aud-without-azp"),
        pytest.param({"azp": "other-client"}, id="wrong-azp"),
        pytest.param({"iss": "https://evil.example.com"}, id="wrong-iss"),
        pytest.param({"iss": OMIT}, id="missing-iss"),
        pytest.param({"exp": FromNow(-120)}, id="expired-beyond-leeway"),
        pytest.param({"exp": OMIT}, id="missing-exp"),
        pytest.param({"iat": OMIT}, id="missing-iat"),
        pytest.param({"iat": FromNow(600)}, id="issued-in-the-future"),
        pytest.param({"nbf": FromNow(600)}, id="not-yet-valid"),
        pytest.param({"nonce": "another-sign-in"}, id="wrong-nonce"),
        pytest.param({"nonce": OMIT}, id="missing-nonce"),
        pytest.param({"nonce": 12345}, id="non-string-nonce"),
        pytest.param({"sub": OMIT}, id="missing-sub"),
        pytest.param({"sub": ""}, id="empty-sub"),
    ],
)
def test_claims_that_do_not_check_out_are_invalid(
    google: FakeGoogle, jwks: JwksCache, overrides: dict[str, Any]
) -> None:
    # Times are taken when the test runs, not when it is collected (a long session would age them).
    claims = {k: int(time.time()) + v.seconds if isinstance(v, FromNow) else v for k, v in overrides.items()}
    with pytest.raises(InvalidIdToken):
        verify(token(google, **claims), jwks)


def test_expiry_within_leeway_is_accepted(google: FakeGoogle, jwks: JwksCache) -> None:
    claims = verify(token(google, exp=int(time.time()) - 30, iat=int(time.time()) - 3630), jwks, leeway=60)
    assert claims["sub"] == "1234567890"


def test_several_audiences_with_our_azp_are_accepted(google: FakeGoogle, jwks: JwksCache) -> None:
    assert verify(token(google, aud=["other-client", CLIENT_ID]), jwks)["azp"] == CLIENT_ID


def test_signature_by_another_key_with_the_same_kid_is_refused(google: FakeGoogle, jwks: JwksCache) -> None:
    impostor = rsa_key(google.signing_key.kid, variant="impostor")
    assert impostor.public_pem() != google.signing_key.public_pem()
    forged = impostor.sign(google.id_token_claims(NONCE))
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)


def test_alg_none_is_refused(google: FakeGoogle, jwks: JwksCache) -> None:
    forged = unsigned_token({"alg": "none", "kid": google.signing_key.kid}, google.id_token_claims(NONCE))
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)


def test_alg_none_with_a_made_up_kid_does_not_trigger_a_jwks_fetch(
    google: FakeGoogle, jwks: JwksCache
) -> None:
    forged = unsigned_token({"alg": "none", "kid": "whatever"}, google.id_token_claims(NONCE))
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)
    assert google.jwks_calls == 0


def test_hs256_signed_with_the_public_key_pem_is_refused(google: FakeGoogle, jwks: JwksCache) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": google.signing_key.kid}
    forged = hmac_token(header, google.id_token_claims(NONCE), google.signing_key.public_pem())
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)


def test_rs256_header_over_an_hmac_signature_is_refused(google: FakeGoogle, jwks: JwksCache) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": google.signing_key.kid}
    forged = hmac_token(header, google.id_token_claims(NONCE), google.signing_key.public_pem())
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)


def test_token_without_kid_is_refused(google: FakeGoogle, jwks: JwksCache) -> None:
    import jwt

    no_kid = jwt.encode(google.id_token_claims(NONCE), google.signing_key.private_key, algorithm="RS256")
    with pytest.raises(InvalidIdToken):
        verify(no_kid, jwks)


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "x" * 20_000, "é.é.é"])
def test_garbage_is_invalid_not_a_crash(jwks: JwksCache, garbage: str) -> None:
    with pytest.raises(InvalidIdToken):
        verify(garbage, jwks)


# ---- email_verified, only after the token is proven genuine ---------------------------------------


@pytest.mark.parametrize("value", [False, "false", OMIT, None, 1])
def test_unverified_email_is_email_not_verified(google: FakeGoogle, jwks: JwksCache, value: Any) -> None:
    with pytest.raises(EmailNotVerified) as caught:
        verify(token(google, email_verified=value), jwks)
    assert caught.value.status == 403


def test_missing_email_is_email_not_verified(google: FakeGoogle, jwks: JwksCache) -> None:
    with pytest.raises(EmailNotVerified):
        verify(token(google, email=OMIT), jwks)


def test_string_true_email_verified_is_accepted(google: FakeGoogle, jwks: JwksCache) -> None:
    assert verify(token(google, email_verified="true"), jwks)["email"] == "ada@example.com"


def test_forged_token_with_unverified_email_is_invalid_not_403(google: FakeGoogle, jwks: JwksCache) -> None:
    impostor = rsa_key(google.signing_key.kid, variant="impostor")
    forged = impostor.sign(google.id_token_claims(NONCE, email_verified=False))
    with pytest.raises(InvalidIdToken):
        verify(forged, jwks)


def test_wrong_nonce_with_unverified_email_is_invalid_not_403(google: FakeGoogle, jwks: JwksCache) -> None:
    with pytest.raises(InvalidIdToken):
        verify(token(google, nonce="other", email_verified=False), jwks)


# ---- the JWKS cache ---------------------------------------------------------------------------


def test_keys_are_reused_across_verifications(google: FakeGoogle, jwks: JwksCache) -> None:
    for _ in range(5):
        verify(token(google), jwks)
    assert google.jwks_calls == 1


def test_unknown_kid_triggers_exactly_one_refresh_then_fails(
    google: FakeGoogle, jwks: JwksCache, clock: FakeClock
) -> None:
    verify(token(google), jwks)
    assert google.jwks_calls == 1
    clock.advance(300)  # a warm container, minutes after its first sign-in
    stranger = rsa_key("not-published")
    with pytest.raises(InvalidIdToken):
        verify(stranger.sign(google.id_token_claims(NONCE)), jwks)
    assert google.jwks_calls == 2
    # Within the refresh interval, more unknown kids do not reach the JWKS endpoint at all.
    for i in range(10):
        with pytest.raises(InvalidIdToken):
            verify(stranger.sign(google.id_token_claims(NONCE), kid=f"made-up-{i}"), jwks)
    assert google.jwks_calls == 2
    # Once the interval has passed, one more refresh is allowed.
    clock.advance(61)
    with pytest.raises(InvalidIdToken):
        verify(stranger.sign(google.id_token_claims(NONCE)), jwks)
    assert google.jwks_calls == 3


def test_unknown_kid_right_after_the_first_load_does_not_fetch_twice(
    google: FakeGoogle, jwks: JwksCache
) -> None:
    stranger = rsa_key("not-published")
    with pytest.raises(InvalidIdToken):
        verify(stranger.sign(google.id_token_claims(NONCE)), jwks)
    assert google.jwks_calls == 1


def test_key_rotation_is_picked_up_by_the_refresh(
    google: FakeGoogle, jwks: JwksCache, clock: FakeClock
) -> None:
    verify(token(google), jwks)
    clock.advance(120)
    google.signing_key = rsa_key("google-2")
    google.published = [rsa_key("google-1"), google.signing_key]
    assert verify(token(google), jwks)["sub"] == "1234567890"
    assert google.jwks_calls == 2


def test_keys_older_than_max_age_are_fetched_again(
    google: FakeGoogle, jwks: JwksCache, clock: FakeClock
) -> None:
    verify(token(google), jwks)
    clock.advance(3599)
    verify(token(google), jwks)
    assert google.jwks_calls == 1
    clock.advance(2)
    verify(token(google), jwks)
    assert google.jwks_calls == 2


def test_a_key_removed_from_the_jwks_stops_verifying_after_max_age(
    google: FakeGoogle, jwks: JwksCache, clock: FakeClock
) -> None:
    verify(token(google), jwks)
    old = google.signing_key
    google.signing_key = rsa_key("google-2")
    google.published = [google.signing_key]
    clock.advance(3601)
    with pytest.raises(InvalidIdToken):
        verify(old.sign(google.id_token_claims(NONCE)), jwks)


def test_jwks_unreachable_without_cached_keys_is_service_unavailable(
    google: FakeGoogle, jwks: JwksCache
) -> None:
    google.jwks_error = TransportError("connection refused")
    with pytest.raises(ServiceUnavailable):
        verify(token(google), jwks)


def test_jwks_outage_keeps_serving_recent_keys(google: FakeGoogle, jwks: JwksCache, clock: FakeClock) -> None:
    verify(token(google), jwks)
    google.jwks_error = TransportError("timed out")
    clock.advance(3601)
    assert verify(token(google), jwks)["sub"] == "1234567890"
    assert google.jwks_calls == 2
    # The failed attempt is not retried on every request.
    verify(token(google), jwks)
    assert google.jwks_calls == 2


def test_jwks_outage_beyond_the_stale_allowance_is_service_unavailable(
    google: FakeGoogle, jwks: JwksCache, clock: FakeClock
) -> None:
    verify(token(google), jwks)
    google.jwks_error = TransportError("timed out")
    clock.advance(3600 + 3600 + 1)
    with pytest.raises(ServiceUnavailable):
        verify(token(google), jwks)


def test_parse_jwks_keeps_only_rsa_signing_keys() -> None:
    good = rsa_key("good").public_jwk()
    document = {
        "keys": [
            good,
            {**rsa_key("enc").public_jwk(), "use": "enc"},
            {**rsa_key("hs").public_jwk(), "alg": "HS256"},
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not-a-key",
            {**rsa_key("nokid").public_jwk(), "kid": ""},
        ]
    }
    assert set(parse_jwks(document)) == {"good"}


@pytest.mark.parametrize("document", [None, [], {"keys": "nope"}, {"no": "keys"}])
def test_parse_jwks_rejects_documents_that_are_not_a_jwks(document: Any) -> None:
    with pytest.raises(ValueError):
        parse_jwks(document)


def test_shared_cache_is_reused_per_url_and_transport(google: FakeGoogle) -> None:
    first = shared_jwks_cache("https://google.test/shared-certs", google)
    assert shared_jwks_cache("https://google.test/shared-certs", google) is first
    other = FakeGoogle(client_id=CLIENT_ID, client_secret="x")
    assert shared_jwks_cache("https://google.test/shared-certs", other) is not first


@pytest.mark.parametrize("missing", ["audience", "issuers", "nonce"])
def test_empty_expectations_are_a_programming_error(
    google: FakeGoogle, jwks: JwksCache, missing: str
) -> None:
    empty: Any = frozenset() if missing == "issuers" else ""
    with pytest.raises(ValueError):
        verify(token(google), jwks, **{missing: empty})
