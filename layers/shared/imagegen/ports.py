"""The ports: what the use cases need from the world, as interfaces. Services depend on these only.

Adapters: ``imagegen.persistence`` (the repositories on one DynamoDB table), ``imagegen.storage``
(objects on S3 or R2), ``imagegen.queues`` (the publisher on SQS), ``imagegen.providers`` (image
models), and the system clock and id source below. ``imagegen.bootstrap`` wires them; the tests' in-memory
adapters (``tests/memory.py``) implement the same ports so that the services' logic is unit-tested
without an emulator.

Every list is cursor-paginated: ``cursor`` is the opaque string of the previous page's
``next_cursor``; a forged, foreign or stale-format cursor raises ``InvalidCursor``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

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

if TYPE_CHECKING:
    from imagegen.purchases import Purchase, PurchaseStatus
    from imagegen.queues import GenerationRequest, LedgerCommand
    from imagegen.storage import ObjectInfo, StoredObject


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
class Operation:
    """What an idempotency key recorded the first time it was used: the hash of that request and what it
    created (an image, a ledger entry)."""

    request_hash: str | None
    image_id: str | None = None
    entry: LedgerEntry | None = None
    record: str | None = None


@dataclass(frozen=True)
class CoinChange:
    """Result of a coin operation. ``applied`` is False when the idempotency key was already used:
    then ``entry`` is the entry that the first application wrote and ``operation`` what it recorded."""

    user: User
    entry: LedgerEntry | None
    applied: bool
    operation: Operation | None = None


@dataclass(frozen=True)
class Charge:
    """Coins taken from the image's owner in the same transaction that creates the image."""

    amount: int
    reason: LedgerReason


@dataclass(frozen=True)
class OnceKey:
    """An idempotency key and the hash of the request it was first used with.

    ``key`` is namespaced by the caller (``client:...`` for a client's ``Idempotency-Key``, ``server:...``
    for keys the code derives), so a client can never name an operation the server recorded."""

    key: str
    request_hash: str | None = None
    record: str | None = None  # JSON of what a replay answers (the first response's object)


@dataclass(frozen=True)
class ImageCreated:
    """``created`` is False when the key was used before: ``image`` is the image that first request
    created as it is now (None if it has since been deleted), ``first`` as it was created (from the
    key's record), ``request_hash`` the hash the key was recorded with."""

    image: Image | None
    created: bool
    request_hash: str | None = None
    first: Image | None = None


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
    def delete(self, user_id: str, *, max_items: int | None = None) -> bool:
        """The user and everything of theirs in the table, resumable: the first call marks the profile
        ``deleting`` (the user is gone for every reader and writer from then on); True when nothing is
        left, False when a later call must go on (a budget of ``max_items``, images not yet listed)."""
        ...

    def find_deleting(self, older_than: str, limit: int = 100) -> list[str]:
        """Ids of users whose deletion began before ``older_than`` (ISO timestamp) and is unfinished,
        oldest first."""
        ...

    def find_all(self, limit: int = 20, cursor: str | None = None) -> Page[User]: ...
    def change_coins(
        self,
        user_id: str,
        amount: int,
        *,
        reason: LedgerReason,
        once: OnceKey,
        image_id: str | None = None,
        note: str | None = None,
    ) -> CoinChange:
        """Add (positive) or take (negative) coins with one ledger entry, at most once per ``once.key``;
        a debit below zero is ``InsufficientCoins``."""
        ...

    def add_role(self, user_id: str, role: UserRole) -> User: ...
    def remove_role(self, user_id: str, role: UserRole) -> User: ...
    def get_stats(self, user_id: str) -> UserStats: ...


