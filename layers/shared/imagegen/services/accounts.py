"""Account use cases: sign-in, session checks, profile, ledger, stats, account deletion, admin."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from imagegen.errors import EmailNotVerified, NotFound, Unauthorized, ValidationError
from imagegen.models import LedgerEntry, LedgerReason, User, UserRole, UserStats, new_id
from imagegen.observability import logger
from imagegen.persistence.idempotency import run_once
from imagegen.ports import Page
from imagegen.queues import LedgerCommand
from imagegen.services.context import AppContext

BEARER = "bearer "
# How much of a user's data one request deletes before handing the rest to the queue.
DELETE_BUDGET_SECONDS = 10.0
DELETE_BATCH_ITEMS = 500


@dataclass(frozen=True)
class Principal:
    user: User
    jti: str
    expires_at: int

    @property
    def user_id(self) -> str:
        return self.user.id

    def is_admin(self) -> bool:
        return self.user.is_admin()


@dataclass(frozen=True)
class SignInResult:
    token: str
    expires_at: str
    user: User
    created: bool


class AccountService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # ---- sessions --------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind a ``Bearer`` session token, with roles as they are NOW in the table."""
        if not authorization or not authorization[: len(BEARER)].lower() == BEARER:
            raise Unauthorized("A Bearer session token is required.")
        claims = self.ctx.sessions.authenticate(
            authorization[len(BEARER) :].strip(), self.ctx.repos.ephemeral
        )
        user = self.ctx.repos.users.find_by_id(claims.user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.")
        return Principal(user=user, jti=claims.jti, expires_at=claims.expires_at)

    def logout(self, principal: Principal) -> None:
        self.ctx.sessions.revoke(principal.jti, principal.expires_at, self.ctx.repos.ephemeral)

    def begin_sign_in(self, redirect_uri: str) -> str:
        return self.ctx.google.start(redirect_uri)

    def finish_sign_in(self, code: str, state: str) -> SignInResult:
        from imagegen.auth.admin import is_admin_email

        identity = self.ctx.google.finish(code, state)
        if not identity.email_verified:  # finish() refuses these already; never let one through
            raise EmailNotVerified("The Google account's email address is not verified.")
        settings = self.ctx.settings
        admin = is_admin_email(identity.email, identity.email_verified, settings)
        user, created = self.ctx.repos.users.find_or_create_by_google(
            identity.to_profile(), signup_bonus=settings.signup_bonus_coins, admin=admin
        )
        if admin and not user.is_admin():
            user = self.ctx.repos.users.add_role(user.id, UserRole.ADMIN)
        token, expires_at, _jti = self.ctx.sessions.issue(user)
        logger.info("signed in", extra={"user_id": user.id, "new_user": created})
        return SignInResult(token=token, expires_at=expires_at, user=user, created=created)

    # ---- the caller's own account ----------------------------------------------------------
    def update_profile(self, user_id: str, changes: dict[str, Any]) -> User:
        return self.ctx.repos.users.update(
            user_id,
            first_name=changes.get("firstName"),
            last_name=changes.get("lastName"),
            language=changes.get("language"),
        )

    def stats(self, user_id: str) -> UserStats:
        return self.ctx.repos.users.get_stats(user_id)

    def ledger(self, user_id: str, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        return self.ctx.repos.ledger.find_by_user_id(user_id, limit, cursor)

    def delete_account(self, user_id: str, *, budget_seconds: float = DELETE_BUDGET_SECONDS) -> bool:
        """Delete the user, their images, ledger and every stored object. Resumable.

        Returns True when everything is gone; False when the rest was handed to the ledger queue
        (a ``purge_user`` command), which calls this again until done."""
        deadline = time.monotonic() + budget_seconds
        storage, settings = self.ctx.storage, self.ctx.settings
        storage.delete_prefix(f"{settings.bucket_prefix}/{user_id}/")
        storage.delete_prefix(f"{settings.thumbnail_prefix}/{user_id}/")
        while True:
            if self.ctx.repos.users.delete(user_id, max_items=DELETE_BATCH_ITEMS):
                return True
            if time.monotonic() > deadline:
                self.ctx.publisher.publish(
                    settings.ledger_queue_url,
                    LedgerCommand(command="purge_user", key=f"purge:{user_id}:{new_id()}", user_id=user_id),
                )
                return False

    # ---- admin -----------------------------------------------------------------------------
    def get_user(self, user_id: str) -> User:
        user = self.ctx.repos.users.find_by_id(user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    def list_users(self, limit: int, cursor: str | None, email: str | None) -> Page[User]:
        if email:
            found = self.ctx.repos.users.find_by_email(email.strip().lower())
            return Page(items=[found] if found else [], next_cursor=None)
        return self.ctx.repos.users.find_all(limit, cursor)

    def change_coins(
        self, admin: Principal, user_id: str, amount: Any, reason: Any, idempotency_key: str | None
    ) -> dict[str, Any]:
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int)
            or amount == 0
            or abs(amount) > 1_000_000_000
        ):
            raise ValidationError.single("amount", "must be a non-zero integer (negative to debit)")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise ValidationError.single("reason", "must be a non-empty string of at most 500 characters")
        self.get_user(user_id)
        note = reason.strip()

        def apply() -> dict[str, Any]:
            key = f"admin:{admin.user_id}:{idempotency_key or new_id()}"
            users = self.ctx.repos.users
            if amount > 0:
                change = users.add_coins(
                    user_id, amount, reason=LedgerReason.ADMIN_GRANT, idempotency_key=key, note=note
                )
            else:
                change = users.deduct_coins(
                    user_id, -amount, reason=LedgerReason.ADMIN_DEBIT, idempotency_key=key, note=note
                )
            logger.info(
                "admin coin change",
                extra={
                    "admin_id": admin.user_id,
                    "user_id": user_id,
                    "amount": amount,
                    "entry_id": change.entry.id,
                },
            )
            return {"user": change.user.to_json(), "entry": change.entry.to_json()}

        return run_once(
            table_name=self.ctx.settings.table_name,
            user_id=user_id,
            scope=f"admin-coins:{admin.user_id}",
            key=idempotency_key,
            payload={"amount": amount, "reason": note},
            fn=apply,
        )

    def set_role(self, user_id: str, role: str, *, present: bool) -> User:
        try:
            parsed = UserRole(role)
        except ValueError as exc:
            raise ValidationError.single(
                "role", f"must be one of {', '.join(r.value for r in UserRole)}"
            ) from exc
        self.get_user(user_id)
        users = self.ctx.repos.users
        return users.add_role(user_id, parsed) if present else users.remove_role(user_id, parsed)
