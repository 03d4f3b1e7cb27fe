"""Schemathesis against docs/openapi.json on the local stack: every operation, over real HTTP.

One stack for the module. A user and an admin sign in through the Google stand-in; every operation
is fuzzed with the user's token (admin routes must answer 403 problems to it), and the admin routes
again with the admin's. Path ids are drawn partly from real objects (the user's images, another
user's image, a third user for the admin's coins and roles), so the 200 paths and their response
schemas are reached too, not only 404s.

Checks on every response: schemathesis' defaults (no 5xx, documented status codes, content types,
response headers and bodies against the documented schemas, negative data rejected, auth enforced,
use after free), plus ours: a 4xx is ``application/problem+json`` whose ``code`` is one of the
contract's and whose ``status`` is the response's. Changed, with the reason:

- ``unsupported_method``: it wants 405 for a method the document does not list; API Gateway's HTTP API
  (and the local gateway, which follows it) answers an unrouted method with 404, and the contract does
  not promise 405. TRACE and QUERY are left out of the unexpected methods: the local gateway (Python's
  http.server) answers them with a 501 HTML page of its own, before any route or function.
- ``positive_data_acceptance`` runs with 400 and 402 also allowed (a drawn ``state`` or ``cursor`` is
  400, a small balance 402: what a schema cannot say), but never 422.

``steer_valid_bodies`` adjusts some schema-valid bodies, each for a reason given there. The tests at the
end pin, one by one, the places where the document and the API disagreed.

Bounded: ``max_examples`` per operation and phase; the whole module takes well under a minute here.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import ADMIN_EMAIL, STACK_ENV, Reply, Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
MAX_EXAMPLES = 20

# The contract's problem codes (shared/api-contract.md and the error module).
PROBLEM_CODES = frozenset(
    {
        "validation_error",
        "invalid_json",
        "invalid_cursor",
        "invalid_state",
        "unauthorized",
        "invalid_id_token",
        "insufficient_coins",
        "forbidden",
        "email_not_verified",
        "not_found",
        "idempotency_key_reused",
        "rate_limited",
        "payload_too_large",
        "sign_in_cancelled",
        "image_not_ready",
        "conflict",
        "already_exists",
        "invalid_signature",
    }
)
# Operations whose success ends the caller's session: each case gets a freshly signed-in user.
SESSION_ENDING = {("DELETE", "/me"), ("POST", "/auth/logout")}

CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {
            "coverage": {"unexpected-methods": ["get", "put", "post", "delete", "options", "patch"]},
            "stateful": {"enabled": False},
        },
        "generation": {"with-security-parameters": False},
        "checks": {
            "unsupported_method": {"enabled": False},
            # A schema-valid request may still be refused for what a schema cannot say: a drawn
            # state or cursor (400), a balance too small (402). Never 422: the document says it all.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "402", "403", "404", "409", "429"]
            },
        },
        "operations": [
            {
                # The packs for sale are a deployment setting (COIN_PACKS): the document cannot list them,
                # so a well-formed packId that names no pack is the contract's 422 (the valid bodies of
                # the generation phases are steered to real packs, see steer_valid_bodies).
                "include-path": "/shop/checkout",
                "include-method": "POST",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            "2xx",
                            "3xx",
                            "400",
                            "401",
                            "402",
                            "403",
                            "404",
                            "409",
                            "422",
                            "429",
                        ]
                    }
                },
            }
        ],
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)
admin_schema = schema.include(tag="admin")


@dataclass
class World:
    """What the fuzzed requests point at; filled by the module fixture before any case is drawn."""

    stack: Stack | None = None
    user_token: str = ""
    user_id: str = ""
    admin_token: str = ""
    target_user_id: str = ""  # the admin's coins and roles go to this user, never to the admin
    own_images: list[str] = field(default_factory=list)  # COMPLETED, kept
    disposable_images: list[str] = field(default_factory=list)  # PENDING uploads, for DELETE to take
    foreign_images: list[str] = field(default_factory=list)
    own_purchases: list[str] = field(default_factory=list)  # checkouts on the Stripe stand-in
    own_exports: list[str] = field(default_factory=list)
    own_collections: list[str] = field(default_factory=list)  # kept (holding own images)
    disposable_collections: list[str] = field(default_factory=list)  # for DELETE to take
    foreign_collections: list[str] = field(default_factory=list)
    share_tokens: list[str] = field(default_factory=list)  # of a collection no fuzzed route changes
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    styles: list[str] = field(default_factory=list)  # the configured model's (GET /generation/options)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh_token(self) -> str:
        assert self.stack is not None
        token, _ = self.stack.sign_in(f"fuzz-throwaway-{uuid.uuid4().hex[:10]}@example.com")
        return token

    def record(self, suite: str, label: str, status: int) -> None:
        with self.lock:
            self.statuses[(suite, label, status)] += 1


WORLD = World()


@pytest.fixture(scope="module", autouse=True)
def world() -> Iterator[World]:
    stack = start_stack()
    try:
        WORLD.stack = stack
        WORLD.user_token, user = stack.sign_in(f"fuzz-user-{uuid.uuid4().hex[:8]}@example.com")
        WORLD.user_id = user["id"]
        WORLD.admin_token, admin = stack.sign_in(ADMIN_EMAIL)
        assert "ADMIN" in admin["roles"]
        other_token, _ = stack.sign_in(f"fuzz-other-{uuid.uuid4().hex[:8]}@example.com")
        _, target = stack.sign_in(f"fuzz-target-{uuid.uuid4().hex[:8]}@example.com")
        WORLD.target_user_id = target["id"]
        for i in range(2):
            created = stack.call(
                "POST", "/images/generate", token=WORLD.user_token, body={"prompt": f"seed {i}"}
            )
            assert created.status == 202, created.body
            WORLD.own_images.append(created.json()["id"])
        for i in range(3):
            upload = {"filename": f"d{i}.png", "contentType": "image/png", "size": 100}
            created = stack.call("POST", "/images/uploads", token=WORLD.user_token, body=upload)
            assert created.status == 201, created.body
            WORLD.disposable_images.append(created.json()["image"]["id"])
        created = stack.call("POST", "/images/generate", token=other_token, body={"prompt": "not yours"})
        assert created.status == 202, created.body
        WORLD.foreign_images.append(created.json()["id"])
        started = stack.call("POST", "/shop/checkout", token=WORLD.user_token, body={"packId": "small"})
        assert started.status == 201, started.body
        WORLD.own_purchases.append(started.json()["purchase"]["id"])
        for image_id in WORLD.own_images:
            assert stack.wait_for(WORLD.user_token, image_id)["status"] == "COMPLETED"
        exported = stack.call("POST", "/exports", token=WORLD.user_token, body={"imageIds": WORLD.own_images})
        assert exported.status == 202, exported.body
        WORLD.own_exports.append(exported.json()["id"])
        _collections(stack, other_token)
        yield WORLD
    finally:
        stop_stack(stack)
        WORLD.stack = None


def _collections(stack: Stack, other_token: str) -> None:
    """The user's collections (one kept with the own images, some to delete, one shared that no fuzzed
    route gets the id of), and another user's."""

    def create(token: str, title: str) -> str:
        created = stack.call("POST", "/collections", token=token, body={"title": title})
        assert created.status == 201, created.body
        collection_id: str = created.json()["id"]
        return collection_id

    kept = create(WORLD.user_token, "kept")
    add = {"action": "addToCollection", "collectionId": kept, "imageIds": WORLD.own_images}
    assert stack.call("POST", "/images/batch", token=WORLD.user_token, body=add).status == 200
    WORLD.own_collections.append(kept)
    WORLD.disposable_collections += [create(WORLD.user_token, f"d{i}") for i in range(3)]
    WORLD.foreign_collections.append(create(other_token, "not yours"))
    shared = create(WORLD.user_token, "shared")
    add = {**add, "collectionId": shared}
    assert stack.call("POST", "/images/batch", token=WORLD.user_token, body=add).status == 200
    link = stack.call("POST", f"/collections/{shared}/share", token=WORLD.user_token).json()["shareUrl"]
    WORLD.share_tokens.append(link.rsplit("/", 1)[1])


