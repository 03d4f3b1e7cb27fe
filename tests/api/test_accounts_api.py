"""Sign-in, sessions, /me and admin routes through the real handlers."""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.api.conftest import ADMIN_EMAIL, SIGNING_KEY, Api, Env
from tests.fakes import FakeGoogle


@pytest.fixture
def google(app: Env) -> FakeGoogle:
    """Google's endpoints in-process; the sign-in code is the real one."""
    from imagegen.auth.idtoken import JwksCache
    from imagegen.auth.oauth import GoogleSignIn

    fake = FakeGoogle(client_id="test-client", client_secret="test-secret")
    ctx = app.ctx
    ctx.google = GoogleSignIn(
        ctx.settings, ctx.repos.ephemeral, ctx.secrets, fake, jwks=JwksCache(fake.jwks_url, fake)
    )
    return fake


def _sign_in(app: Env, google: FakeGoogle, *, accept: str = "application/json", **claims: Any) -> Any:
    login = app.api.call("GET", "/auth/google/login")
    assert login.status == 302
    location = login.headers["Location"]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    code = google.authorize(location, **claims)
    return app.api.call(
        "GET",
        "/auth/google/callback",
        headers={"accept": accept},
        query={"code": code, "state": params["state"]},
    )


def test_login_redirects_to_google_with_pkce_state_and_nonce(app: Env) -> None:
    reply = app.api.call("GET", "/auth/google/login")
    assert reply.status == 302
    url = urllib.parse.urlsplit(reply.headers["Location"])
    params = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://google.test/auth"
    assert params["client_id"] == "test-client"
    assert params["redirect_uri"] == "https://api.example.com/auth/google/callback"
    assert (params["response_type"], params["scope"]) == ("code", "openid email profile")
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32


def test_sign_in_creates_the_user_once_with_the_bonus(app: Env, google: FakeGoogle) -> None:
    first = _sign_in(app, google, sub="g-42", email="new@example.com")
    assert first.status == 200, first.raw
    body = first.json
    assert body["user"]["email"] == "new@example.com" and body["user"]["coins"] == 100
    assert body["expiresAt"].endswith("Z")
    me = app.api.call("GET", "/me", token=body["token"]).json
    assert me["id"] == body["user"]["id"] and me["roles"] == ["USER"]
    ledger = app.api.call("GET", "/me/ledger", token=body["token"]).json["items"]
    assert [(e["amount"], e["reason"]) for e in ledger] == [(100, "signup_bonus")]
    again = _sign_in(app, google, sub="g-42", email="new@example.com").json
    assert again["user"]["id"] == me["id"] and again["user"]["coins"] == 100


def test_signing_up_again_after_delete_me_gives_no_second_bonus(app: Env, google: FakeGoogle) -> None:
    first = _sign_in(app, google, sub="g-77", email="again@example.com").json
    token = first["token"]
    assert first["user"]["coins"] == 100
    spent = app.api.call("POST", "/images/generate", token=token, body={"prompt": "spend it"})
    assert spent.status == 202, spent.raw
    assert app.api.call("DELETE", "/me", token=token).status in (202, 204)
    app.pipeline.drain()

    again = _sign_in(app, google, sub="g-77", email="again@example.com")
    assert again.status == 200, again.raw
    body = again.json
    assert body["user"]["id"] != first["user"]["id"] and body["user"]["coins"] == 0
    me = app.api.call("GET", "/me", token=body["token"]).json
    assert me["coins"] == 0
    ledger = app.api.call("GET", "/me/ledger", token=body["token"]).json
    assert ledger["items"] == [] and ledger["nextCursor"] is None
    app.api.call("POST", "/images/generate", token=body["token"], body={"prompt": "x"}).problem(
        402, "insufficient_coins"
    )


def test_browser_sign_in_redirects_to_the_frontend_with_the_token_in_the_fragment(
    app: Env, google: FakeGoogle
) -> None:
    reply = _sign_in(app, google, accept="text/html")
    assert reply.status == 303
    location = reply.headers["Location"]
    assert location.startswith("https://app.example.com/auth/callback#token=")
    token = urllib.parse.unquote(location.split("#token=", 1)[1])
    assert app.api.call("GET", "/me", token=token).status == 200


