"""In-memory adapters of every port in ``imagegen.ports``, for unit tests of the services.

They keep the adapters' contracts (a coin change is all or nothing and at most once per key, a balance
never goes below zero, a status moves only as the rules allow, a deleted image's key is gone) but no
concurrency: the DynamoDB adapters' atomicity is tested on the emulator. ``wire()`` builds every service
on them, as ``imagegen.bootstrap`` does with the real adapters.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urlencode

from imagegen import bootstrap
from imagegen.errors import (
    AlreadyExists,
    InCollections,
    InsufficientCoins,
    InvalidCursor,
    InvalidSignature,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
    StorageKeyTaken,
)
from imagegen.models import (
    MAX_COLLECTIONS_PER_IMAGE,
    TRANSITIONS,
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
    utc_now,
)
from imagegen.ports import (
    ActiveExportsLimit,
    Caller,
    Charge,
    CheckoutRequest,
    CheckoutSession,
    CoinChange,
    EventSeen,
    GoogleProfile,
    ImageCreated,
    ImageRead,
    OnceKey,
    Operation,
    Page,
    PaymentEvent,
    PurchaseMoved,
    PurchaseRef,
    StoredImage,
)
from imagegen.providers import GeneratedImage, GenerationInput
from imagegen.providers.capabilities import LOCAL, Capabilities
from imagegen.purchases import Purchase, PurchaseStatus
from imagegen.queues import ExportRequest, GenerationRequest, LedgerCommand
from imagegen.settings import Settings
from imagegen.storage import (
    ObjectInfo,
    StorageService,
    StoredObject,
    legacy_rendition_keys,
    legacy_thumbnail_key,
    rendition_image_id,
    rendition_prefix,
)

from tests.fakes import InMemoryEphemeralStore


class FakeClock:
    """Wall and monotonic time that move only when told to."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now
        self.ticks = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.ticks += seconds


class SequentialIds:
    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self.prefix = prefix

    def new_id(self) -> str:
        return f"{self.prefix}-{next(self._counter):04d}"


def _page[T](items: list[T], limit: int, cursor: str | None) -> Page[T]:
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidCursor() from None
    end = start + limit
    return Page(items[start:end], str(end) if end < len(items) else None)


@dataclass
class _Account:
    user: User
    ledger: list[LedgerEntry] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("total_images", "generated_images", "uploaded_images", "total_coins_used"), 0
        )
    )
    deleting: str | None = None  # when the cascade delete began: invisible from then on
    revoked_sessions: dict[str, int] = field(default_factory=dict)  # jti -> exp


class MemoryTable:
    """What the one DynamoDB table holds, for the repositories below."""

    def __init__(self, ids: SequentialIds | None = None) -> None:
        self.accounts: dict[str, _Account] = {}
        self.images: dict[str, Image] = {}
        self.ids = ids or SequentialIds("entry")
        self.collection_counts: dict[str, int] = {}  # image id -> how many collections it is in

    def account(self, user_id: str) -> _Account:
        found = self.live(user_id)
        if found is None:
            raise NotFound("No such user.")
        return found

    def live(self, user_id: str) -> _Account | None:
        found = self.accounts.get(user_id)
        return found if found is not None and found.deleting is None else None

    def live_accounts(self) -> list[_Account]:
        return [a for a in self.accounts.values() if a.deleting is None]

    def change(
        self,
        user_id: str,
        amount: int,
        reason: LedgerReason,
        once: OnceKey | None,
        *,
        image_id: str | None = None,
        note: str | None = None,
        purchase_id: str | None = None,
    ) -> CoinChange:
        """The coin change every adapter path uses: all or nothing, at most once per key."""
        account = self.account(user_id)
        if once is not None and once.key in account.operations:
            return CoinChange(copy.deepcopy(account.user), None, False, account.operations[once.key])
        balance = account.user.coins + amount
        # Only a purchase_reversal may take a balance below zero (imagegen.models).
        if balance < 0 and amount <= 0 and reason is not LedgerReason.PURCHASE_REVERSAL:
            raise InsufficientCoins(required=-amount, available=account.user.coins)
        entry = LedgerEntry(
            id=self.ids.new_id(),
            user_id=user_id,
            amount=amount,
            balance_after=balance,
            reason=reason,
            seq=len(account.ledger) + 1,
            image_id=image_id,
            note=note,
            purchase_id=purchase_id,
        )
        account.user = replace(account.user, coins=balance, updated_at=utc_now())
        account.ledger.append(entry)
        if once is not None:
            account.operations[once.key] = Operation(once.request_hash, image_id, entry, once.record)
        return CoinChange(copy.deepcopy(account.user), entry, True)


