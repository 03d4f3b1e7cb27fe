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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from imagegen.models import (
    BatchStatus,
    Collection,
    Export,
    ExportStatus,
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
    from imagegen.queues import ExportRequest, GenerationRequest, LedgerCommand
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


@dataclass(frozen=True)
class ImageRead:
    """An image as a request read it up front: ``image`` None means it does not exist (for sure)."""

    image_id: str
    image: Image | None


@dataclass(frozen=True)
class Caller:
    """Everything authentication needs about the caller, read in ONE DynamoDB call: the profile (roles
    as they are now, the stats kept on it), the ids of the sessions signed out and not yet expired,
    and, when the request names one, the image it is about (read in the same BatchGetItem)."""

    user: User
    stats: UserStats
    revoked_sessions: frozenset[str]
    image: ImageRead | None = None


class UserRepository(Protocol):
    def create(self, user: User, *, signup_bonus: int = 0) -> User: ...
    def find_by_id(self, user_id: str) -> User | None: ...
    def find_caller(self, user_id: str, *, image_id: str | None = None) -> Caller | None:
        """The live profile behind a session (None when absent or being deleted), and ``image_id``'s
        image if it exists (whoever owns it: visibility is the caller's business), in one call."""
        ...

    def revoke_session(self, user_id: str, jti: str, expires_at: int, *, now: int) -> None:
        """Refuse the session ``jti`` (valid until ``expires_at``, epoch seconds) from now on; forget
        revoked sessions that have expired by ``now``. Idempotent."""
        ...

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
    def delete(self, image_id: str, *, read: Image | None = None) -> Image | None:
        """``read``: the image as the caller just read it (consistently), so it is not read again."""
        ...

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
        self, image_id: str, reason: str, *, allow_completed: bool = False, read: Image | None = None
    ) -> tuple[Image, LedgerEntry | None]: ...


class LedgerRepository(Protocol):
    def find_by_user_id(
        self, user_id: str, limit: int = 20, cursor: str | None = None
    ) -> Page[LedgerEntry]: ...
    def all_for_user(self, user_id: str) -> list[LedgerEntry]: ...


class EphemeralStore(Protocol):
    """Small items that expire (table items with a TTL attribute): sign-in state, rate-limit
    counters, the sweeper's bookmark.

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
    @property
    def collections(self) -> CollectionRepository: ...


class ObjectStore(Protocol):
    """Originals and renditions in one bucket, and the URLs a browser uses to reach them."""

    def make_key(self, user_id: str, filename: str, now_ms: int | None = None) -> str: ...
    def rendition_key(self, image_id: str, version: str, name: str | int) -> str:
        """``{THUMBNAIL_PREFIX}/{imageId}/{contentVersion}-{name}.webp``."""
        ...

    def content_version(self, data: bytes) -> str:
        """The content version of renditions made from an original's bytes."""
        ...

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
        """The object and, for an original, its legacy-layout renditions; what is gone already is fine."""
        ...

    def delete_prefix(self, prefix: str) -> int: ...
    def iter_originals(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]: ...
    def delete_many(self, object_keys: Iterable[str]) -> int:
        """Deletes the keys with S3's batch delete (DeleteObjects, 1000 keys a call)."""
        ...

    def delete_renditions(self, image_id: str) -> int:
        """Every rendition of the image in the current layout (its prefix), whatever the version."""
        ...

    def iter_renditions(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]: ...


@dataclass(frozen=True)
class Change:
    """One item's change from the table's stream, as the domain sees it (whose it is, and what)."""

    user_id: str
    image: Image | None = None  # the image as it is now (created or changed)
    removed_image: Image | None = None  # the image as it was, when it was deleted
    entry: LedgerEntry | None = None  # a new ledger entry (its balanceAfter is the balance now)
    export: Export | None = None  # an export as it is now (created, progressing, done)
    purchase: Purchase | None = None  # a coin purchase as it is now (paid, failed, reversed, ...)


class ConnectionRepository(Protocol):
    """The open live-update sockets of each user (they expire on their own)."""

    def add(self, user_id: str, connection_id: str, *, expires_at: int) -> None: ...
    def owner(self, connection_id: str, *, now: int) -> str | None: ...
    def find_by_user(self, user_id: str, *, now: int) -> list[str]: ...
    def remove(self, user_id: str, connection_id: str) -> None: ...


class Pusher(Protocol):
    """Sends one message to one open socket (API Gateway's management API on AWS)."""

    def push(self, connection_id: str, data: bytes) -> bool:
        """True when sent; False when the connection is gone (it will never accept anything again)."""
        ...


class CdnInvalidator(Protocol):
    """Tells the CDN in front of the renditions to forget some paths (one batch, one request)."""

    def invalidate(self, paths: list[str], *, reference: str) -> None: ...


class Publisher(Protocol):
    def publish(self, queue_url: str, message: GenerationRequest | LedgerCommand | ExportRequest) -> str: ...


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


class DelayedPublisher(Protocol):
    """Sends a message body that a queue delivers only after ``delay_seconds`` (0..900)."""

    def publish_delayed(self, queue_url: str, body: Mapping[str, Any], delay_seconds: int) -> str: ...


# ---- exports ---------------------------------------------------------------------------------------
class ActiveExportsLimit(Exception):
    """The user already has ``MAX_ACTIVE_EXPORTS`` exports PENDING or PROCESSING (nothing was written)."""