def test_admin_emails_get_the_admin_role(app: Env, google: FakeGoogle) -> None:
    body = _sign_in(app, google, sub="g-boss", email=ADMIN_EMAIL.upper()).json
    assert body["user"]["roles"] == ["ADMIN", "USER"]


def test_replayed_and_unknown_state_are_400_before_any_exchange(app: Env, google: FakeGoogle) -> None:
    login = app.api.call("GET", "/auth/google/login").headers["Location"]
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login).query))["state"]
    code = google.authorize(login)
    ok = app.api.call("GET", "/auth/google/callback", query={"code": code, "state": state})
    assert ok.status == 200
    calls = len(google.token_calls)
    app.api.call("GET", "/auth/google/callback", query={"code": code, "state": state}).problem(
        400, "invalid_state"
    )
    app.api.call("GET", "/auth/google/callback", query={"code": code, "state": "x" * 43}).problem(
        400, "invalid_state"
    )
    app.api.call("GET", "/auth/google/callback", query={"code": code}).problem(400, "invalid_state")
    assert len(google.token_calls) == calls


def test_bad_id_tokens_are_401_and_unverified_email_403(app: Env, google: FakeGoogle) -> None:
    _sign_in(app, google, aud="someone-else").problem(401, "invalid_id_token")
    _sign_in(app, google, iss="https://evil.example.com").problem(401, "invalid_id_token")
    _sign_in(app, google, exp=int(time.time()) - 3600).problem(401, "invalid_id_token")
    _sign_in(app, google, nonce="not-the-nonce").problem(401, "invalid_id_token")
    _sign_in(app, google, email_verified=False).problem(403, "email_not_verified")
    assert app.ctx.repos.users.find_by_email("ada@example.com") is None


def test_google_cancel_is_400_and_uses_up_the_state(app: Env) -> None:
    login = app.api.call("GET", "/auth/google/login").headers["Location"]
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login).query))["state"]
    app.api.call("GET", "/auth/google/callback", query={"error": "access_denied", "state": state}).problem(
        400, "sign_in_cancelled"
    )
    app.api.call("GET", "/auth/google/callback", query={"code": "c", "state": state}).problem(
        400, "invalid_state"
    )


# ---- the flow is bound to the browser that started it (login CSRF, session swap) ---------------
FLOW_COOKIE = "imagegen_signin"


def _start(api: Api, google: FakeGoogle, **claims: Any) -> tuple[str, str, Any]:
    """``api`` (one browser) starts a sign-in and Google approves it: (code, state, the login reply)."""
    login = api.call("GET", "/auth/google/login")
    assert login.status == 302, login.raw
    location = login.headers["Location"]
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["state"]
    return google.authorize(location, **claims), state, login


def test_login_sets_the_flow_cookie_with_a_hash_of_the_state(app: Env) -> None:
    login = app.api.call("GET", "/auth/google/login")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login.headers["Location"]).query))["state"]
    digest = hashlib.sha256(state.encode()).hexdigest()
    assert login.cookies == [
        f"{FLOW_COOKIE}={digest}; Path=/auth; Max-Age=600; HttpOnly; Secure; SameSite=Lax"
    ]
    assert state not in login.cookies[0]


def test_on_the_local_stack_the_flow_cookie_is_not_secure(app: Env, configure: Callable[..., None]) -> None:
    configure(API_BASE_URL="http://127.0.0.1:3000")
    login = app.api.call("GET", "/auth/google/login")
    (cookie,) = login.cookies
    assert cookie.endswith("; Path=/auth; Max-Age=600; HttpOnly; SameSite=Lax") and "Secure" not in cookie