class MemoryUsers:
    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.spent_google_ids: set[str] = set()
        # Errors the next deletes raise after marking the profile (throttling half-way through).
        self.delete_errors: list[Exception] = []

    def create(self, user: User, *, signup_bonus: int = 0) -> User:
        if user.id in self.table.accounts or self.find_by_email(user.email) is not None:
            raise AlreadyExists("A user with this email already exists.")
        self.table.accounts[user.id] = _Account(replace(user, coins=0))
        # The bonus is once per Google account ever: the tombstone outlives the account.
        if signup_bonus and user.google_id not in self.spent_google_ids:
            self.table.change(user.id, signup_bonus, LedgerReason.SIGNUP_BONUS, None)
        self.spent_google_ids.add(user.google_id)
        return copy.deepcopy(self.table.accounts[user.id].user)

    def find_by_id(self, user_id: str) -> User | None:
        account = self.table.live(user_id)
        return copy.deepcopy(account.user) if account else None

    def find_caller(self, user_id: str, *, image_id: str | None = None) -> Caller | None:
        account = self.table.live(user_id)
        if account is None:
            return None
        image = self.table.images.get(image_id) if image_id else None
        return Caller(
            user=copy.deepcopy(account.user),
            stats=self.get_stats(user_id),
            revoked_sessions=frozenset(account.revoked_sessions),
            image=ImageRead(image_id, copy.deepcopy(image)) if image_id else None,
        )

    def revoke_session(self, user_id: str, jti: str, expires_at: int, *, now: int) -> None:
        account = self.table.live(user_id)
        if account is not None:
            account.revoked_sessions = {j: e for j, e in account.revoked_sessions.items() if e >= now}
            account.revoked_sessions[jti] = expires_at

    def find_by_email(self, email: str) -> User | None:
        return next(
            (copy.deepcopy(a.user) for a in self.table.live_accounts() if a.user.email == email.lower()),
            None,
        )

    def find_or_create_by_google(
        self, profile: GoogleProfile, *, signup_bonus: int, admin: bool
    ) -> tuple[User, bool]:
        for account in self.table.live_accounts():
            if account.user.google_id == profile.google_id:
                return copy.deepcopy(account.user), False
        roles = [UserRole.USER, UserRole.ADMIN] if admin else [UserRole.USER]
        user = User(
            id=self.table.ids.new_id(),
            email=profile.email,
            google_id=profile.google_id,
            first_name=profile.first_name,
            last_name=profile.last_name,
            language=profile.language,
            roles=roles,
        )
        return self.create(user, signup_bonus=signup_bonus), True

    def update(
        self,
        user_id: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        language: str | None = None,
    ) -> User:
        account = self.table.account(user_id)
        changes = {"first_name": first_name, "last_name": last_name, "language": language}
        account.user = replace(account.user, **{k: v for k, v in changes.items() if v is not None})
        return copy.deepcopy(account.user)

    def delete(self, user_id: str, *, max_items: int | None = None) -> bool:
        account = self.table.accounts.get(user_id)
        if account is None:
            return True
        if account.deleting is None:
            account.deleting = utc_now()
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        self.table.accounts.pop(user_id, None)
        for image_id in [i.id for i in self.table.images.values() if i.user_id == user_id]:
            del self.table.images[image_id]
        return True

    def find_deleting(self, older_than: str, limit: int = 100) -> list[str]:
        marked = sorted(
            (a.deleting, a.user.id)
            for a in self.table.accounts.values()
            if a.deleting is not None and a.deleting < older_than
        )
        return [user_id for _, user_id in marked[:limit]]

    def find_all(self, limit: int = 20, cursor: str | None = None) -> Page[User]:
        users = sorted((a.user for a in self.table.live_accounts()), key=lambda u: u.created_at, reverse=True)
        return _page([copy.deepcopy(u) for u in users], limit, cursor)

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
        change = self.table.change(user_id, amount, reason, once, image_id=image_id, note=note)
        if not change.applied and change.operation is not None:
            return replace(change, entry=change.operation.entry)
        return change

    def add_role(self, user_id: str, role: UserRole) -> User:
        account = self.table.account(user_id)
        account.user = replace(account.user, roles=[*account.user.roles, role])
        return copy.deepcopy(account.user)

    def remove_role(self, user_id: str, role: UserRole) -> User:
        account = self.table.account(user_id)
        account.user = replace(account.user, roles=[r for r in account.user.roles if r is not role])
        return copy.deepcopy(account.user)

    def get_stats(self, user_id: str) -> UserStats:
        stats = self.table.account(user_id).stats
        return UserStats(
            total_images=stats["total_images"],
            generated_images=stats["generated_images"],
            uploaded_images=stats["uploaded_images"],
            total_coins_used=stats["total_coins_used"],
        )


