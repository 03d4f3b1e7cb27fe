"""Admin use cases: look users up, grant or debit coins, add and remove roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagegen.commands import ChangeCoins, request_hash
from imagegen.errors import IdempotencyKeyReused, NotFound
from imagegen.models import LedgerEntry, LedgerReason, User, UserRole
from imagegen.observability import logger
from imagegen.ports import IdSource, OnceKey, Page, UserRepository
from imagegen.services.images import client_key, server_key


@dataclass(frozen=True)
class CoinsChanged:
    user: User
    entry: LedgerEntry

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "entry": self.entry.to_json()}


class AdminService:
    def __init__(self, *, users: UserRepository, ids: IdSource) -> None:
        self.users = users
        self.ids = ids

    def get_user(self, user_id: str) -> User:
        user = self.users.find_by_id(user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    def list_users(self, limit: int, cursor: str | None, email: str | None) -> Page[User]:
        if email:
            found = self.users.find_by_email(email.strip().lower())
            return Page(items=[found] if found else [], next_cursor=None)
        return self.users.find_all(limit, cursor)

    def change_coins(
        self, admin_id: str, user_id: str, command: ChangeCoins, idempotency_key: str | None = None
    ) -> CoinsChanged:
        """Grant (positive) or debit (negative) coins; with an ``Idempotency-Key``, at most once per
        admin and key (the same key with another body is ``409``)."""
        self.get_user(user_id)
        if idempotency_key:
            once = OnceKey(client_key(f"admin-coins:{admin_id}", idempotency_key), request_hash(command))
        else:
            once = OnceKey(server_key("admin-coins", self.ids.new_id()))
        reason = LedgerReason.ADMIN_GRANT if command.amount > 0 else LedgerReason.ADMIN_DEBIT
        change = self.users.change_coins(
            user_id, command.amount, reason=reason, once=once, note=command.reason
        )
        if not change.applied:
            recorded = change.operation.request_hash if change.operation is not None else None
            if recorded != once.request_hash:
                raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        assert change.entry is not None  # a coin change of a non-zero amount always writes an entry
        logger.info(
            "admin coin change",
            extra={
                "admin_id": admin_id,
                "user_id": user_id,
                "amount": command.amount,
                "entry_id": change.entry.id,
                "replayed": not change.applied,
            },
        )
        user = change.user if change.applied else self.get_user(user_id)
        return CoinsChanged(user=user, entry=change.entry)

    def set_role(self, user_id: str, role: UserRole, *, present: bool) -> User:
        self.get_user(user_id)
        return self.users.add_role(user_id, role) if present else self.users.remove_role(user_id, role)