class ImageRepository(Protocol):
    def create(
        self, image: Image, *, charge: Charge | None = None, once: OnceKey | None = None
    ) -> ImageCreated:
        """The image, its owner's counters and (with a charge) the debit with its ledger entry, at once;
        at most once per ``once.key``."""
        ...

    def find_created(self, user_id: str, key: str) -> ImageCreated | None:
        """What ``create`` recorded for ``key`` (None if the key was never used)."""
        ...

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
    def count_pending_uploads(self, user_id: str, since: str, limit: int) -> int:
        """How many of the user's uploads created at or after ``since`` are still PENDING, counted up
        to ``limit`` (the answer is ``min(count, limit)``)."""
        ...

    def find_stuck(
        self, status: ImageStatus, older_than: str, limit: int = 100, *, after: Image | None = None
    ) -> list[Image]:
        """Images in ``status`` created before ``older_than``, oldest first; with ``after`` (the last
        image of the previous page) the ones that follow it."""
        ...

    def update_status(
        self,
        image_id: str,
        status: ImageStatus,
        *,
        expected: ImageStatus | None = None,
        **changes: Any,
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
    """Small items that expire (table items with a TTL attribute): sign-in state, denylisted
    sessions, rate-limit counters, the sweeper's bookmark.

    Expiry is also checked on read, since DynamoDB deletes expired items lazily (and moto never)."""

    def put_new(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: int) -> bool: ...
    def take(self, namespace: str, key: str) -> dict[str, object] | None: ...
    def get(self, namespace: str, key: str) -> dict[str, object] | None: ...
    def hit(self, namespace: str, key: str, limit: int, ttl_seconds: int) -> int | None: ...


class Repositories(Protocol):
    """The repositories of one table, as the services see them."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def images(self) -> ImageRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def ephemeral(self) -> EphemeralStore: ...


class ObjectStore(Protocol):
    """Originals and renditions in one bucket, and the URLs a browser uses to reach them."""

    def make_key(self, user_id: str, filename: str, now_ms: int | None = None) -> str: ...
    def thumbnail_key(self, original_key: str, name: str | int) -> str: ...
    def is_original_key(self, key: str) -> bool: ...
    def get_public_url(self, key: str) -> str: ...
    def create_signed_url(
        self,
        key: str,
        expiration: int,
        download_filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A signed GET of the object; with a filename it is saved as an attachment of that name, with a
        content type it is served as that type, whatever the stored object says."""
        ...

    def create_presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> dict[str, Any]: ...
    def create_presigned_put(self, key: str, content_type: str, size: int, expires_in: int) -> dict[str, Any]:
        """A browser PUT of exactly this key, content type and size (what Cloudflare R2 accepts)."""
        ...

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview | BinaryIO,
        content_type: str,
        cache_control: str | None = None,
    ) -> StoredObject: ...
    def get(self, key: str) -> bytes: ...
    def head(self, key: str) -> ObjectInfo | None: ...
    def delete(self, key: str) -> None:
        """The object and, for an original, every rendition of it; what is gone already is fine."""
        ...

    def delete_prefix(self, prefix: str) -> int: ...
    def iter_originals(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]: ...


class Publisher(Protocol):
    def publish(self, queue_url: str, message: GenerationRequest | LedgerCommand) -> str: ...


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...


class IdSource(Protocol):
    def new_id(self) -> str: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class RandomIds:
    def new_id(self) -> str:
        return str(uuid.uuid4())


# ---- the coin shop (docs/payments.md) -------------------------------------------------------------
class PurchaseMoved(Exception):
    """A settlement's purchase changed since it was read (nothing written): read it again."""


class EventSeen(Exception):
    """A settlement's Stripe event was recorded before (nothing written): nothing to do."""


@dataclass(frozen=True)
class PurchaseRef:
    user_id: str
    purchase_id: str


@dataclass(frozen=True)
class PaymentEvent:
    """A verified Stripe event, reduced to what settling a purchase needs. ``purchase_id``/``user_id``
    come from the Checkout Session (``client_reference_id`` and ``metadata``) or from the charge's or
    dispute's ``metadata``; a charge or dispute without them names only its ``payment_intent_id``."""

    id: str
    type: str
    purchase_id: str | None = None
    user_id: str | None = None
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    payment_status: str | None = None
    amount: int | None = None
    currency: str | None = None
    fully_refunded: bool = False


@dataclass(frozen=True)
class CheckoutRequest:
    purchase_id: str
    user_id: str
    email: str
    pack_label: str
    amount_cents: int
    currency: str
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class PaymentGateway(Protocol):
    """Stripe's API as the shop uses it (``imagegen.payments.stripe``)."""

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...
    def expire_checkout(self, session_id: str) -> None: ...
    def purchase_of_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None:
        """The purchase named in a PaymentIntent's metadata (for a charge or dispute seen first)."""
        ...


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event of a signed body; raises InvalidSignature for a bad, missing or stale signature."""
        ...


class PurchaseRepository(Protocol):
    def create(self, purchase: Purchase, *, once: OnceKey | None = None) -> Purchase | None: ...
    def find_recorded(self, user_id: str, key: str) -> tuple[str | None, str | None] | None: ...
    def find(self, user_id: str, purchase_id: str) -> Purchase | None: ...
    def find_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Purchase]: ...
    def find_all(
        self, status: PurchaseStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page[Purchase]: ...
    def find_by_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None: ...
    def event_seen(self, event_id: str) -> bool: ...
    def find_versioned(self, user_id: str, purchase_id: str) -> tuple[Purchase, int] | None: ...
    def credit(self, purchase: Purchase, version: int, event: PaymentEvent) -> CoinChange | None: ...
    def reverse(
        self, purchase: Purchase, version: int, event: PaymentEvent | None, kind: str
    ) -> CoinChange | None: ...
    def mark(
        self,
        purchase: Purchase,
        version: int,
        event: PaymentEvent,
        *,
        status: PurchaseStatus | None = None,
        failure_reason: str | None = None,
        reversal_pending: str | None = None,
    ) -> None: ...
    def record(self, event: PaymentEvent, purchase: Purchase | None = None) -> bool: ...
