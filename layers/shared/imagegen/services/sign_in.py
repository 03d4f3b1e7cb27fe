"""Sign-in with Google: start the flow, finish it into a user (created on first sign-in) and a session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagegen.auth.admin import is_admin_email
from imagegen.errors import EmailNotVerified
from imagegen.models import User, UserRole
from imagegen.observability import logger
from imagegen.ports import EphemeralStore, UserRepository
from imagegen.settings import Settings

if TYPE_CHECKING:
    from imagegen.auth.oauth import GoogleSignIn
    from imagegen.auth.sessions import SessionTokens


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

    def begin(self, redirect_uri: str) -> str:
        return self.google.start(redirect_uri)

    def cancel(self, state: str) -> None:
        """Google answered with an error: the state is used up all the same (single use)."""
        from imagegen.auth.oauth import STATE_NAMESPACE

        self.states.take(STATE_NAMESPACE, state)

    def finish(self, code: str, state: str) -> SignInResult:
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
