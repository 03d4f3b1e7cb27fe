"""Access: other users' ids on every route, the ADMIN role on every /admin route, a token-tampering
matrix, and no secret of a sign-in in the logs."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from tests.api.conftest import ROUTES, SIGNING_KEY, Env, handler
from tests.fakes import FakeGoogle, hmac_token, rsa_key, unsigned_token

SMALL = {"width": 256, "height": 256}


def _route_specs() -> dict[tuple[str, str], Any]:
    """Every declared route (RouteSpec) by (method, path); loading the handlers registers them."""
    from imagegen.http.api import ROUTES as SPECS

    for directory in sorted({d for *_, d in ROUTES}):
        handler(directory)
    return {(spec.method, spec.path): spec for spec in SPECS}


def _concrete(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


def _body_for(method: str, path: str) -> dict[str, Any] | None:
    """A valid body for the routes that take one (the admin coin change among them)."""
    if path.endswith("/coins"):
        return {"amount": 1, "reason": "r"}
    if path == "/images/generate":
        return {"prompt": "p", **SMALL}
    return {"title": "t"} if method in ("POST", "PATCH", "PUT") else None


def test_every_template_route_is_declared_and_every_declared_route_is_routed() -> None:
    specs = _route_specs()
    routed = {(method, path) for method, _, path, _ in ROUTES}
    assert routed == set(specs)


# ---- other users' ids ------------------------------------------------------------------------------
def test_every_route_answers_404_for_someone_elses_image(app: Env) -> None:
    specs = _route_specs()
    owner, owner_token = app.user()
    _, stranger = app.user()
    pending = app.api.call("POST", "/images/generate", token=owner_token, body={"prompt": "p", **SMALL}).json
    done = app.api.call("POST", "/images/generate", token=owner_token, body={"prompt": "q", **SMALL}).json
    app.pipeline.drain()
    app.api.call(
        "POST", "/images/generate", token=owner_token, body={"prompt": "r", **SMALL}
    )  # stays PENDING
    image_routes = [
        (m, p)
        for (m, p), spec in specs.items()
        if "{id}" in p and p.startswith("/images/") and not spec.admin
    ]
    assert sorted(image_routes) == [
        ("DELETE", "/images/{id}"),
        ("GET", "/images/{id}"),
        ("GET", "/images/{id}/download"),
        ("PATCH", "/images/{id}"),
        ("POST", "/images/{id}/variations"),
    ]
    for method, path in image_routes:
        variation = path.endswith("/variations")
        for image in (pending, done):
            foreign = app.api.call(
                method,
                _concrete(path, id=image["id"]),
                token=stranger,
                body={"strength": 0.5} if variation else {"title": "mine now"},
            )
            missing = app.api.call(
                method,
                _concrete(path, id="00000000-0000-4000-8000-000000000000"),
                token=stranger,
                body={"strength": 0.5} if variation else {"title": "t"},
            )
            foreign_body = foreign.problem(404, "not_found")
            assert foreign_body == missing.problem(404, "not_found"), (
                "a foreign id must look like a missing one"
            )
    # Nothing of the owner's changed, and no list of the stranger shows it.
    mine = app.api.call("GET", "/images", token=owner_token).json["items"]
    assert {i["id"] for i in mine} >= {pending["id"], done["id"]}
    assert {i["title"] for i in mine} <= {"p", "q", "r"}
    assert app.api.call("GET", "/images", token=stranger).json["items"] == []
    assert [e["reason"] for e in app.api.call("GET", "/me/ledger", token=stranger).json["items"]] == [
        "signup_bonus"
    ]
    assert (
        app.objects(f"images/{owner.id}/")
        and app.api.call("GET", "/me/stats", token=stranger).json["totalImages"] == 0
    )


def test_someone_elses_export_is_404_like_a_missing_one(app: Env, configure: Any) -> None:
    """GET /exports/{id} of another user's export, and an export of another user's image ids."""
    import boto3

    suffix = app.bucket.rsplit("-", 1)[-1]
    configure(EXPORT_QUEUE_URL=boto3.client("sqs").create_queue(QueueName=f"exports-{suffix}")["QueueUrl"])
    _owner, owner_token = app.user()
    _, stranger = app.user()
    done = app.api.call("POST", "/images/generate", token=owner_token, body={"prompt": "q", **SMALL}).json
    app.pipeline.drain()
    export = app.api.call("POST", "/exports", token=owner_token, body={"imageIds": [done["id"]]})
    assert export.status == 202, export.raw
    foreign = app.api.call("GET", f"/exports/{export.json['id']}", token=stranger).problem(404, "not_found")
    missing = app.api.call("GET", "/exports/00000000-0000-4000-8000-000000000000", token=stranger)
    assert foreign == missing.problem(404, "not_found")
    theirs = app.api.call("POST", "/exports", token=stranger, body={"imageIds": [done["id"]]})
    assert theirs.problem(404, "not_found")
    assert app.api.call("GET", "/exports", token=stranger).json["items"] == []


def test_every_route_answers_404_for_someone_elses_collection(app: Env) -> None:
    specs = _route_specs()
    _, owner_token = app.user(coins=500)
    _, stranger = app.user()
    image = app.api.call("POST", "/images/generate", token=owner_token, body={"prompt": "p", **SMALL}).json
    collection = app.api.call("POST", "/collections", token=owner_token, body={"title": "Mine"}).json
    add = {"action": "addToCollection", "collectionId": collection["id"], "imageIds": [image["id"]]}
    assert (
        app.api.call("POST", "/images/batch", token=owner_token, body=add).json["results"][0]["status"]
        == "ok"
    )
    routes = [(m, p) for (m, p) in specs if p.startswith("/collections/{id}")]
    assert len(routes) == 6
    for method, path in routes:
        foreign = app.api.call(
            method, _concrete(path, id=collection["id"]), token=stranger, body=_body_for(method, path)
        )
        missing = app.api.call(
            method,
            _concrete(path, id="00000000-0000-4000-8000-000000000000"),
            token=stranger,
            body=_body_for(method, path),
        )
        assert foreign.problem(404, "not_found") == missing.problem(404, "not_found"), (method, path)
    for action in ("addToCollection", "removeFromCollection"):
        body = {**add, "action": action}
        app.api.call("POST", "/images/batch", token=stranger, body=body).problem(404, "not_found")
    # The stranger's own batch on the owner's image: not found, nothing changed.
    own = app.api.call("POST", "/collections", token=stranger, body={"title": "Theirs"}).json
    taken = {"action": "addToCollection", "collectionId": own["id"], "imageIds": [image["id"]]}
    assert (
        app.api.call("POST", "/images/batch", token=stranger, body=taken).json["results"][0]["status"]
        == "not_found"
    )
    deleted = {"action": "delete", "imageIds": [image["id"]]}
    assert (
        app.api.call("POST", "/images/batch", token=stranger, body=deleted).json["results"][0]["status"]
        == "not_found"
    )
    found = app.api.call("GET", f"/collections/{collection['id']}", token=owner_token).json
    assert (found["title"], found["imageCount"], found["shared"]) == ("Mine", 1, False)


def test_someone_elses_purchase_is_404_like_a_missing_one(app: Env) -> None:
    from imagegen.purchases import CoinPack, Purchase, new_purchase_id

    specs = _route_specs()
    assert [(m, p) for (m, p), spec in specs.items() if p.startswith("/me/") and "{id}" in p] == [
        ("GET", "/me/purchases/{id}")
    ]
    owner, owner_token = app.user()
    _, stranger = app.user()
    purchase = Purchase.start(new_purchase_id(), owner.id, CoinPack("small", 500, 499, "usd", "500 coins"))
    app.ctx.repos.purchases.create(purchase)
    assert app.api.call("GET", f"/me/purchases/{purchase.id}", token=owner_token).status == 200
    foreign = app.api.call("GET", f"/me/purchases/{purchase.id}", token=stranger).problem(404, "not_found")
    missing = app.api.call("GET", f"/me/purchases/{new_purchase_id()}", token=stranger).problem(
        404, "not_found"
    )
    assert foreign == missing
    assert app.api.call("GET", "/me/purchases", token=stranger).json["items"] == []


def test_every_admin_route_is_403_for_a_user_and_401_without_a_token(app: Env) -> None:
    specs = _route_specs()
    _, admin_token = app.user(admin=True)
    user, token = app.user(coins=10)
    admin_routes = [(m, p) for (m, p), spec in specs.items() if spec.admin]
    assert all(p.startswith("/admin/") for _, p in admin_routes)
    assert {p for _, p in specs if p.startswith("/admin")} == {p for _, p in admin_routes}
    assert len(admin_routes) == 7
    for method, path in admin_routes:
        url = _concrete(path, id=user.id, role="ADMIN")
        app.api.call(method, url, token=token, body=_body_for(method, path)).problem(403, "forbidden")
        app.api.call(method, url, body=_body_for(method, path)).problem(401, "unauthorized")
    # The same calls as an admin pass the role check (so the 403s above were the role check).
    for method, path in admin_routes:
        if method == "DELETE":
            continue  # removing the role is checked through its effect below
        url = _concrete(path, id=user.id, role="ADMIN")
        reply = app.api.call(method, url, token=admin_token, body=_body_for(method, path))
        assert reply.status == 200, (method, path, reply.raw)
    assert app.api.call("GET", "/admin/users", token=token).status == 200  # the PUT made them ADMIN
    app.api.call("DELETE", f"/admin/users/{user.id}/roles/ADMIN", token=admin_token)
    app.api.call("GET", "/admin/users", token=token).problem(403, "forbidden")
    assert app.api.call("GET", "/me", token=token).json["coins"] == 11  # the one admin grant


def test_every_signed_in_route_is_401_without_a_token(app: Env) -> None:
    specs = _route_specs()
    public = {(m, p) for (m, p), spec in specs.items() if not spec.auth}
    assert public == {
        ("GET", "/health"),
        ("GET", "/auth/google/login"),
        ("GET", "/auth/google/callback"),
        ("GET", "/shop/packs"),
        ("POST", "/webhooks/stripe"),  # authenticated by its Stripe-Signature instead
        ("GET", "/generation/options"),
        ("GET", "/shared/{token}"),  # a share link: nothing of the owner, see test_collections_api
    }
    for (method, path), spec in specs.items():
        if spec.auth:
            reply = app.api.call(method, _concrete(path, role="USER"), body=_body_for(method, path))
            reply.problem(401, "unauthorized")


# ---- the token-tampering matrix --------------------------------------------------------------------
def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "roles": ["USER"],
        "jti": f"jti-{now}-{len(changes)}",
        "iat": now,
        "exp": now + 3600,
        "iss": "imagegen",
        "aud": "imagegen-api",
        "typ": "session",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _hs(claims: dict[str, Any], key: str | bytes = SIGNING_KEY, algorithm: str = "HS256") -> str:
    secret = key.encode() if isinstance(key, str) else key
    return jwt.encode(claims, secret, algorithm=algorithm)


def _matrix(user_id: str, token: str) -> Iterator[tuple[str, dict[str, str], int]]:
    """(case, headers, expected status of GET /me)."""
    head, payload, signature = token.split(".")
    bearer = lambda value: {"authorization": f"Bearer {value}"}  # noqa: E731
    pem = rsa_key("tamper").public_pem()
    yield "valid", bearer(token), 200
    yield "lowercase scheme", {"authorization": f"bearer {token}"}, 200
    yield "uppercase scheme", {"authorization": f"BEARER {token}"}, 200
    yield "extra spaces around the token", {"authorization": f"Bearer    {token}   "}, 200
    yield "tab instead of a space", {"authorization": f"Bearer\t{token}"}, 401
    yield "no scheme", {"authorization": token}, 401
    yield "basic scheme", {"authorization": "Basic dXNlcjpwYXNz"}, 401
    yield "scheme only", {"authorization": "Bearer"}, 401
    yield "empty token", {"authorization": "Bearer   "}, 401
    yield "space inside the token", bearer(f"{head}.{payload} .{signature}"), 401
    yield "alg none", bearer(unsigned_token({"alg": "none", "typ": "JWT"}, _claims(user_id))), 401
    yield "alg None", bearer(unsigned_token({"alg": "None"}, _claims(user_id))), 401
    yield (
        "alg none keeping the signature",
        bearer(unsigned_token({"alg": "none"}, _claims(user_id)).rstrip(".") + "." + signature),
        401,
    )
    yield "HS256 with a wrong key", bearer(_hs(_claims(user_id), "another-key-0123456789abcdef-xyz")), 401
    yield "HS512 with the right key", bearer(_hs(_claims(user_id), algorithm="HS512")), 401
    yield "HS384 with the right key", bearer(_hs(_claims(user_id), algorithm="HS384")), 401
    yield (
        "RS256 header, HMAC with the session key",
        bearer(hmac_token({"alg": "RS256", "typ": "JWT"}, _claims(user_id), SIGNING_KEY.encode())),
        401,
    )
    yield (
        "RS256 header, HMAC with a public key PEM",
        bearer(hmac_token({"alg": "RS256", "typ": "JWT"}, _claims(user_id), pem)),
        401,
    )
    yield "RS256 properly signed", bearer(rsa_key("tamper").sign(_claims(user_id))), 401
    yield "signature stripped", bearer(f"{head}.{payload}."), 401
    yield (
        "payload changed, signature kept",
        bearer(f"{head}.{unsigned_token({}, _claims(user_id, roles=['ADMIN'])).split('.')[1]}.{signature}"),
        401,
    )
    yield "signature of another token", bearer(f"{head}.{payload}.{_hs(_claims('x')).split('.')[2]}"), 401
    yield "four segments", bearer(f"{token}.AAAA"), 401
    yield "five segments (JWE shape)", bearer(f"{head}.{payload}.AAAA.BBBB.{signature}"), 401
    yield "not base64", bearer("@@@.###.$$$"), 401
    yield "non-ASCII", bearer("é" * 40), 401
    yield "huge", bearer("a" * 20_000), 401
    yield (
        "expired",
        bearer(_hs(_claims(user_id, iat=int(time.time()) - 7200, exp=int(time.time()) - 600))),
        401,
    )
    yield "issued far in the future", bearer(_hs(_claims(user_id, iat=int(time.time()) + 86_400))), 401
    yield "not valid before tomorrow", bearer(_hs(_claims(user_id, nbf=int(time.time()) + 86_400))), 401
    for claim in ("sub", "jti", "iat", "exp", "iss", "aud", "typ"):
        yield f"missing {claim}", bearer(_hs(_claims(user_id, **{claim: None}))), 401
    yield "wrong aud", bearer(_hs(_claims(user_id, aud="someone-else"))), 401
    yield "aud list with ours and another", bearer(_hs(_claims(user_id, aud=["imagegen-api", "x"]))), 401
    yield "wrong iss", bearer(_hs(_claims(user_id, iss="https://accounts.google.com"))), 401
    yield "wrong typ", bearer(_hs(_claims(user_id, typ="refresh"))), 401
    yield "sub not a string", bearer(_hs(_claims(user_id, sub=12345))), 401
    yield "sub of nobody", bearer(_hs(_claims("00000000-0000-4000-8000-000000000000"))), 401
    yield (
        "a Google ID token",
        bearer(
            rsa_key("google-1").sign(_claims(user_id, iss="https://accounts.google.com", aud="test-client"))
        ),
        401,
    )


def test_token_tampering_matrix(app: Env) -> None:
    user, token = app.user()
    wrong = []
    cases = list(_matrix(user.id, token))
    for name, headers, expected in cases:
        reply = app.api.call("GET", "/me", headers=headers)
        if reply.status != expected:
            wrong.append((name, reply.status, reply.raw[:120]))
        elif expected == 401:
            body = reply.problem(401, "unauthorized")
            assert "jwt" not in body["detail"].lower() and "Error" not in body["detail"], body
    assert wrong == [], wrong
    assert len(cases) > 40


def test_role_claims_in_a_token_grant_nothing(app: Env) -> None:
    """Even a genuinely signed token claiming ADMIN only carries the roles the table says."""
    user, _ = app.user()
    forged_roles = _hs(_claims(user.id, roles=["ADMIN", "USER"]))
    app.api.call("GET", "/admin/users", token=forged_roles).problem(403, "forbidden")
    assert app.api.call("GET", "/me", token=forged_roles).json["roles"] == ["USER"]


def test_tokens_die_with_their_session_and_their_user(app: Env) -> None:
    user, token = app.user()
    _, other = app.user()
    assert app.api.call("POST", "/auth/logout", token=token).status == 204
    app.api.call("GET", "/me", token=token).problem(401, "unauthorized")
    app.api.call("POST", "/auth/logout", token=token).problem(401, "unauthorized")
    assert app.api.call("DELETE", "/me", token=other).status in (202, 204)
    app.api.call("GET", "/me", token=other).problem(401, "unauthorized")
    app.api.call("GET", "/images", token=other).problem(401, "unauthorized")
    assert user.id


# ---- no secrets in the logs -------------------------------------------------------------------------
class _RecordingGoogle(FakeGoogle):
    """FakeGoogle that keeps what its token endpoint answered (the ID and access tokens)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: list[Any] = []

    def post_form(self, url: str, data: Any) -> tuple[int, Any]:
        status, body = super().post_form(url, data)
        self.answers.append(body)
        return status, body


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Every log record of the process at DEBUG, formatted as in Lambda (Powertools JSON, with extras
    and tracebacks), plus pytest's own capture."""
    from imagegen.observability import logger

    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    capture.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    caplog.set_level(logging.DEBUG, logger="imagegen")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    try:
        yield lambda: stream.getvalue() + "\n" + caplog.text
    finally:
        root.removeHandler(capture)


