"""Repository and service interfaces (ports). Use cases depend on these, never on an SDK.

One DynamoDB implementation lives in ``imagegen.persistence``; tests may use small fakes.
Every list is cursor-paginated: ``cursor`` is the opaque string of the previous page's
``next_cursor``; a forged, foreign or stale-format cursor raises ``InvalidCursor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from imagegen.models import (
    Image,
    ImageStatus,
    ImageType,
    LedgerEntry,
    LedgerReason,
    User,
    UserRole,
    UserStats,
)


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class GoogleProfile:
    google_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    language: str = "en"


@dataclass(frozen=True)
class CoinChange:
    """Result of a coin operation. ``applied`` is False when the idempotency key was already used:
    then ``entry`` is the entry that the first application wrote."""

    user: User
    entry: LedgerEntry
    applied: bool


@dataclass(frozen=True)
class Charge:
    """Coins taken from the image's owner in the same transaction that creates the image."""

    amount: int
    reason: LedgerReason
    idempotency_key: str


class UserRepository(Protocol):
    def create(self, user: User, *, signup_bonus: int = 0) -> User: ...
    def find_by_id(self, user_id: str) -> User | None: ...
    def find_by_email(self, email: str) -> User | None: ...
    def find_or_create_by_google(
        self, profile: GoogleProfile, *, signup_bonus: int, admin: bool
    ) -> tuple[User, bool]: ...
    def update(
        self,
        user_id: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        language: str | None = None,
    ) -> User: ...
    def delete(self, user_id: str, *, max_items: int | None = None) -> bool: ...
    def find_all(self, limit: int = 20, cursor: str | None = None) -> Page[User]: ...
    def deduct_coins(
        self,
        user_id: str,
        amount: int,
        *,
        reason: LedgerReason,
        idempotency_key: str,
        image_id: str | None = None,
        note: str | None = None,
    ) -> CoinChange: ...
    def add_coins(
        self,
        user_id: str,
        amount: int,
        *,
        reason: LedgerReason,
        idempotency_key: str,
        image_id: str | None = None,
        note: str | None = None,
    ) -> CoinChange: ...
    def add_role(self, user_id: str, role: UserRole) -> User: ...
    def remove_role(self, user_id: str, role: UserRole) -> User: ...
    def get_stats(self, user_id: str) -> UserStats: ...


class ImageRepository(Protocol):
    def create(self, image: Image, *, charge: Charge | None = None) -> Image: ...
    def find_by_id(self, image_id: str) -> Image | None: ...
    def find_by_storage_key(self, storage_key: str) -> Image | None: ...
    def update(
        self,
        image_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Image: ...
    def delete(self, image_id: str) -> Image | None: ...
    def find_by_user_id(
        self,
        user_id: str,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]: ...
    def find_all(
        self,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]: ...
    def find_stuck(self, status: ImageStatus, older_than: str, limit: int = 100) -> list[Image]: ...
    def update_status(
        self,
        image_id: str,
        status: ImageStatus,
        *,
        expected: ImageStatus | None = None,
        **changes: object,
    ) -> Image: ...
    def fail_and_refund(
        self, image_id: str, reason: str, *, allow_completed: bool = False
    ) -> tuple[Image, LedgerEntry | None]: ...


class LedgerRepository(Protocol):
    def find_by_user_id(
        self, user_id: str, limit: int = 20, cursor: str | None = None
    ) -> Page[LedgerEntry]: ...
    def all_for_user(self, user_id: str) -> list[LedgerEntry]: ...


class EphemeralStore(Protocol):
    """The seed's KV namespace: small items that expire (table items with a TTL attribute).

    Expiry is also checked on read, since DynamoDB deletes expired items lazily (and moto never)."""

    def put_new(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: int) -> bool: ...
    def take(self, namespace: str, key: str) -> dict[str, object] | None: ...
    def get(self, namespace: str, key: str) -> dict[str, object] | None: ...
    def hit(self, namespace: str, key: str, limit: int, ttl_seconds: int) -> int | None: ...