# ---- real ids among the drawn ones ------------------------------------------------------------------
def _id_pool(method: str, path: str) -> list[str]:
    if (method, path) == ("DELETE", "/images/{id}"):
        return [*WORLD.disposable_images, *WORLD.foreign_images]
    if (method, path) == ("DELETE", "/collections/{id}"):
        return [*WORLD.disposable_collections, *WORLD.foreign_collections]
    if path.startswith("/collections/"):
        return [*WORLD.own_collections, *WORLD.foreign_collections]
    if path.startswith("/images/"):
        return [*WORLD.own_images, *WORLD.foreign_images]
    if path.startswith("/admin/users/"):
        return [WORLD.target_user_id, WORLD.user_id]
    if path == "/me/purchases/{id}":
        return list(WORLD.own_purchases)
    if path.startswith("/exports/"):
        return list(WORLD.own_exports)
    return []


@schema.hook("flatmap_path_parameters")
def real_ids(context: schemathesis.HookContext, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters or context.operation is None:
        return st.just(path_parameters)
    pool = _id_pool(context.operation.method.upper(), context.operation.path)
    drawn = st.just(path_parameters)
    if "id" in path_parameters and pool:
        drawn = st.one_of(drawn, st.sampled_from(pool).map(lambda i: {**path_parameters, "id": i}))
    # Only in place of a token the document allows: a drawn one that breaks its pattern is a negative
    # case, which must stay as drawn.
    token_like = re.fullmatch(r"[A-Za-z0-9_-]+", str(path_parameters.get("token", ""))) is not None
    if "token" in path_parameters and WORLD.share_tokens and token_like:
        drawn = st.one_of(
            drawn, st.sampled_from(WORLD.share_tokens).map(lambda t: {**path_parameters, "token": t})
        )
    if "role" in path_parameters:
        drawn = drawn.flatmap(
            lambda p: st.sampled_from([p["role"], "USER", "ADMIN"]).map(lambda r: {**p, "role": r})
        )
    return drawn


MAX_UPLOAD_BYTES = int(STACK_ENV["MAX_UPLOAD_BYTES"])


@schema.hook("flatmap_body")
def steer_valid_bodies(context: schemathesis.HookContext, body: Any) -> Any:
    """Adjust schema-valid bodies only (a negative case stays as drawn), each for a stated reason:

    - coins: a drawn amount is a debit half the time (402 on a small balance) and a drawn reason is
      rarely plain, so half the valid bodies become a small grant with a plain reason: the 200 path
      (its CoinChange schema) is reached in every run;
    - uploads: ``size`` is capped at the stack's MAX_UPLOAD_BYTES, a deployment setting the document
      cannot carry (over it is a 422 by design);
    - generation options: a drawn ``style`` becomes one of the configured model's styles (``GET
      /generation/options``): which styles exist is the deployment's provider, which the document
      cannot carry either (another is a 422 naming the field, by design).
    - exports: some valid bodies name the user's own images or their kept collection (drawn ids name
      none: 404), so the 202 path is reached for both forms;
    - checkout: ``packId`` is one of the stack's packs (COIN_PACKS, a deployment setting too: another id
      is a 422 by design), so the 201 path (a Checkout Session on the Stripe stand-in) is reached.
    """
    operation = context.operation
    if operation is None or not isinstance(body, dict) or not body:
        return st.just(body)
    method, path = operation.method.lower(), operation.path
    if not _body_validator(method, path).is_valid(body):
        return st.just(body)
    body = dict(body)
    if path == "/images/uploads":
        body["size"] = min(body["size"], MAX_UPLOAD_BYTES)
    if path == "/shop/checkout":
        from imagegen.purchases import DEFAULT_COIN_PACKS

        return st.sampled_from([{**body, "packId": str(pack["id"])} for pack in DEFAULT_COIN_PACKS])
    if path in ("/images/generate", "/images/{id}/variations") and body.get("style") is not None:
        styles = _configured_styles()
        body["style"] = styles[sum(map(ord, str(body["style"]))) % len(styles)] if styles else None
    if path == "/exports":
        own = [
            {"imageIds": list(WORLD.own_images)},
            *({"collectionId": c} for c in WORLD.own_collections[:1]),
        ]
        return st.sampled_from([body, *own])
    if path == "/admin/users/{id}/coins":
        grant = {**body, "reason": "fuzz grant", "amount": int(abs(body["amount"])) % 1000 + 1}
        return st.sampled_from([body, grant])
    return st.just(body)


def _configured_styles() -> list[str]:
    if not WORLD.styles and WORLD.stack is not None:
        options = WORLD.stack.call("GET", "/generation/options").json()
        WORLD.styles = [style["id"] for style in options["styles"]]
    return WORLD.styles


# ---- our check ------------------------------------------------------------------------------------
def problem_details(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """No 5xx; every 4xx is a problem document with one of the contract's codes and the right status."""
    status = response.status_code
    assert status < 500, f"{case.method} {case.formatted_path} -> {status}: {response.content[:300]!r}"
    if status < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == "application/problem+json", (
        f"{status} with Content-Type {content_type!r}: {response.content[:300]!r}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert body.get("code") in PROBLEM_CODES, f"unknown problem code in {body}"
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str), body


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _run(suite: str, case: schemathesis.Case, token: str) -> None:
    """Send the case with the suite's token, record the status, run every check.

    The token goes in as an explicit header (not a generated one), so ``ignored_auth`` knows it is
    valid and probes the operation without it and with a wrong one."""
    assert WORLD.stack is not None
    if (case.method.upper(), case.path) in SESSION_ENDING:
        token = WORLD.fresh_token()
    headers = {"Authorization": f"Bearer {token}"}
    transport = {"base_url": WORLD.stack.url, "headers": headers, "timeout": 30}
    response = case.call(**transport)
    WORLD.record(suite, case.operation.label, response.status_code)
    excluded = []
    if (
        case.method == "DELETE"
        and case.path.endswith("/roles/{role}")
        and case.path_parameters["role"] == "USER"
    ):
        excluded.append(positive_data_acceptance)  # test_removing_user_role_document_and_api_agree
    body = case.body if isinstance(case.body, dict) else {}
    if (
        case.path in ("/images/generate", "/images/{id}/variations")
        and body.get("style") is not None
        and body["style"] not in _configured_styles()
    ):
        # Which styles exist is the deployment's provider (the coverage phase draws ids unhooked):
        # test_styles_follow_the_configured_model checks that answer.
        excluded.append(positive_data_acceptance)
    case.validate_response(
        response,
        headers=headers,
        transport_kwargs=transport,
        additional_checks=[problem_details],
        excluded_checks=excluded,
    )


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_as_a_user(case: schemathesis.Case) -> None:
    _run("user", case, WORLD.user_token)


@admin_schema.parametrize()
@FUZZ_SETTINGS
def test_admin_operations_as_an_admin(case: schemathesis.Case) -> None:
    _run("admin", case, WORLD.admin_token)


def test_the_fuzzing_reached_the_success_paths() -> None:
    """The runs above must have got past validation and auth, or they proved little."""
    if not WORLD.statuses:
        pytest.skip("the fuzzing tests were deselected")
    seen: dict[tuple[str, str], set[int]] = {}
    for suite, label, status in WORLD.statuses:
        seen.setdefault((suite, label), set()).add(status)
    for result in schema.get_all_operations():
        label = result.ok().label
        statuses = seen.get(("user", label), set())
        assert statuses, f"{label} was never called"
        if label.split(" ", 1)[1].startswith("/admin/"):
            assert 403 in statuses, (label, statuses)
            by_admin = seen.get(("admin", label), set())
            assert any(200 <= s < 300 for s in by_admin), (label, by_admin)
        elif label == "POST /webhooks/stripe":  # a drawn request carries no valid Stripe-Signature
            assert 400 in statuses and min(statuses) >= 400, (label, statuses)
        elif label != "GET /auth/google/callback":  # a drawn code and state cannot succeed
            assert any(200 <= s < 400 for s in statuses), (label, statuses)


# ---- where the document and the API disagree (found by the fuzzer) ---------------------------------
# Each test asks that the API's answer and the document's verdict agree, so it passes whichever side is
# fixed; each once failed (document and API disagreed) and now guards the agreement.
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    return document


def _body_validator(method: str, path: str) -> Any:
    import jsonschema

    operation = _document()["paths"][path][method]
    return jsonschema.Draft202012Validator(operation["requestBody"]["content"]["application/json"]["schema"])


def _query_validator(method: str, path: str, name: str) -> Any:
    import jsonschema

    (parameter,) = [p for p in _document()["paths"][path][method]["parameters"] if p["name"] == name]
    return jsonschema.Draft202012Validator(parameter["schema"])


def _accepted(reply: Reply) -> bool:
    assert reply.status < 500, reply.body
    if reply.status == 422:
        assert reply.json()["code"] == "validation_error", reply.body
        return False
    assert 200 <= reply.status < 300, reply.body
    return True


def test_control_characters_document_and_api_agree() -> None:
    assert WORLD.stack is not None
    bodies = [
        ("patch", "/me", {"firstName": "Ada\u0007"}),
        (
            "post",
            "/images/uploads",
            {"filename": "a.png", "contentType": "image/png", "size": 1, "title": "a\tb"},
        ),
        ("post", "/images/uploads", {"filename": "a\u0001.png", "contentType": "image/png", "size": 1}),
        ("post", "/images/generate", {"prompt": "a fox", "title": "line\nbreak"}),
    ]
    token = WORLD.fresh_token()
    disagree = []
    for method, path, body in bodies:
        reply = WORLD.stack.call(method.upper(), path, token=token, body=body)
        if _accepted(reply) != _body_validator(method, path).is_valid(body):
            disagree.append((method.upper(), path, body, reply.status))
    assert not disagree, disagree


def test_integral_numbers_document_and_api_agree() -> None:
    assert WORLD.stack is not None
    body = {"prompt": "integral", "width": 512.0}
    reply = WORLD.stack.call("POST", "/images/generate", token=WORLD.fresh_token(), body=body)
    assert _accepted(reply) == _body_validator("post", "/images/generate").is_valid(body), reply.body


def test_zero_coins_document_and_api_agree() -> None:
    assert WORLD.stack is not None
    body = {"amount": 0, "reason": "nothing"}
    path = f"/admin/users/{WORLD.target_user_id}/coins"
    reply = WORLD.stack.call("POST", path, token=WORLD.admin_token, body=body)
    assert _accepted(reply) == _body_validator("post", "/admin/users/{id}/coins").is_valid(body), reply.body


def test_carriage_returns_document_and_api_agree() -> None:
    assert WORLD.stack is not None
    for method, path, body in (
        ("post", "/images/generate", {"prompt": "line\r\nbreak"}),
        ("post", "/images/generate", {"prompt": "a fox", "description": "line\r\nbreak"}),
    ):
        reply = WORLD.stack.call(method.upper(), path, token=WORLD.fresh_token(), body=body)
        assert _accepted(reply) == _body_validator(method, path).is_valid(body), (path, body, reply.body)


def test_roles_document_and_api_agree() -> None:
    import jsonschema

    assert WORLD.stack is not None
    operation = _document()["paths"]["/admin/users/{id}/roles/{role}"]["put"]
    (role,) = [p for p in operation["parameters"] if p["name"] == "role"]
    reply = WORLD.stack.call(
        "PUT", f"/admin/users/{WORLD.target_user_id}/roles/EDITOR", token=WORLD.admin_token
    )
    assert _accepted(reply) == jsonschema.Draft202012Validator(role["schema"]).is_valid("EDITOR"), reply.body


def test_removing_user_role_document_and_api_agree() -> None:
    import jsonschema

    assert WORLD.stack is not None
    operation = _document()["paths"]["/admin/users/{id}/roles/{role}"]["delete"]
    (role,) = [p for p in operation["parameters"] if p["name"] == "role"]
    path = f"/admin/users/{WORLD.target_user_id}/roles/USER"
    reply = WORLD.stack.call("DELETE", path, token=WORLD.admin_token)
    assert reply.status < 500, reply.body
    # 422 says "invalid input", which the document must then say too; a 409 (a rule about this user's
    # state) would be a valid answer to a valid request.
    invalid = reply.status == 422
    assert invalid != jsonschema.Draft202012Validator(role["schema"]).is_valid("USER"), reply.body


def test_empty_list_filters_document_and_api_agree() -> None:
    assert WORLD.stack is not None
    for path, token in (("/images", WORLD.user_token), ("/admin/images", WORLD.admin_token)):
        for name in ("type", "status"):
            reply = WORLD.stack.call("GET", path, token=token, query={name: ""})
            assert _accepted(reply) == _query_validator("get", path, name).is_valid(""), (path, name)


def test_styles_follow_the_configured_model() -> None:
    """A style the configured model offers (GET /generation/options) is accepted; any other id, valid
    for the document, is a 422 naming ``style``: the deployment's provider decides, never silently."""
    assert WORLD.stack is not None
    styles = _configured_styles()
    assert styles, "the local provider offers styles"
    body = {"prompt": "styled", "width": 256, "height": 256}
    accepted = WORLD.stack.call(
        "POST", "/images/generate", token=WORLD.fresh_token(), body={**body, "style": styles[0]}
    )
    assert accepted.status == 202, accepted.body
    assert _body_validator("post", "/images/generate").is_valid({**body, "style": "not-offered"})
    refused = WORLD.stack.call(
        "POST", "/images/generate", token=WORLD.fresh_token(), body={**body, "style": "not-offered"}
    )
    assert refused.status == 422, refused.body
    assert [e["field"] for e in refused.json()["errors"]] == ["style"]
