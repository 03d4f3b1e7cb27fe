"""Session tokens: issue/verify round trip and every way a token can be wrong (sign-out: the profile,
see tests/integration/test_users_repository.py and tests/unit/test_services_accounts.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagegen.auth.secrets import SecretConfigurationError
from imagegen.auth.sessions import SessionClaims, SessionTokens
from imagegen.errors import Unauthorized
from imagegen.models import User, UserRole

from tests.fakes import b64url, unsigned_token

KEY = b"k" * 16 + b"0123456789abcdef0123"
OTHER_KEY = b"another-key-that-is-also-long-enough!"


def make_user(*roles: UserRole) -> User:
    return User(id="user-1", email="ada@example.com", google_id="g-1", roles=list(roles) or [UserRole.USER])


@pytest.fixture
def tokens() -> SessionTokens:
    return SessionTokens(KEY, ttl=3600)


def base_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "user-1",
        "roles": ["USER"],
        "jti": "jti-1",
        "iat": now,
        "exp": now + 600,
        "iss": "imagegen",
        "aud": "imagegen-api",
        "typ": "session",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_round_trip(tokens: SessionTokens) -> None:
    token, expires_at, jti = tokens.issue(make_user(UserRole.ADMIN))
    claims = tokens.verify(token)
    assert claims == SessionClaims(
        user_id="user-1", roles=("ADMIN", "USER"), jti=jti, expires_at=claims.expires_at
    )
    assert claims.expires_at_iso == expires_at
    assert expires_at.endswith("Z")
    assert abs(claims.expires_at - (time.time() + 3600)) < 5


def test_issued_token_carries_the_contract_claims(tokens: SessionTokens) -> None:
    token, _, jti = tokens.issue(make_user())
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert payload["sub"] == "user-1"
    assert payload["roles"] == ["USER"]
    assert payload["jti"] == jti
    assert payload["iss"] == "imagegen"
    assert payload["aud"] == "imagegen-api"
    assert payload["typ"] == "session"
    assert payload["exp"] - payload["iat"] == 3600


def test_every_token_has_its_own_jti(tokens: SessionTokens) -> None:
    assert len({tokens.issue(make_user())[2] for _ in range(20)}) == 20


def test_expired_token_is_unauthorized() -> None:
    issued_two_hours_ago = SessionTokens(KEY, ttl=3600, clock=lambda: time.time() - 7200)
    token, _, _ = issued_two_hours_ago.issue(make_user())
    with pytest.raises(Unauthorized) as caught:
        SessionTokens(KEY, ttl=3600).verify(token)
    assert caught.value.status == 401


def test_tampered_payload_is_unauthorized(tokens: SessionTokens) -> None:
    token, _, _ = tokens.issue(make_user())
    head, _payload, signature = token.split(".")
    forged_payload = b64url(json.dumps(base_claims(sub="someone-else", roles=["ADMIN"])).encode())
    with pytest.raises(Unauthorized):
        tokens.verify(f"{head}.{forged_payload}.{signature}")


def test_tampered_signature_is_unauthorized(tokens: SessionTokens) -> None:
    token, _, _ = tokens.issue(make_user())
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(Unauthorized):
        tokens.verify(f"{head}.{payload}.{flipped}")


def test_alg_none_is_unauthorized(tokens: SessionTokens) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(unsigned_token({"alg": "none", "typ": "JWT"}, base_claims()))


def test_token_signed_with_another_key_is_unauthorized(tokens: SessionTokens) -> None:
    token, _, _ = SessionTokens(OTHER_KEY, ttl=3600).issue(make_user())
    with pytest.raises(Unauthorized):
        tokens.verify(token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithm_with_the_same_key_is_unauthorized(tokens: SessionTokens) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(jwt.encode(base_claims(), KEY, algorithm="HS512"))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "someone-else"}, id="wrong-aud"),
        pytest.param({"aud": ["imagegen-api", "other"]}, id="list-aud"),
        pytest.param({"iss": "accounts.google.com"}, id="wrong-iss"),
        pytest.param({"typ": "refresh"}, id="wrong-typ"),
        pytest.param({"sub": 42}, id="non-string-sub"),
        pytest.param({"roles": "ADMIN"}, id="roles-not-a-list"),
        pytest.param({"roles": [1, 2]}, id="roles-not-strings"),
        pytest.param({"iat": int(time.time()) + 3600}, id="issued-in-the-future"),
        *[
            pytest.param({name: None}, id=f"missing-{name}")
            for name in ("sub", "jti", "iat", "exp", "iss", "aud", "typ")
        ],
    ],
)
def test_wrong_or_missing_claims_are_unauthorized(tokens: SessionTokens, overrides: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        tokens.verify(jwt.encode(base_claims(**overrides), KEY, algorithm="HS256"))


def test_google_style_rs256_token_is_unauthorized(tokens: SessionTokens) -> None:
    from tests.fakes import rsa_key

    with pytest.raises(Unauthorized):
        tokens.verify(rsa_key("google-1").sign(base_claims()))


@given(st.text(max_size=300))
def test_any_string_is_unauthorized_never_a_crash(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        SessionTokens(KEY, ttl=60).verify(garbage)


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 31])
def test_short_signing_key_is_a_configuration_error(key: bytes) -> None:
    with pytest.raises(SecretConfigurationError):
        SessionTokens(key, ttl=3600)
