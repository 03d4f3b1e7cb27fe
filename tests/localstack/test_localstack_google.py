"""The local Google stand-in: authorization code flow with PKCE, ID tokens verifiable against the JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from tests.localstack.conftest import Reply, RunningStack

pytestmark = pytest.mark.e2e

CLIENT_ID = "local-client-id"
REDIRECT_URI = "http://127.0.0.1:9/auth/google/callback"


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def authorize(stack: RunningStack, login_hint: str | None, verifier: str, **extra: str) -> Reply:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email profile",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    if login_hint is not None:
        params["login_hint"] = login_hint
    return stack.get("/_local/google/authorize?" + urlencode(params))


def code_for(stack: RunningStack, email: str, verifier: str) -> str:
    reply = authorize(stack, email, verifier)
    assert reply.status == 302
    location = urlsplit(reply.header("location") or "")
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    return query["code"][0]


def exchange(stack: RunningStack, code: str, verifier: str, **overrides: str) -> Reply:
    form = {
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": "replace-me",
        "redirect_uri": REDIRECT_URI,
        "grant_type": "authorization_code",
        "code_verifier": verifier,
        **overrides,
    }
    return stack.call(
        "POST",
        "/_local/google/token",
        body=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def verified_claims(stack: RunningStack, id_token: str) -> dict[str, Any]:
    jwks = stack.get("/_local/google/certs").json()
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(key for key in jwks["keys"] if key["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer="https://accounts.google.com",
    )
    return claims


def test_full_code_flow_with_pkce(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_for(stack, "Jane.Doe@Example.com", verifier)
    reply = exchange(stack, code, verifier)
    assert reply.status == 200
    tokens = reply.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["expires_in"] > 0

    claims = verified_claims(stack, tokens["id_token"])
    assert claims["email"] == "jane.doe@example.com"
    assert claims["email_verified"] is True
    assert claims["given_name"] == "Jane" and claims["family_name"] == "Doe"
    assert claims["nonce"] == "nonce-456"
    assert claims["aud"] == CLIENT_ID
    assert claims["exp"] > claims["iat"]

    again = exchange(stack, code_for(stack, "jane.doe@example.com", verifier), verifier).json()
    assert verified_claims(stack, again["id_token"])["sub"] == claims["sub"]  # stable per email
    other = exchange(stack, code_for(stack, "john@example.com", verifier), verifier).json()
    assert verified_claims(stack, other["id_token"])["sub"] != claims["sub"]


def test_unverified_email_is_flagged(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    tokens = exchange(stack, code_for(stack, "unverified.bob@example.com", verifier), verifier).json()
    assert verified_claims(stack, tokens["id_token"])["email_verified"] is False


def test_wrong_verifier_is_refused(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_for(stack, "mallory@example.com", verifier)
    reply = exchange(stack, code, secrets.token_urlsafe(48))
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_grant"


def test_code_is_single_use(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    code = code_for(stack, "replay@example.com", verifier)
    assert exchange(stack, code, verifier).status == 200
    reused = exchange(stack, code, verifier)
    assert reused.status == 400
    assert reused.json()["error"] == "invalid_grant"


def test_code_is_bound_to_client_and_redirect_uri(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    wrong_redirect = exchange(
        stack,
        code_for(stack, "a@example.com", verifier),
        verifier,
        redirect_uri="http://127.0.0.1:9/elsewhere",
    )
    assert wrong_redirect.json()["error"] == "invalid_grant"
    wrong_client = exchange(
        stack, code_for(stack, "a@example.com", verifier), verifier, client_id="other-client"
    )
    assert wrong_client.json()["error"] == "invalid_grant"
    bad_grant = exchange(stack, "whatever", verifier, grant_type="password")
    assert bad_grant.status == 400 and bad_grant.json()["error"] == "unsupported_grant_type"


def test_without_login_hint_a_form_asks_for_the_email(stack: RunningStack) -> None:
    verifier = secrets.token_urlsafe(48)
    form = authorize(stack, None, verifier)
    assert form.status == 200
    page = form.body.decode()
    assert 'id="email"' in page and 'name="email"' in page and 'for="email"' in page
    assert ">Sign in</button>" in page

    # The form submits to the same URL with the email; that comes back as login_hint.
    submitted = authorize(stack, None, verifier, email="form.user@example.com")
    assert submitted.status == 302
    location = submitted.header("location") or ""
    assert location.startswith("/_local/google/authorize?")
    assert parse_qs(urlsplit(location).query)["login_hint"] == ["form.user@example.com"]
    final = stack.get(location)
    assert final.status == 302
    code = parse_qs(urlsplit(final.header("location") or "").query)["code"][0]
    tokens = exchange(stack, code, verifier).json()
    assert verified_claims(stack, tokens["id_token"])["email"] == "form.user@example.com"


def test_discovery_document(stack: RunningStack) -> None:
    document = stack.get("/_local/google/.well-known/openid-configuration").json()
    assert document["token_endpoint"] == f"{stack.url}/_local/google/token"
    assert document["jwks_uri"] == f"{stack.url}/_local/google/certs"