class ExportRepository(Protocol):
    def create(self, export: Export, image_ids: list[str], *, max_active: int) -> Export:
        """The export, its manifest (the ids to put in the ZIP) and the owner's active count, at once;
        ``ActiveExportsLimit`` when ``max_active`` exports are active already, ``NotFound`` when the user
        is gone."""
        ...

    def exportable_images(self, user_id: str, image_ids: list[str]) -> list[Image]:
        """The user's COMPLETED images among ``image_ids``, in their order (one batch read)."""
        ...

    def find(self, user_id: str, export_id: str) -> Export | None: ...
    def find_manifest(self, user_id: str, export_id: str) -> list[str]: ...
    def find_by_user_id(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Export]: ...
    def start(self, user_id: str, export_id: str, upload_id: str) -> tuple[Export, str | None]:
        """PENDING or PROCESSING -> PROCESSING with the multipart upload now in flight; returns the export
        and the upload an earlier delivery left (to abort). ``InvalidTransition`` when it is final,
        ``NotFound`` when it is gone."""
        ...

    def complete(
        self,
        user_id: str,
        export_id: str,
        *,
        image_count: int,
        missing_count: int,
        size_bytes: int,
        expires_at: str,
    ) -> Export:
        """PROCESSING -> COMPLETED and the active count down, at once (``InvalidTransition``/``NotFound``)."""
        ...

    def fail(self, user_id: str, export_id: str, reason: str) -> Export | None:
        """PENDING/PROCESSING -> FAILED and the active count down, at once; None when it is gone, the
        export unchanged when it was final already."""
        ...

    def delete(self, user_id: str, export_id: str) -> bool:
        """The export and its manifest, if it is final (an active one is failed first by the caller)."""
        ...

    def find_stuck(self, status: ExportStatus, older_than: str, limit: int = 100) -> list[Export]:
        """Exports in ``status`` last changed before ``older_than``, oldest first."""
        ...

    def find_expired(self, now: str, limit: int = 100) -> list[Export]:
        """Exports whose ``expires_at`` is before ``now``, soonest first."""
        ...


class CollectionImages(Protocol):
    """What exports need of collections (the collections repository implements it)."""

    def image_ids_in_collection(self, user_id: str, collection_id: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of the collection's images, newest first; ``NotFound`` for a missing or
        someone else's collection."""
        ...


class OpenedObject(Protocol):
    """An object being read: its size, then its body in chunks (never whole)."""

    size: int

    def chunks(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class MultipartUpload(Protocol):
    key: str
    upload_id: str

    def upload_part(self, number: int, data: bytes) -> None: ...
    def complete(self) -> None: ...
    def abort(self) -> None: ...


class ArchiveStore(Protocol):
    """Streaming reads of originals and multipart writes of archives (the exporter's storage)."""

    def open(self, key: str) -> OpenedObject | None:
        """The object opened for reading; None when it does not exist."""
        ...

    def start_upload(self, key: str, content_type: str) -> MultipartUpload: ...
    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload by id (one an earlier attempt left); one already finished or gone is fine."""
        ...

    def delete(self, key: str) -> None: ...


# ---- collections ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredImage:
    """An image as its record is now, with how many collections it is in (read with BatchGetItem)."""

    image: Image
    collection_count: int


class CollectionRepository(Protocol):
    """Collections of a user's images, their memberships and share tokens (``docs/data-model.md``).

    Every membership change is one transaction that also moves the collection's ``imageCount`` and
    the image's collection count, so both stay exact under concurrency. A collection that does not
    exist, is being deleted, or is another user's is ``NotFound``."""

    def create(self, collection: Collection) -> Collection: ...
    def find(self, user_id: str, collection_id: str) -> Collection | None: ...
    def list_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Collection]: ...
    def update(
        self,
        user_id: str,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Collection: ...
    def delete(self, user_id: str, collection_id: str) -> bool:
        """The collection and its memberships (its images stay); False when it was not there."""
        ...

    def load_images(self, image_ids: list[str]) -> dict[str, StoredImage]:
        """The images that exist among ``image_ids`` (BatchGetItem, consistent), by id."""
        ...

    def members_among(self, collection_id: str, image_ids: list[str]) -> set[str]:
        """Which of ``image_ids`` are in the collection (BatchGetItem, consistent)."""
        ...

    def add_image(self, user_id: str, collection_id: str, image: StoredImage) -> BatchStatus:
        """``ok``, ``already_present``, ``not_found`` (the image is gone or not the user's) or
        ``limit_reached``; NotFound when the collection is."""
        ...

    def remove_image(self, user_id: str, collection_id: str, image_id: str) -> BatchStatus:
        """``ok`` or ``not_present``; NotFound when the collection is not the user's."""
        ...

    def detach_image(self, image_id: str) -> int:
        """Take the image out of every collection (before it is deleted); how many it left."""
        ...

    def sync_image(self, image: Image) -> None:
        """Bring the image's memberships (their ``completed`` flag and the collections' completed
        counts and covers) in step with its status; idempotent."""
        ...

    def image_ids_in_collection(self, user_id: str, collection_id: str, limit: int) -> list[str]:
        """Up to ``limit`` image ids, most recently added first; NotFound as above."""
        ...

    def find_images(
        self, user_id: str, collection_id: str, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]: ...
    def find_shared(self, token: str) -> Collection | None:
        """The collection a share token opens: one GetItem of the token, then the collection."""
        ...

    def find_shared_images(
        self, collection: Collection, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]:
        """Its COMPLETED images, most recently added first."""
        ...

    def share(self, user_id: str, collection_id: str, token: str) -> Collection:
        """Give the collection ``token`` as its share token; the old token stops working."""
        ...

    def unshare(self, user_id: str, collection_id: str) -> None: ...
    def delete_all_for_user(self, user_id: str, max_items: int | None = None) -> bool:
        """Every collection, membership and share token of the user (account erasure), resumable:
        False when ``max_items`` ran out first."""
        ...