class MemoryImages:
    def __init__(self, table: MemoryTable) -> None:
        self.table = table

    def _count(self, image: Image, sign: int) -> None:
        account = self.table.accounts.get(image.user_id)
        if account is None:
            return
        account.stats["total_images"] += sign
        account.stats["generated_images" if image.is_generated() else "uploaded_images"] += sign

    def create(
        self, image: Image, *, charge: Charge | None = None, once: OnceKey | None = None
    ) -> ImageCreated:
        if image.coins_used != (charge.amount if charge else 0):
            raise ValueError("coins_used must equal the amount charged")
        account = self.table.account(image.user_id)
        if once is not None and once.key in account.operations:
            return self.find_created(image.user_id, once.key)  # type: ignore[return-value]
        if image.id in self.table.images:
            raise AlreadyExists("An image with this id already exists.")
        if self.find_by_storage_key(image.storage_key) is not None:
            raise StorageKeyTaken("Another image already uses this storage key.")
        if charge is not None:
            self.table.change(image.user_id, -charge.amount, charge.reason, once, image_id=image.id)
            account.stats["total_coins_used"] += charge.amount
        elif once is not None:
            account.operations[once.key] = Operation(once.request_hash, image.id, None, once.record)
        self.table.images[image.id] = copy.deepcopy(image)
        self._count(image, +1)
        return ImageCreated(copy.deepcopy(image), True, once.request_hash if once else None)

    def find_created(self, user_id: str, key: str) -> ImageCreated | None:
        account = self.table.accounts.get(user_id)
        operation = account.operations.get(key) if account else None
        if operation is None:
            return None
        image = self.find_by_id(operation.image_id) if operation.image_id else None
        first = Image.from_record(json.loads(operation.record)) if operation.record else None
        return ImageCreated(image, False, operation.request_hash, first)

    def find_by_id(self, image_id: str) -> Image | None:
        found = self.table.images.get(image_id)
        return copy.deepcopy(found) if found else None

    def find_by_storage_key(self, storage_key: str) -> Image | None:
        return next(
            (copy.deepcopy(i) for i in self.table.images.values() if i.storage_key == storage_key), None
        )

    def update(
        self,
        image_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Image:
        image = self.table.images.get(image_id)
        if image is None:
            raise NotFound("No such image.")
        if title is not None:
            image.title = title
        if description is not None:
            image.description = description
        elif clear_description:
            image.description = None
        return copy.deepcopy(image)

    def delete(self, image_id: str, *, read: Image | None = None) -> Image | None:
        if self.table.collection_counts.get(image_id, 0) > 0:
            raise InCollections("The image is in a collection; take it out first.")
        self.table.collection_counts.pop(image_id, None)
        image = self.table.images.pop(image_id, None)
        if image is not None:
            self._count(image, -1)
        return image

    def _listed(self, images: list[Image], type: ImageType | None, status: ImageStatus | None) -> list[Image]:
        chosen = [
            copy.deepcopy(i)
            for i in images
            if (type is None or i.type is type) and (status is None or i.status is status)
        ]
        return sorted(chosen, key=lambda i: (i.created_at, i.id), reverse=True)

    def find_by_user_id(
        self,
        user_id: str,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]:
        mine = [i for i in self.table.images.values() if i.user_id == user_id]
        return _page(self._listed(mine, type, status), limit, cursor)

    def find_all(
        self,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]:
        return _page(self._listed(list(self.table.images.values()), type, status), limit, cursor)

    def count_pending_uploads(self, user_id: str, since: str, limit: int) -> int:
        pending = [
            i
            for i in self.table.images.values()
            if i.user_id == user_id
            and i.is_uploaded()
            and i.status is ImageStatus.PENDING
            and i.created_at >= since
        ]
        return min(len(pending), limit)

    def find_stuck(
        self, status: ImageStatus, older_than: str, limit: int = 100, *, after: Image | None = None
    ) -> list[Image]:
        stuck = [
            i
            for i in self.table.images.values()
            if i.status is status
            and i.created_at < older_than
            and (after is None or (i.created_at, i.id) > (after.created_at, after.id))
        ]
        return [copy.deepcopy(i) for i in sorted(stuck, key=lambda i: (i.created_at, i.id))[:limit]]

    def update_status(
        self, image_id: str, status: ImageStatus, *, expected: ImageStatus | None = None, **changes: Any
    ) -> Image:
        image = self.table.images.get(image_id)
        if image is None:
            raise NotFound("No such image.")
        if (expected is not None and image.status is not expected) or status not in TRANSITIONS[image.status]:
            raise InvalidTransition(f"cannot move from {image.status} to {status}")
        moved = image.moved_to(status, **changes)
        self.table.images[image_id] = moved
        return copy.deepcopy(moved)

    def fail_and_refund(
        self, image_id: str, reason: str, *, allow_completed: bool = False, read: Image | None = None
    ) -> tuple[Image, LedgerEntry | None]:
        image = self.table.images.get(image_id)
        if image is None:
            raise NotFound("No such image.")
        if image.is_failed():
            return copy.deepcopy(image), None
        if image.is_ready() and not allow_completed:
            raise InvalidTransition("a completed image cannot fail")
        failed = replace(image, status=ImageStatus.FAILED, failure_reason=reason, updated_at=utc_now())
        self.table.images[image_id] = failed
        refund = None
        if image.coins_used and self.table.live(image.user_id) is not None:
            change = self.table.change(
                image.user_id,
                image.coins_used,
                LedgerReason.REFUND,
                OnceKey(f"server:refund:{image_id}"),
                image_id=image_id,
            )
            refund = change.entry if change.applied else None
            if refund is not None:
                self.table.account(image.user_id).stats["total_coins_used"] -= image.coins_used
        return copy.deepcopy(failed), refund


class MemoryLedger:
    def __init__(self, table: MemoryTable) -> None:
        self.table = table

    def find_by_user_id(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[LedgerEntry]:
        account = self.table.accounts.get(user_id)
        return _page(list(reversed(account.ledger)) if account else [], limit, cursor)

    def all_for_user(self, user_id: str) -> list[LedgerEntry]:
        account = self.table.accounts.get(user_id)
        return list(account.ledger) if account else []


@dataclass
class MemoryRepositories:
    table: MemoryTable
    users: MemoryUsers
    images: MemoryImages
    ledger: MemoryLedger
    ephemeral: InMemoryEphemeralStore
    exports: MemoryExports
    collections: MemoryCollections

    @classmethod
    def create(cls, clock: FakeClock) -> MemoryRepositories:
        table = MemoryTable()
        return cls(
            table,
            MemoryUsers(table),
            MemoryImages(table),
            MemoryLedger(table),
            InMemoryEphemeralStore(clock.time),
            MemoryExports(table),
            MemoryCollections(table),
        )


@dataclass
class _Object:
    data: bytes
    content_type: str
    cache_control: str | None
    etag: str
    last_modified: str


class MemoryObjectStore:
    """Objects in a dict; key rules, URLs and deletes of renditions are the real storage service's."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self._keys = StorageService(settings)  # its key and URL rules only: no client is ever made
        self.settings = settings
        self.clock = clock
        self.objects: dict[str, _Object] = {}
        self._versions = itertools.count(1)
        self.fail_puts = False
        self.batch_deletes: list[list[str]] = []  # the keys of each delete_many call

    def make_key(self, user_id: str, filename: str, now_ms: int | None = None) -> str:
        return self._keys.make_key(user_id, filename, now_ms)

    def rendition_key(self, image_id: str, version: str, name: str | int) -> str:
        return self._keys.rendition_key(image_id, version, name)

    def content_version(self, data: bytes) -> str:
        return self._keys.content_version(data)

    def legacy_thumbnail_key(self, original_key: str, name: str | int) -> str:
        return legacy_thumbnail_key(original_key, name, settings=self.settings)

    def is_original_key(self, key: str) -> bool:
        return self._keys.is_original_key(key)

    def get_public_url(self, key: str) -> str:
        return f"https://cdn.test/{key}"

    def create_signed_url(
        self,
        key: str,
        expiration: int,
        download_filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        query = urlencode(
            {"expires": expiration, "filename": download_filename or "", "type": content_type or ""}
        )
        return f"https://signed.test/{key}?{query}"

    def create_presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> dict[str, Any]:
        return {
            "method": "POST",
            "url": "https://upload.test/",
            "fields": {"key": key, "Content-Type": content_type},
            "expiresAt": "x",
        }

    def create_presigned_put(self, key: str, content_type: str, size: int, expires_in: int) -> dict[str, Any]:
        return {
            "method": "PUT",
            "url": f"https://upload.test/{key}?expires={expires_in}",
            "headers": {"Content-Type": content_type, "Content-Length": str(size)},
            "expiresAt": "x",
        }

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview | BinaryIO,
        content_type: str,
        cache_control: str | None = None,
    ) -> StoredObject:
        if self.fail_puts:
            raise ServiceUnavailable("storage is down")
        body = bytes(data) if not hasattr(data, "read") else data.read()  # type: ignore[union-attr]
        moment = datetime.fromtimestamp(self.clock.time(), UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        self.objects[key] = _Object(body, content_type, cache_control, f'"v{next(self._versions)}"', stamp)
        return StoredObject(key=key, url=self.get_public_url(key), size=len(body), content_type=content_type)

    def get(self, key: str) -> bytes:
        found = self.objects.get(key)
        if found is None:
            raise NotFound("No such object.")
        return found.data

    def head(self, key: str) -> ObjectInfo | None:
        found = self.objects.get(key)
        if found is None:
            return None
        return ObjectInfo(key, len(found.data), found.content_type, found.etag, found.last_modified)

    def delete(self, key: str) -> None:
        self.delete_many([key, *legacy_rendition_keys(key, settings=self.settings)])

    def delete_many(self, object_keys: Iterable[str]) -> int:
        unique = list(dict.fromkeys(k for k in object_keys if k))
        self.batch_deletes.append(unique)
        for name in unique:
            self.objects.pop(name, None)
        return len(unique)

    def delete_renditions(self, image_id: str) -> int:
        return self.delete_prefix(rendition_prefix(image_id, settings=self.settings))

    def iter_renditions(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        keys = sorted(
            k
            for k in self.objects
            if rendition_image_id(k, settings=self.settings) and (not start_after or k > start_after)
        )
        for key in keys[:limit]:
            info = self.head(key)
            assert info is not None
            yield info

    def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for k in doomed:
            del self.objects[k]
        return len(doomed)

    def iter_originals(
        self, limit: int | None = None, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        keys = sorted(
            k for k in self.objects if self.is_original_key(k) and (not start_after or k > start_after)
        )
        for key in keys[:limit]:
            info = self.head(key)
            assert info is not None
            yield info

    def set_last_modified(self, key: str, stamp: str) -> None:
        self.objects[key].last_modified = stamp


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, GenerationRequest | LedgerCommand | ExportRequest]] = []
        self.fail = False

    def publish(self, queue_url: str, message: GenerationRequest | LedgerCommand | ExportRequest) -> str:
        if self.fail:
            raise ServiceUnavailable("could not enqueue the request")
        self.sent.append((queue_url, message))
        return f"message-{len(self.sent)}"


class RecordingDelayedPublisher:
    """The ``DelayedPublisher`` port: records (queue, body, delay); ``fail`` makes it unavailable."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], int]] = []
        self.fail = False

    def publish_delayed(self, queue_url: str, body: Mapping[str, Any], delay_seconds: int) -> str:
        if self.fail:
            raise ServiceUnavailable("could not enqueue the request")
        self.sent.append((queue_url, dict(body), delay_seconds))
        return f"delayed-{len(self.sent)}"


class ScriptedProvider:
    """Returns ``image`` (bytes) or raises what ``error`` says; records every call."""

    name = "scripted"

    def __init__(self, image: bytes = b"\x89PNG fake", error: Exception | None = None) -> None:
        self.image = image
        self.error = error
        self.calls: list[tuple[str, int, int]] = []

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        self.calls.append((prompt, width, height))
        if self.error is not None:
            raise self.error
        return GeneratedImage(self.image, "image/png", "png")

    # The options and the variation's source of each render (``calls`` keeps prompt and size).
    model = "scripted-v1"

    def capabilities(self) -> Capabilities:
        return LOCAL

    def render(self, request: GenerationInput) -> GeneratedImage:
        self.inputs.append(request)
        return self.generate(request.prompt, request.width, request.height)

    @property
    def inputs(self) -> list[GenerationInput]:
        return self.__dict__.setdefault("_inputs", [])


class MemoryConnections:
    """ConnectionRepository: user id -> {connection id: expiry}."""

    def __init__(self) -> None:
        self.by_user: dict[str, dict[str, int]] = {}

    def add(self, user_id: str, connection_id: str, *, expires_at: int) -> None:
        self.by_user.setdefault(user_id, {})[connection_id] = expires_at

    def owner(self, connection_id: str, *, now: int) -> str | None:
        return next(
            (u for u, found in self.by_user.items() if found.get(connection_id, 0) > now),
            None,
        )

    def find_by_user(self, user_id: str, *, now: int) -> list[str]:
        return [c for c, exp in self.by_user.get(user_id, {}).items() if exp > now]

    def remove(self, user_id: str, connection_id: str) -> None:
        self.by_user.get(user_id, {}).pop(connection_id, None)


class RecordingPusher:
    """Pusher: what each connection was sent; ``gone`` ones refuse, ``broken`` ones raise."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone: set[str] = set()
        self.broken: set[str] = set()

    def push(self, connection_id: str, data: bytes) -> bool:
        if connection_id in self.broken:
            raise ConnectionError("the management API timed out")
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(json.loads(data))
        return True


class RecordingCdn:
    def __init__(self) -> None:
        self.batches: list[tuple[list[str], str]] = []
        self.fail = False

    def invalidate(self, paths: list[str], *, reference: str) -> None:
        if self.fail:
            raise ConnectionError("CloudFront is throttling")
        self.batches.append((list(paths), reference))


@dataclass
class Wiring:
    """The in-memory adapters under the names ``imagegen.bootstrap.Adapters`` gives the real ones."""

    settings: Settings
    clock: FakeClock
    ids: SequentialIds
    repos: MemoryRepositories
    storage: MemoryObjectStore
    publisher: RecordingPublisher
    provider: ScriptedProvider
    sessions: Any
    archives: MemoryArchives
    delayed_publisher: RecordingDelayedPublisher = field(default_factory=RecordingDelayedPublisher)

    # The services, built by imagegen.bootstrap's own builders with this object as their adapters: the
    # wiring under test is the production wiring.
    def images(self) -> Any:
        return bootstrap.image_service(self)  # type: ignore[arg-type]

    def accounts(self) -> Any:
        return bootstrap.account_service(self)  # type: ignore[arg-type]

    def admin(self) -> Any:
        return bootstrap.admin_service(self)  # type: ignore[arg-type]

    def generation(self) -> Any:
        return bootstrap.generation_service(self)  # type: ignore[arg-type]

    def thumbnails(self) -> Any:
        return bootstrap.thumbnail_service(self)  # type: ignore[arg-type]

    def ledger(self, erase_account: Callable[[str], bool] | None = None) -> Any:
        if erase_account is None:
            return bootstrap.ledger_service(self)  # type: ignore[arg-type]
        from imagegen.services.ledger import LedgerService

        return LedgerService(
            users=self.repos.users,
            images=self.repos.images,
            storage=self.storage,
            erase_account=erase_account,
        )

    def sweeper(self) -> Any:
        return bootstrap.sweeper(self)  # type: ignore[arg-type]

    def backpressure(self) -> Any:
        return bootstrap.throttle_backpressure(self)  # type: ignore[arg-type]

    def exports(self) -> Any:
        return bootstrap.export_service(self)  # type: ignore[arg-type]

    def exporter(self) -> Any:
        return bootstrap.exporter(self)  # type: ignore[arg-type]

    def collections(self) -> Any:
        return bootstrap.collection_service(self)  # type: ignore[arg-type]

    def batch(self) -> Any:
        return bootstrap.batch_service(self)  # type: ignore[arg-type]

    def user(self, coins: int = 100, *, admin: bool = False) -> User:
        user_id = self.ids.new_id()
        user = User(
            id=user_id,
            email=f"{user_id}@example.com",
            google_id=f"g-{user_id}",
            roles=[UserRole.USER, UserRole.ADMIN] if admin else [UserRole.USER],
        )
        return self.repos.users.create(user, signup_bonus=coins)

    def books_balance(self, user_id: str) -> bool:
        """The invariant: coins equal the sum of the ledger, and each entry's running balance is exact."""
        account = self.repos.table.account(user_id)
        running = 0
        for entry in account.ledger:
            running += entry.amount
            if entry.balance_after != running:
                return False
        return running == account.user.coins


def wire(**settings: Any) -> Wiring:
    from imagegen.auth.sessions import SessionTokens

    clock = FakeClock()
    config = Settings(
        **{
            "generation_queue_url": "queue://generation",
            "ledger_queue_url": "queue://ledger",
            "export_queue_url": "queue://exports",
            "table_name": "memory",
            **settings,
        }
    )
    storage = MemoryObjectStore(config, clock)
    return Wiring(
        settings=config,
        clock=clock,
        ids=SequentialIds(),
        repos=MemoryRepositories.create(clock),
        storage=storage,
        publisher=RecordingPublisher(),
        provider=ScriptedProvider(),
        sessions=SessionTokens(b"k" * 32, config.session_ttl, clock=clock.time),
        archives=MemoryArchives(storage),
    )


# ---- exports -----------------------------------------------------------------------------------------
class MemoryExports:
    """ExportRepository in memory: exports, manifests and each user's active count."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.exports: dict[tuple[str, str], Export] = {}
        self.manifests: dict[tuple[str, str], list[str]] = {}
        self.active: dict[str, int] = {}

    def create(self, export: Export, image_ids: list[str], *, max_active: int) -> Export:
        self.table.account(export.user_id)
        if self.active.get(export.user_id, 0) >= max_active:
            raise ActiveExportsLimit()
        self.active[export.user_id] = self.active.get(export.user_id, 0) + 1
        self.exports[(export.user_id, export.id)] = export
        self.manifests[(export.user_id, export.id)] = list(image_ids)
        return export

    def exportable_images(self, user_id: str, image_ids: list[str]) -> list[Image]:
        found = [self.table.images.get(i) for i in dict.fromkeys(image_ids)]
        return [
            copy.deepcopy(i)
            for i in found
            if i is not None and i.user_id == user_id and i.status is ImageStatus.COMPLETED
        ]

    def find(self, user_id: str, export_id: str) -> Export | None:
        return self.exports.get((user_id, export_id))

    def find_manifest(self, user_id: str, export_id: str) -> list[str]:
        return list(self.manifests.get((user_id, export_id), []))

    def find_by_user_id(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Export]:
        mine = sorted(
            (e for (u, _), e in self.exports.items() if u == user_id),
            key=lambda e: (e.created_at, e.id),
            reverse=True,
        )
        return _page(mine, limit, cursor)

    def _move(self, export: Export, **changes: Any) -> Export:
        moved = replace(export, updated_at=utc_now(), **changes)
        self.exports[(export.user_id, export.id)] = moved
        return moved

    def start(self, user_id: str, export_id: str, upload_id: str) -> tuple[Export, str | None]:
        export = self.exports.get((user_id, export_id))
        if export is None:
            raise NotFound("No such export.")
        if not export.is_active():
            raise InvalidTransition(f"the export is {export.status.value}")
        return self._move(export, status=ExportStatus.PROCESSING, upload_id=upload_id), export.upload_id

    def _finish(self, user_id: str, export_id: str, **changes: Any) -> Export:
        export = self.exports.get((user_id, export_id))
        if export is None:
            raise NotFound("No such export.")
        if not export.is_active():
            raise InvalidTransition(f"the export is {export.status.value}")
        if self.active.get(user_id, 0) > 0:
            self.active[user_id] -= 1
        return self._move(export, upload_id=None, **changes)

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
        export = self.exports.get((user_id, export_id))
        if export is not None and export.status is not ExportStatus.PROCESSING:
            raise InvalidTransition(f"the export is {export.status.value}")
        return self._finish(
            user_id,
            export_id,
            status=ExportStatus.COMPLETED,
            image_count=image_count,
            missing_count=missing_count,
            size_bytes=size_bytes,
            expires_at=expires_at,
        )

    def fail(self, user_id: str, export_id: str, reason: str) -> Export | None:
        try:
            return self._finish(user_id, export_id, status=ExportStatus.FAILED, failure_reason=reason)
        except InvalidTransition:
            return self.exports.get((user_id, export_id))
        except NotFound:
            return None

    def delete(self, user_id: str, export_id: str) -> bool:
        export = self.exports.get((user_id, export_id))
        if export is not None and export.is_active():
            return False
        self.exports.pop((user_id, export_id), None)
        self.manifests.pop((user_id, export_id), None)
        return True

    def find_stuck(self, status: ExportStatus, older_than: str, limit: int = 100) -> list[Export]:
        found = [e for e in self.exports.values() if e.status is status and e.updated_at < older_than]
        return sorted(found, key=lambda e: e.updated_at)[:limit]

    def find_expired(self, now: str, limit: int = 100) -> list[Export]:
        return sorted((e for e in self.exports.values() if e.expires_at < now), key=lambda e: e.expires_at)[
            :limit
        ]


class _MemoryOpened:
    def __init__(self, data: bytes, chunk: int) -> None:
        self.size = len(data)
        self._data = data
        self._chunk = chunk
        self.closed = False

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), self._chunk):
            yield self._data[start : start + self._chunk]

    def close(self) -> None:
        self.closed = True


class _MemoryUpload:
    def __init__(self, store: MemoryArchives, key: str, upload_id: str) -> None:
        self.store = store
        self.key = key
        self.upload_id = upload_id
        self.parts: dict[int, bytes] = {}

    def upload_part(self, number: int, data: bytes) -> None:
        if self.store.fail_part == number:
            raise ServiceUnavailable("storage is busy")
        self.parts[number] = bytes(data)

    def complete(self) -> None:
        body = b"".join(self.parts[n] for n in sorted(self.parts))
        self.store.objects.put(self.key, body, "application/zip")
        self.store.uploads.pop(self.upload_id, None)

    def abort(self) -> None:
        self.store.uploads.pop(self.upload_id, None)
        self.store.aborted.append(self.upload_id)


class MemoryArchives:
    """ArchiveStore over a MemoryObjectStore: streamed reads, multipart uploads that can be made to fail."""

    def __init__(self, objects: MemoryObjectStore, chunk: int = 64 * 1024) -> None:
        self.objects = objects
        self.chunk = chunk
        self.uploads: dict[str, _MemoryUpload] = {}
        self.aborted: list[str] = []
        self.fail_part: int | None = None
        self._ids = itertools.count(1)

    def open(self, key: str) -> _MemoryOpened | None:
        found = self.objects.objects.get(key)
        return _MemoryOpened(found.data, self.chunk) if found is not None else None

    def start_upload(self, key: str, content_type: str) -> _MemoryUpload:
        upload = _MemoryUpload(self, key, f"upload-{next(self._ids)}")
        self.uploads[upload.upload_id] = upload
        return upload

    def abort_upload(self, key: str, upload_id: str) -> None:
        if self.uploads.pop(upload_id, None) is not None:
            self.aborted.append(upload_id)

    def delete(self, key: str) -> None:
        self.objects.objects.pop(key, None)


# ---- collections ---------------------------------------------------------------------------------
@dataclass
class _Member:
    user_id: str
    added_at: str
    seq: int
    completed: bool


class MemoryCollections:
    """Collections, memberships and share tokens, with the Dynamo adapter's rules: counts move with
    memberships, an image is in at most MAX_COLLECTIONS_PER_IMAGE collections, a collection is its
    owner's only, a rotated or revoked token opens nothing."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.collections: dict[tuple[str, str], Collection] = {}
        self.members: dict[str, dict[str, _Member]] = {}  # collection id -> image id -> membership
        self.tokens: dict[str, tuple[str, str]] = {}
        self.image_counts = table.collection_counts
        self._seq = itertools.count(1)

    def _require(self, user_id: str, collection_id: str) -> Collection:
        found = self.collections.get((user_id, collection_id))
        if found is None:
            raise NotFound("No such collection.")
        return found

    def create(self, collection: Collection) -> Collection:
        self.table.account(collection.user_id)
        self.collections[(collection.user_id, collection.id)] = copy.deepcopy(collection)
        self.members[collection.id] = {}
        return copy.deepcopy(collection)

    def find(self, user_id: str, collection_id: str) -> Collection | None:
        found = self.collections.get((user_id, collection_id))
        return copy.deepcopy(found) if found else None

    def list_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Collection]:
        mine = [copy.deepcopy(c) for (uid, _), c in self.collections.items() if uid == user_id]
        mine.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return _page(mine, limit, cursor)

    def update(
        self,
        user_id: str,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Collection:
        found = self._require(user_id, collection_id)
        if title is not None:
            found.title = title
        if description is not None:
            found.description = description
        elif clear_description:
            found.description = None
        return copy.deepcopy(found)

    def delete(self, user_id: str, collection_id: str) -> bool:
        found = self.collections.pop((user_id, collection_id), None)
        if found is None:
            return False
        for image_id in self.members.pop(collection_id, {}):
            if image_id in self.table.images:
                self.image_counts[image_id] -= 1
        self.tokens = {t: v for t, v in self.tokens.items() if v[1] != collection_id}
        return True

    def load_images(self, image_ids: list[str]) -> dict[str, StoredImage]:
        return {
            i: StoredImage(copy.deepcopy(self.table.images[i]), self.image_counts.get(i, 0))
            for i in dict.fromkeys(image_ids)
            if i in self.table.images
        }

    def members_among(self, collection_id: str, image_ids: list[str]) -> set[str]:
        return set(image_ids) & set(self.members.get(collection_id, {}))

    def add_image(self, user_id: str, collection_id: str, image: StoredImage) -> BatchStatus:
        collection = self._require(user_id, collection_id)
        current = self.table.images.get(image.image.id)
        if current is None or current.user_id != user_id:
            return BatchStatus.NOT_FOUND
        members = self.members[collection_id]
        if current.id in members:
            return BatchStatus.ALREADY_PRESENT
        if self.image_counts.get(current.id, 0) >= MAX_COLLECTIONS_PER_IMAGE:
            return BatchStatus.LIMIT_REACHED
        completed = current.status is ImageStatus.COMPLETED
        members[current.id] = _Member(user_id, utc_now(), next(self._seq), completed)
        self.image_counts[current.id] = self.image_counts.get(current.id, 0) + 1
        collection.image_count += 1
        if completed:
            collection.completed_count += 1
            if current.thumbnail_url:
                collection.cover_image_id, collection.cover_thumbnail_url = current.id, current.thumbnail_url
        return BatchStatus.OK

    def remove_image(self, user_id: str, collection_id: str, image_id: str) -> BatchStatus:
        collection = self._require(user_id, collection_id)
        member = self.members[collection_id].pop(image_id, None)
        if member is None:
            return BatchStatus.NOT_PRESENT
        collection.image_count -= 1
        if member.completed:
            collection.completed_count -= 1
        if image_id in self.table.images:
            self.image_counts[image_id] -= 1
        if collection.cover_image_id == image_id:
            self._refresh_cover(collection)
        return BatchStatus.OK

    def _refresh_cover(self, collection: Collection) -> None:
        newest = sorted(self.members[collection.id].items(), key=lambda kv: kv[1].seq, reverse=True)
        cover = next(
            (self.table.images[i] for i, m in newest if m.completed and i in self.table.images), None
        )
        collection.cover_image_id = cover.id if cover else None
        collection.cover_thumbnail_url = cover.thumbnail_url if cover else None

    def detach_image(self, image_id: str) -> int:
        left = 0
        for (user_id, collection_id), _ in list(self.collections.items()):
            if image_id in self.members.get(collection_id, {}):
                self.remove_image(user_id, collection_id, image_id)
                left += 1
        return left

    def sync_image(self, image: Image) -> None:
        completed = image.status is ImageStatus.COMPLETED
        for (_, collection_id), collection in self.collections.items():
            member = self.members[collection_id].get(image.id)
            if member is None or member.completed == completed:
                continue
            member.completed = completed
            collection.completed_count += 1 if completed else -1
            if completed and collection.cover_image_id is None and image.thumbnail_url:
                collection.cover_image_id, collection.cover_thumbnail_url = image.id, image.thumbnail_url
            if not completed and collection.cover_image_id == image.id:
                self._refresh_cover(collection)

    def _newest(self, collection_id: str) -> list[str]:
        members = self.members.get(collection_id, {})
        return [i for i, _ in sorted(members.items(), key=lambda kv: kv[1].seq, reverse=True)]

    def image_ids_in_collection(self, user_id: str, collection_id: str, limit: int) -> list[str]:
        self._require(user_id, collection_id)
        return self._newest(collection_id)[:limit]

    def find_images(
        self, user_id: str, collection_id: str, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]:
        self._require(user_id, collection_id)
        images = [
            copy.deepcopy(self.table.images[i]) for i in self._newest(collection_id) if i in self.table.images
        ]
        return _page(images, limit, cursor)

    def find_shared(self, token: str) -> Collection | None:
        found = self.tokens.get(token)
        return self.find(*found) if found else None

    def find_shared_images(
        self, collection: Collection, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]:
        members = self.members.get(collection.id, {})
        images = [
            copy.deepcopy(self.table.images[i])
            for i in self._newest(collection.id)
            if members[i].completed
            and i in self.table.images
            and self.table.images[i].status is ImageStatus.COMPLETED
        ]
        return _page(images, limit, cursor)

    def share(self, user_id: str, collection_id: str, token: str) -> Collection:
        collection = self._require(user_id, collection_id)
        if token in self.tokens:
            raise ValueError("share token already in use")
        if collection.share_token:
            self.tokens.pop(collection.share_token, None)
        self.tokens[token] = (user_id, collection_id)
        collection.share_token = token
        return copy.deepcopy(collection)

    def unshare(self, user_id: str, collection_id: str) -> None:
        collection = self._require(user_id, collection_id)
        if collection.share_token:
            self.tokens.pop(collection.share_token, None)
            collection.share_token = None

    def delete_all_for_user(self, user_id: str, max_items: int | None = None) -> bool:
        for uid, collection_id in [k for k in self.collections if k[0] == user_id]:
            self.delete(uid, collection_id)
        return True


# ---- the coin shop ----------------------------------------------------------------------------------
class MemoryPurchases:
    """PurchaseRepository in memory: the same conditions as the DynamoDB adapter (a settlement applies
    only on the version it read; an event applies once; money moves once per purchase key)."""

    def __init__(self, table: MemoryTable) -> None:
        self.table = table
        self.purchases: dict[tuple[str, str], tuple[Purchase, int]] = {}
        self.events: set[str] = set()
        self.aliases: dict[str, PurchaseRef] = {}

    def create(self, purchase: Purchase, *, once: OnceKey | None = None) -> Purchase | None:
        account = self.table.account(purchase.user_id)
        if once is not None and once.key in account.operations:
            return None
        self.purchases[(purchase.user_id, purchase.id)] = (purchase, 0)
        if once is not None:
            account.operations[once.key] = Operation(once.request_hash, None, None, once.record)
        return purchase

    def find_recorded(self, user_id: str, key: str) -> tuple[str | None, str | None] | None:
        account = self.table.accounts.get(user_id)
        operation = account.operations.get(key) if account else None
        return None if operation is None else (operation.request_hash, operation.record)

    def find(self, user_id: str, purchase_id: str) -> Purchase | None:
        found = self.purchases.get((user_id, purchase_id))
        return found[0] if found else None

    def find_versioned(self, user_id: str, purchase_id: str) -> tuple[Purchase, int] | None:
        return self.purchases.get((user_id, purchase_id))

    def find_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Purchase]:
        mine = sorted(
            (p for (uid, _), (p, _) in self.purchases.items() if uid == user_id), key=lambda p: p.id
        )
        return _page(mine[::-1], limit, cursor)

    def find_all(
        self, status: PurchaseStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page[Purchase]:
        every = sorted(
            (p for p, _ in self.purchases.values()), key=lambda p: (p.created_at, p.id), reverse=True
        )
        return _page([p for p in every if status is None or p.status is status], limit, cursor)

    def find_by_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None:
        return self.aliases.get(payment_intent_id)

    def event_seen(self, event_id: str) -> bool:
        return event_id in self.events

    def _check(self, purchase: Purchase, version: int, event: PaymentEvent | None) -> None:
        if event is not None and event.id in self.events:
            raise EventSeen()
        if self.purchases[(purchase.user_id, purchase.id)][1] != version:
            raise PurchaseMoved()

    def _write(self, purchase: Purchase, version: int, event: PaymentEvent | None, **changes: Any) -> None:
        current = self.purchases[(purchase.user_id, purchase.id)][0]
        updated = replace(current, updated_at=utc_now(), **changes)
        if event is not None:
            self.events.add(event.id)
            if event.payment_intent_id and not current.payment_intent_id:
                self.aliases[event.payment_intent_id] = PurchaseRef(purchase.user_id, purchase.id)
                updated = replace(updated, payment_intent_id=event.payment_intent_id)
        self.purchases[(purchase.user_id, purchase.id)] = (updated, version + 1)

    def credit(self, purchase: Purchase, version: int, event: PaymentEvent) -> CoinChange | None:
        self._check(purchase, version, event)
        if self.purchases[(purchase.user_id, purchase.id)][0].credited:
            raise PurchaseMoved()
        change = self.table.change(
            purchase.user_id,
            purchase.coins,
            LedgerReason.PURCHASE,
            OnceKey(f"server:purchase-credit:{purchase.id}"),
            purchase_id=purchase.id,
        )
        if not change.applied:
            return None
        now = utc_now()
        self._write(
            purchase,
            version,
            event,
            status=PurchaseStatus.PAID,
            paid_at=now,
            credited_at=now,
            failure_reason=None,
        )
        return change

    def reverse(
        self, purchase: Purchase, version: int, event: PaymentEvent | None, kind: str
    ) -> CoinChange | None:
        self._check(purchase, version, event)
        current = self.purchases[(purchase.user_id, purchase.id)][0]
        if not current.credited or current.reversed:
            raise PurchaseMoved()
        change = self.table.change(
            purchase.user_id,
            -purchase.coins,
            LedgerReason.PURCHASE_REVERSAL,
            OnceKey(f"server:purchase-reversal:{purchase.id}"),
            note=kind,
            purchase_id=purchase.id,
        )
        if not change.applied:
            return None
        self._write(
            purchase,
            version,
            event,
            status=PurchaseStatus.REVERSED,
            reversed_at=utc_now(),
            reversal_pending=None,
        )
        return change

    def mark(
        self,
        purchase: Purchase,
        version: int,
        event: PaymentEvent,
        *,
        status: PurchaseStatus | None = None,
        failure_reason: str | None = None,
        reversal_pending: str | None = None,
    ) -> None:
        self._check(purchase, version, event)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if failure_reason is not None:
            changes["failure_reason"] = failure_reason
        if reversal_pending is not None:
            changes["reversal_pending"] = reversal_pending
        self._write(purchase, version, event, **changes)

    def record(self, event: PaymentEvent, purchase: Purchase | None = None) -> bool:
        if event.id in self.events:
            return False
        self.events.add(event.id)
        return True


class FakePayments:
    """PaymentGateway: sessions in a list; ``fail`` makes the next create raise as Stripe's outage would."""

    def __init__(self) -> None:
        self.created: list[CheckoutRequest] = []
        self.expired: list[str] = []
        self.intents: dict[str, PurchaseRef] = {}
        self.fail: Exception | None = None
        self.before_create: Callable[[CheckoutRequest], None] | None = None

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        if self.fail is not None:
            raise self.fail
        if self.before_create is not None:
            self.before_create(request)
        self.created.append(request)
        session_id = f"cs_test_{len(self.created)}"
        return CheckoutSession(session_id, f"https://checkout.test/{session_id}")

    def expire_checkout(self, session_id: str) -> None:
        self.expired.append(session_id)

    def purchase_of_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None:
        return self.intents.get(payment_intent_id)


class PlainVerifier:
    """WebhookVerifier for unit tests: a body is "signed" when the signature is ``ok``."""

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        if signature != "ok":
            raise InvalidSignature("bad signature")
        loaded: dict[str, Any] = json.loads(payload)
        return loaded