def test_a_callback_without_the_flow_cookie_is_400_and_leaves_the_state_usable(
    app: Env, google: FakeGoogle
) -> None:
    code, state, _ = _start(app.api, google, sub="g-owner", email="owner@example.com")
    for accept in ("application/json", "text/html"):
        app.api.call(
            "GET",
            "/auth/google/callback",
            headers={"accept": accept},
            query={"code": code, "state": state},
            cookies=[],
        ).problem(400, "invalid_state")
    assert google.token_calls == []  # refused before the code is exchanged
    app.api.call(
        "GET", "/auth/google/callback", query={"error": "access_denied", "state": state}, cookies=[]
    ).problem(400, "invalid_state")  # nor can another browser cancel the flow
    ok = app.api.call("GET", "/auth/google/callback", query={"code": code, "state": state})
    assert ok.status == 200, ok.raw
    assert ok.json["user"]["email"] == "owner@example.com"


def test_another_flows_cookie_cannot_finish_this_flow_no_session_swap(app: Env, google: FakeGoogle) -> None:
    """The attacker starts a sign-in to their own account and makes the victim open its callback URL."""
    attacker = type(app.api)()  # another browser (the fixture's class: conftest is imported once)
    code, state, _ = _start(attacker, google, sub="g-attacker", email="attacker@example.com")
    victim_code, victim_state, _ = _start(app.api, google, sub="g-victim", email="victim@example.com")
    for accept in ("application/json", "text/html"):
        refused = app.api.call(
            "GET", "/auth/google/callback", headers={"accept": accept}, query={"code": code, "state": state}
        )
        refused.problem(400, "invalid_state")
        assert refused.cookies == [] and "Location" not in refused.headers
    forged = [f"{FLOW_COOKIE}={hashlib.sha256(b'another-state').hexdigest()}", f"{FLOW_COOKIE}={state}"]
    app.api.call(
        "GET", "/auth/google/callback", query={"code": code, "state": state}, cookies=forged
    ).problem(400, "invalid_state")  # nor the state itself, or any other flow's digest
    assert google.token_calls == []
    assert app.ctx.repos.users.find_by_email("attacker@example.com") is None
    # Both real flows still finish, each in its own browser.
    mine = app.api.call("GET", "/auth/google/callback", query={"code": victim_code, "state": victim_state})
    assert mine.status == 200 and mine.json["user"]["email"] == "victim@example.com"
    theirs = attacker.call("GET", "/auth/google/callback", query={"code": code, "state": state})
    assert theirs.status == 200 and theirs.json["user"]["email"] == "attacker@example.com"


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), ("text/html", 303)])
def test_a_finished_sign_in_clears_the_flow_cookie(
    app: Env, google: FakeGoogle, accept: str, status: int
) -> None:
    code, state, _ = _start(app.api, google)
    done = app.api.call(
        "GET", "/auth/google/callback", headers={"accept": accept}, query={"code": code, "state": state}
    )
    assert done.status == status, done.raw
    assert done.cookies == [f"{FLOW_COOKIE}=; Path=/auth; Max-Age=0; HttpOnly; Secure; SameSite=Lax"]
    assert app.api.jar == {}


# ---- sessions --------------------------------------------------------------------------------
def test_missing_malformed_tampered_expired_and_revoked_tokens_are_401(app: Env) -> None:
    _user, token = app.user()
    app.api.call("GET", "/me").problem(401, "unauthorized")
    app.api.call("GET", "/me", headers={"authorization": token}).problem(401, "unauthorized")
    app.api.call("GET", "/me", token="not.a.jwt").problem(401, "unauthorized")
    head, payload, signature = token.split(".")
    app.api.call("GET", "/me", token=f"{head}.{payload}.{signature[:-4]}AAAA").problem(401, "unauthorized")
    forged = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "roles": ["ADMIN"]},
        "another-key-of-enough-length-0123456789",
        algorithm="HS256",
    )
    app.api.call("GET", "/admin/users", token=forged).problem(401, "unauthorized")
    none_alg = jwt.encode(jwt.decode(token, options={"verify_signature": False}), None, algorithm="none")
    app.api.call("GET", "/me", token=none_alg).problem(401, "unauthorized")
    claims = jwt.decode(token, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        SIGNING_KEY.encode(),
        algorithm="HS256",
    )
    app.api.call("GET", "/me", token=expired).problem(401, "unauthorized")
    assert app.api.call("POST", "/auth/logout", token=token).status == 204
    app.api.call("GET", "/me", token=token).problem(401, "unauthorized")
    _, other = app.user()
    assert app.api.call("GET", "/me", token=other).status == 200


