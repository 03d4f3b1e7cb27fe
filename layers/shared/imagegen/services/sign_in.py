"""Sign-in with Google: start the flow, finish it into a user (created on first sign-in) and a session.

A flow is bound to the browser that started it: :meth:`SignInService.begin` returns the value the
browser must carry back (the state's digest, set as a cookie by the HTTP layer), and the callback's
``cancel``/``finish`` refuse a state without it (:class:`InvalidState`) *before* using the state up, so
a callback URL opened in another browser neither signs that browser in nor spoils the real flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagegen.auth.admin import is_admin_email
from imagegen.auth.binding import is_bound, state_digest
from imagegen.errors import EmailNotVerified, InvalidState
from imagegen.models import User, UserRole
from imagegen.observability import logger
from imagegen.ports import EphemeralStore, UserRepository
from imagegen.settings import Settings

if TYPE_CHECKING:
    from imagegen.auth.oauth import GoogleSignIn
    from imagegen.auth.sessions import SessionTokens


@dataclass(frozen=True)
class SignInStart:
    url: str  # Google's authorization URL
    binding: str  # what the browser that started the flow carries back: the state's digest


@dataclass(frozen=True)
class SignInResult:
    token: str
    expires_at: str
    user: User
    created: bool


class SignInService:
    def __init__(
        self,
        *,
        users: UserRepository,
        google: GoogleSignIn,
        sessions: SessionTokens,
        states: EphemeralStore,
        settings: Settings,
    ) -> None:
        self.users = users
        self.google = google
        self.sessions = sessions
        self.states = states
        self.settings = settings

    def begin(self, redirect_uri: str) -> SignInStart:
        started = self.google.authorize(redirect_uri)
        return SignInStart(url=started.url, binding=state_digest(started.state))

    def cancel(self, state: str, cookies: Iterable[str]) -> None:
        """Google answered with an error: the state is used up all the same (single use), but only by
        the browser that started the flow."""
        from imagegen.auth.oauth import STATE_NAMESPACE

        self._check_bound(state, cookies)
        self.states.take(STATE_NAMESPACE, state)

    def finish(self, code: str, state: str, cookies: Iterable[str]) -> SignInResult:
        """``cookies``: the request's cookies (``name=value``); the flow's binding must be among them."""
        self._check_bound(state, cookies)
        identity = self.google.finish(code, state)
        if not identity.email_verified:  # finish() refuses these already; never let one through
            raise EmailNotVerified("The Google account's email address is not verified.")
        admin = is_admin_email(identity.email, identity.email_verified, self.settings)
        user, created = self.users.find_or_create_by_google(
            identity.to_profile(), signup_bonus=self.settings.signup_bonus_coins, admin=admin
        )
        if admin and not user.is_admin():
            user = self.users.add_role(user.id, UserRole.ADMIN)
        token, expires_at, _jti = self.sessions.issue(user)
        logger.info("signed in", extra={"user_id": user.id, "new_user": created})
        return SignInResult(token=token, expires_at=expires_at, user=user, created=created)

    @staticmethod
    def _check_bound(state: str, cookies: Iterable[str]) -> None:
        """Before the state is touched: a browser that did not start this flow gets ``invalid_state``
        and the state stays usable for the one that did."""
        if not is_bound(cookies, state):
            logger.info("sign-in callback without its flow's cookie")
            raise InvalidState("This sign-in was not started in this browser; sign in again from here.")
