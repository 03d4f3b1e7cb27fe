"""A local stand-in for Google's OAuth 2.0 / OpenID Connect endpoints: the real sign-in code runs end to end.

Authorization codes are single-use, bound to the client and redirect URI, and PKCE-checked; ID tokens are
RS256 JWTs signed with a key made at start, published as a JWKS. An email starting with "unverified" gets
``email_verified: false``, so tests can reach that branch.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.stack.apigw import HttpRequest, HttpResponse, json_response

ISSUER = "https://accounts.google.com"
CODE_TTL_SECONDS = 600
TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    email: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    expires_at: float


class GoogleStandIn:
    def __init__(self, base_path: str = "/_local/google") -> None:
        self.base_path = base_path
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    # --- dispatch ---

    def handle(self, request: HttpRequest, base_url: str) -> HttpResponse:
        action = request.raw_path.removeprefix(self.base_path)
        if action == "/authorize" and request.method in ("GET", "POST"):
            return self.authorize(request)
        if action == "/token" and request.method == "POST":
            return self.token(request)
        if action == "/certs" and request.method == "GET":
            return self.certs()
        if action == "/.well-known/openid-configuration" and request.method == "GET":
            return self.discovery(base_url)
        return json_response(404, {"error": "not_found"})

    # --- endpoints ---

    def authorize(self, request: HttpRequest) -> HttpResponse:
        params = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        if request.method == "POST":
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if not client_id:
            return _error_page(400, "invalid_request", "Missing required parameter: client_id")
        if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
            return _error_page(400, "invalid_request", "Missing or invalid parameter: redirect_uri")
        if params.get("response_type") != "code":
            return _redirect(
                redirect_uri, {"error": "unsupported_response_type", "state": params.get("state")}
            )
        method = params.get("code_challenge_method") or ("plain" if params.get("code_challenge") else "")
        if method and method not in ("S256", "plain"):
            return _redirect(redirect_uri, {"error": "invalid_request", "state": params.get("state")})
        if not params.get("login_hint") and params.get("email"):
            # The sign-in form's answer: come back to this URL the way a client passing login_hint would.
            params["login_hint"] = params.pop("email")
            return HttpResponse(302, [("Location", f"{self.base_path}/authorize?{urlencode(params)}")])
        email = params.get("login_hint", "").strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return _sign_in_form(params, error="Enter an email address" if email else None)
        code = "4/local-" + secrets.token_urlsafe(32)
        grant = _Grant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            email=email,
            scope=params.get("scope", "openid email profile"),
            nonce=params.get("nonce") or None,
            code_challenge=params.get("code_challenge") or None,
            code_challenge_method=method or "plain",
            expires_at=time.time() + CODE_TTL_SECONDS,
        )
        with self._lock:
            now = time.time()
            self._grants = {key: value for key, value in self._grants.items() if value.expires_at > now}
            self._grants[code] = grant
        return _redirect(
            redirect_uri,
            {
                "state": params.get("state"),
                "code": code,
                "scope": grant.scope,
                "authuser": "0",
                "prompt": "none",
            },
        )

    def token(self, request: HttpRequest) -> HttpResponse:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id", "")
        authorization = request.header("authorization") or ""
        if authorization.lower().startswith("basic "):
            try:
                client_id = base64.b64decode(authorization[6:]).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                return _oauth_error(401, "invalid_client", "Unauthorized")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(
                400, "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", "")
            )
        if not client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        code = form.get("code", "")
        if not code:
            return _oauth_error(400, "invalid_request", "Missing required parameter: code")
        with self._lock:
            # Taken out on the first attempt, successful or not: a code is good for one exchange only.
            grant = self._grants.pop(code, None)
        if grant is None or grant.expires_at < time.time():
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if grant.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "The code was issued to another client.")
        if grant.redirect_uri != form.get("redirect_uri", ""):
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if _challenge(verifier, grant.code_challenge_method) != grant.code_challenge:
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        return json_response(
            200,
            {
                "access_token": "ya29.local-" + secrets.token_urlsafe(32),
                "expires_in": TOKEN_TTL_SECONDS - 1,
                "scope": grant.scope,
                "token_type": "Bearer",
                "id_token": self.id_token(grant),
            },
            headers=[
                ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
                ("Pragma", "no-cache"),
            ],
        )

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        given, family = names_from_email(grant.email)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": subject_for(grant.email),
            "email": grant.email,
            "email_verified": not grant.email.startswith("unverified"),
            "name": f"{given} {family}".strip(),
            "given_name": given,
            "family_name": family,
            "locale": "en",
            "iat": now,
            "exp": now + TOKEN_TTL_SECONDS,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        key = dict(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True))
        key.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [key]}

    def certs(self) -> HttpResponse:
        return json_response(200, self.jwks(), headers=[("Cache-Control", "public, max-age=3600")])

    def discovery(self, base_url: str) -> HttpResponse:
        root = base_url.rstrip("/") + self.base_path
        return json_response(
            200,
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{root}/authorize",
                "token_endpoint": f"{root}/token",
                "jwks_uri": f"{root}/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code"],
            },
        )


def subject_for(email: str) -> str:
    """A stable, Google-like numeric subject (21 digits) for an email."""
    number = int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:8], "big")
    return "1" + str(number).zfill(20)[:20]


def names_from_email(email: str) -> tuple[str, str]:
    parts = [part for part in re.split(r"[._+\-]+", email.partition("@")[0]) if part]
    if not parts:
        return "", ""
    return parts[0].capitalize(), " ".join(part.capitalize() for part in parts[1:])


def _challenge(verifier: str, method: str) -> str:
    if method == "S256":
        return (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            .decode()
            .rstrip("=")
        )
    return verifier


def _redirect(uri: str, params: dict[str, str | None]) -> HttpResponse:
    query = urlencode({key: value for key, value in params.items() if value is not None})
    separator = "&" if urlsplit(uri).query else "?"
    return HttpResponse(302, [("Location", f"{uri}{separator}{query}"), ("Cache-Control", "no-store")])


def _oauth_error(status: int, error: str, description: str) -> HttpResponse:
    return json_response(status, {"error": error, "error_description": description})


def _error_page(status: int, error: str, description: str) -> HttpResponse:
    title = f"Error {status}: {error}"
    body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{html.escape(description)}</p>"
    return HttpResponse(status, [("Content-Type", "text/html; charset=utf-8")], body.encode())


def _sign_in_form(params: dict[str, str], error: str | None) -> HttpResponse:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in params.items()
        if key not in ("login_hint", "email")
    )
    message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Google Accounts (local)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 24rem; margin: 4rem auto">
<h1>Sign in</h1>
<p>Local stand-in for Google. Any email signs in; one starting with "unverified" is unverified.</p>
{message}
<form method="get" action="">{hidden}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required autofocus>
<button type="submit">Sign in</button>
</form></body></html>"""
    return HttpResponse(
        200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")], body.encode()
    )