def test_role_changes_apply_on_the_next_request_whatever_the_token_says(app: Env) -> None:
    _admin, admin_token = app.user(admin=True)
    user, token = app.user()
    app.api.call("GET", "/admin/users", token=token).problem(403, "forbidden")
    assert app.api.call("PUT", f"/admin/users/{user.id}/roles/ADMIN", token=admin_token).json["roles"] == [
        "ADMIN",
        "USER",
    ]
    assert app.api.call("GET", "/admin/users", token=token).status == 200
    assert app.api.call("DELETE", f"/admin/users/{user.id}/roles/ADMIN", token=admin_token).json["roles"] == [
        "USER"
    ]
    app.api.call("GET", "/admin/users", token=token).problem(403, "forbidden")
    app.api.call("PUT", f"/admin/users/{user.id}/roles/OWNER", token=admin_token).problem(
        422, "validation_error"
    )
    app.api.call("PUT", "/admin/users/nobody/roles/ADMIN", token=admin_token).problem(404, "not_found")


# ---- /me ----------------------------------------------------------------------------------------
def test_patch_me(app: Env) -> None:
    _, token = app.user()
    me = app.api.call("PATCH", "/me", token=token, body={"firstName": "Grace", "language": "es"}).json
    assert (me["firstName"], me["lastName"], me["fullName"], me["language"]) == (
        "Grace",
        "Lovelace",
        "Grace Lovelace",
        "es",
    )
    app.api.call("PATCH", "/me", token=token, body={"language": "xx"}).problem(422, "validation_error")
    app.api.call("PATCH", "/me", token=token, body={"coins": 1_000_000}).problem(422, "validation_error")
    app.api.call("PATCH", "/me", token=token, body={"firstName": "x" * 101}).problem(422, "validation_error")
    app.api.call("PATCH", "/me", token=token, raw_body="[").problem(400, "invalid_json")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 100


def test_ledger_pages_and_refuses_foreign_cursors(app: Env) -> None:
    _admin, admin_token = app.user(admin=True)
    user, token = app.user(coins=5)
    for i in range(4):
        app.api.call(
            "POST", f"/admin/users/{user.id}/coins", token=admin_token, body={"amount": i + 1, "reason": "r"}
        )
    page = app.api.call("GET", "/me/ledger", token=token, query={"limit": "2"}).json
    assert [e["amount"] for e in page["items"]] == [4, 3]
    rest = app.api.call(
        "GET", "/me/ledger", token=token, query={"limit": "10", "cursor": page["nextCursor"]}
    ).json
    assert [e["amount"] for e in rest["items"]] == [2, 1, 5] and rest["nextCursor"] is None
    balances = [e["balanceAfter"] for e in page["items"] + rest["items"]]
    assert balances == [15, 11, 8, 6, 5]
    app.api.call("GET", "/me/ledger", token=admin_token, query={"cursor": page["nextCursor"]}).problem(
        400, "invalid_cursor"
    )


def test_delete_me_removes_everything_and_ends_the_session(app: Env) -> None:
    user, token = app.user(coins=500)
    for prompt in ("one", "two"):
        app.api.call("POST", "/images/generate", token=token, body={"prompt": prompt})
    app.pipeline.drain()
    images = app.api.call("GET", "/images", token=token).json["items"]
    renditions = [f"thumbnails/{image['id']}/" for image in images]
    assert len(app.objects(f"images/{user.id}/")) == 2
    assert [len(app.objects(prefix)) for prefix in renditions] == [2, 2]
    assert all(user.id not in image["thumbnailUrl"] for image in images)  # keyed by image, not owner
    assert app.api.call("DELETE", "/me", token=token).status == 204
    app.api.call("GET", "/me", token=token).problem(401, "unauthorized")
    assert app.objects(f"images/{user.id}/") == [] and app.objects(f"thumbnails/{user.id}/") == []
    assert all(app.objects(prefix) == [] for prefix in renditions)
    assert app.ctx.repos.users.find_by_id(user.id) is None
    assert app.ctx.repos.users.find_by_email(user.email) is None


