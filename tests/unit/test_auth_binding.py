"""A sign-in is bound to the browser that started it: the flow cookie's value, its check, and the
service refusing an unbound callback before the state is used up."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest
from imagegen.auth.binding import COOKIE_NAME, cookie_values, is_bound, needs_secure, state_digest
from imagegen.auth.oauth import STATE_NAMESPACE, Authorization, VerifiedIdentity
from imagegen.errors import InvalidState
from imagegen.services.sign_in import SignInService

from tests.memory import Wiring, wire

STATE = "s" * 43


def test_the_cookie_carries_the_sha256_of_the_state_never_the_state() -> None:
    assert state_digest(STATE) == hashlib.sha256(STATE.encode()).hexdigest()
    assert STATE not in state_digest(STATE)


def test_only_the_flows_own_digest_binds() -> None:
    mine = f"{COOKIE_NAME}={state_digest(STATE)}"
    assert is_bound([mine], STATE)
    assert is_bound(["theme=dark", mine, "other=1"], STATE)
    assert is_bound([f"theme=dark; {mine}"], STATE)  # a whole Cookie header's worth, too
    assert is_bound([f"{COOKIE_NAME}=junk", mine], STATE)  # a stale duplicate does not hide it
    assert not is_bound([], STATE)
    assert not is_bound([f"{COOKIE_NAME}={state_digest('another-flow')}"], STATE)
    assert not is_bound([f"{COOKIE_NAME}={STATE}"], STATE)  # the state itself is not the binding
    assert not is_bound([f"{COOKIE_NAME}="], STATE)
    assert not is_bound([f"other_{COOKIE_NAME}={state_digest(STATE)}"], STATE)
    assert not is_bound([f"{COOKIE_NAME}={state_digest(STATE)}é"], STATE)
    assert cookie_values([f"a=1; {COOKIE_NAME}=x", f"{COOKIE_NAME}=y"]) == ["x", "y"]


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://abc.execute-api.eu-west-1.amazonaws.com/auth/google/callback", True),
        ("https://api.example.com/auth/google/callback", True),
        ("http://127.0.0.1:3000/auth/google/callback", False),
        ("http://localhost:8080/auth/google/callback", False),
        ("http://[::1]:3000/auth/google/callback", False),
        ("http://0.0.0.0:3000/auth/google/callback", False),
        ("http://api.example.com/auth/google/callback", True),  # fails closed: a browser drops it
        ("http://192.168.1.20:3000/auth/google/callback", True),
        ("https://127.0.0.1:3000/auth/google/callback", True),
    ],
)
def test_secure_everywhere_but_the_local_stack(url: str, secure: bool) -> None:
    assert needs_secure(url) is secure


# ---- the service ---------------------------------------------------------------------------------
@dataclass
class _Google:
    """The GoogleSignIn collaborator, recording whether the flow got past the binding check."""

    identity: VerifiedIdentity
    finished: list[str] = field(default_factory=list)

    def authorize(self, redirect_uri: str) -> Authorization:
        return Authorization(url=f"https://accounts.test/auth?state={STATE}", state=STATE)

    def finish(self, code: str, state: str) -> VerifiedIdentity:
        self.finished.append(state)
        return self.identity


def _service(w: Wiring, google: _Google) -> SignInService:
    return SignInService(
        users=w.repos.users,
        google=google,  # type: ignore[arg-type]
        sessions=w.sessions,
        states=w.repos.ephemeral,
        settings=w.settings,
    )


def _google() -> _Google:
    return _Google(VerifiedIdentity("g-ada", "ada@example.com", True, "Ada", "Lovelace", "en"))


def test_begin_returns_the_digest_the_browser_must_carry() -> None:
    started = _service(wire(), _google()).begin("https://api.example.com/auth/google/callback")
    assert started.url.startswith("https://accounts.test/auth?")
    assert started.binding == state_digest(STATE)


@pytest.mark.parametrize("cookies", [[], [f"{COOKIE_NAME}={state_digest('another-flow')}"]])
def test_an_unbound_callback_is_invalid_state_and_leaves_the_state(cookies: list[str]) -> None:
    w, google = wire(), _google()
    w.repos.ephemeral.put_new(STATE_NAMESPACE, STATE, {"nonce": "n"}, 600)
    service = _service(w, google)
    with pytest.raises(InvalidState):
        service.finish("code", STATE, cookies)
    with pytest.raises(InvalidState):
        service.cancel(STATE, cookies)
    assert google.finished == []  # never reached Google
    assert w.repos.ephemeral.take(STATE_NAMESPACE, STATE) == {"nonce": "n"}  # still there


def test_a_bound_callback_finishes_and_a_bound_cancel_uses_up_the_state() -> None:
    w, google = wire(), _google()
    bound = [f"{COOKIE_NAME}={state_digest(STATE)}"]
    assert _service(w, google).finish("code", STATE, bound).user.email == "ada@example.com"
    assert google.finished == [STATE]
    w.repos.ephemeral.put_new(STATE_NAMESPACE, STATE, {"nonce": "n"}, 600)
    _service(w, google).cancel(STATE, bound)
    assert w.repos.ephemeral.take(STATE_NAMESPACE, STATE) is None