def test_a_whole_sign_in_logs_no_secret(app: Env, captured_logs: Callable[[], str]) -> None:
    from imagegen.auth.idtoken import JwksCache
    from imagegen.auth.oauth import GoogleSignIn

    google = _RecordingGoogle(client_id="test-client", client_secret="test-secret")
    ctx = app.ctx
    ctx.google = GoogleSignIn(
        ctx.settings, ctx.repos.ephemeral, ctx.secrets, google, jwks=JwksCache(google.jwks_url, google)
    )

    def sign_in(**claims: Any) -> tuple[dict[str, str], str, Any]:
        login = app.api.call("GET", "/auth/google/login")
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login.headers["Location"]).query))
        code = google.authorize(login.headers["Location"], **claims)
        reply = app.api.call("GET", "/auth/google/callback", query={"code": code, "state": params["state"]})
        return params, code, reply

    params, code, reply = sign_in(sub="g-logs", email="logs@example.com")
    assert reply.status == 200, reply.raw
    token = reply.json["token"]
    verifier = google.last_verifier
    assert app.api.call("GET", "/me", token=token).status == 200
    # Failure paths log too: a replayed state, a bad nonce, a tampered session token.
    app.api.call("GET", "/auth/google/callback", query={"code": code, "state": params["state"]}).problem(
        400, "invalid_state"
    )
    bad_params, bad_code, bad = sign_in(aud="someone-else")
    bad.problem(401, "invalid_id_token")
    sign_in(nonce="not-this-sign-in")[2].problem(401, "invalid_id_token")
    app.api.call("GET", "/me", token=token[:-6] + "AAAAAA").problem(401, "unauthorized")
    assert app.api.call("POST", "/auth/logout", token=token).status == 204
    app.api.call("GET", "/me", token=token).problem(401, "unauthorized")

    logs = captured_logs()
    assert "signed in" in logs and "session token rejected" in logs and "ID token rejected" in logs
    secrets = {
        "session token": token,
        "session token signature": token.rsplit(".", 1)[1],
        "authorization code": code,
        "failed sign-in's code": bad_code,
        "client secret": "test-secret",
        "state": params["state"],
        "failed sign-in's state": bad_params["state"],
        "nonce": params["nonce"],
        "PKCE verifier": verifier or "",
        "PKCE challenge": params["code_challenge"],
        "session signing key": SIGNING_KEY,
    }
    for answer in google.answers:
        if isinstance(answer, dict) and "id_token" in answer:
            secrets[f"id_token {len(secrets)}"] = answer["id_token"]
            secrets[f"id_token signature {len(secrets)}"] = answer["id_token"].rsplit(".", 1)[1]
            secrets[f"access_token {len(secrets)}"] = answer["access_token"]
    assert all(secrets.values())
    leaked = {
        name
        for name, value in secrets.items()
        if value in logs or urllib.parse.quote(value, safe="") in logs or json.dumps(value)[1:-1] in logs
    }
    assert leaked == set()