# ---- admin --------------------------------------------------------------------------------------
def test_admin_coins_grant_debit_and_limits(app: Env) -> None:
    _, admin_token = app.user(admin=True)
    user, token = app.user(coins=10)
    granted = app.api.call(
        "POST",
        f"/admin/users/{user.id}/coins",
        token=admin_token,
        body={"amount": 40, "reason": "Support credit"},
    ).json
    assert granted["user"]["coins"] == 50
    assert (granted["entry"]["amount"], granted["entry"]["reason"], granted["entry"]["note"]) == (
        40,
        "admin_grant",
        "Support credit",
    )
    debited = app.api.call(
        "POST",
        f"/admin/users/{user.id}/coins",
        token=admin_token,
        body={"amount": -50, "reason": "Chargeback"},
    ).json
    assert (debited["user"]["coins"], debited["entry"]["reason"]) == (0, "admin_debit")
    body = app.api.call(
        "POST", f"/admin/users/{user.id}/coins", token=admin_token, body={"amount": -1, "reason": "x"}
    ).problem(402, "insufficient_coins")
    assert body["available"] == 0
    for bad in (
        {"amount": 0, "reason": "x"},
        {"amount": 5},
        {"amount": "5", "reason": "x"},
        {"amount": 5, "reason": ""},
    ):
        app.api.call("POST", f"/admin/users/{user.id}/coins", token=admin_token, body=bad).problem(
            422, "validation_error"
        )
    app.api.call(
        "POST", "/admin/users/nobody/coins", token=admin_token, body={"amount": 1, "reason": "x"}
    ).problem(404, "not_found")
    app.api.call(
        "POST", f"/admin/users/{user.id}/coins", token=token, body={"amount": 1, "reason": "x"}
    ).problem(403, "forbidden")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 0


def test_admin_grant_with_idempotency_key_applies_once(app: Env) -> None:
    _, admin_token = app.user(admin=True)
    user, token = app.user(coins=0)
    headers = {"Idempotency-Key": "grant-1"}
    for _ in range(3):
        reply = app.api.call(
            "POST",
            f"/admin/users/{user.id}/coins",
            token=admin_token,
            headers=headers,
            body={"amount": 25, "reason": "promo"},
        )
        assert reply.status == 200
    assert app.api.call("GET", "/me", token=token).json["coins"] == 25
    app.api.call(
        "POST",
        f"/admin/users/{user.id}/coins",
        token=admin_token,
        headers=headers,
        body={"amount": 26, "reason": "promo"},
    ).problem(409, "idempotency_key_reused")


def test_admin_reads_users_and_all_images(app: Env) -> None:
    admin, admin_token = app.user(admin=True)
    user, token = app.user()
    image_id = app.api.call("POST", "/images/generate", token=token, body={"prompt": "p"}).json["id"]
    assert app.api.call("GET", f"/admin/users/{user.id}", token=admin_token).json["email"] == user.email
    app.api.call("GET", "/admin/users/nobody", token=admin_token).problem(404, "not_found")
    found = app.api.call("GET", "/admin/users", token=admin_token, query={"email": user.email}).json
    assert [u["id"] for u in found["items"]] == [user.id]
    listed = app.api.call("GET", "/admin/users", token=admin_token, query={"limit": "100"}).json["items"]
    assert {admin.id, user.id} <= {u["id"] for u in listed}
    pending = app.api.call("GET", "/admin/images", token=admin_token, query={"status": "PENDING"}).json[
        "items"
    ]
    assert image_id in [i["id"] for i in pending]
    assert app.api.call("GET", f"/images/{image_id}", token=admin_token).status == 200
    app.api.call("GET", "/admin/images", token=token).problem(403, "forbidden")
    app.api.call("GET", "/admin/images", token=admin_token, query={"status": "DONE"}).problem(
        422, "validation_error"
    )


def test_health_and_unknown_route(app: Env) -> None:
    assert app.api.call("GET", "/health").json == {"status": "ok"}
