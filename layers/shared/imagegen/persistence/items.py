"""The single table's items: one base model with the four overloaded indexes, one subclass per entity.

Entity classes here are templates without a table: :func:`imagegen.persistence.binding.bind` makes
subclasses pointing at one table name. Key formats come from :mod:`imagegen.persistence.keys`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from imagegen.models import (
    Collection,
    Export,
    ExportStatus,
    Generation,
    Image,
    ImageStatus,
    ImageType,
    LedgerEntry,
    User,
    UserRole,
)
from imagegen.persistence.keys import (
    ALIAS,
    GUARD,
    IMAGE_SK,
    PROFILE,
    PURCHASES_PARTITION,
    USERS_PARTITION,
    collection_added_pk,
    collection_sk,
    created_sk,
    email_pk,
    google_pk,
    image_all_index_pk,
    image_collections_pk,
    image_pk,
    image_status_index_pk,
    ledger_sk,
    member_sk,
    members_pk,
    purchase_sk,
    purchase_status_pk,
    storage_key_pk,
    user_collections_pk,
    user_images_pk,
    user_pk,
    user_type_pk,
)
from imagegen.purchases import Purchase, PurchaseStatus


class _Gsi(GlobalSecondaryIndex[Any]):  # type: ignore[no-untyped-call]
    """Base of the four overloaded indexes; each subclass names its index and key attributes."""


class Gsi1(_Gsi):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(_Gsi):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class Gsi3(_Gsi):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class Gsi4(_Gsi):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "gsi4"
        projection = AllProjection()

    gsi4pk = UnicodeAttribute(hash_key=True)
    gsi4sk = UnicodeAttribute(range_key=True)


INDEX_KEYS: dict[str | None, tuple[str, ...]] = {
    None: ("pk", "sk"),
    "gsi1": ("pk", "sk", "gsi1pk", "gsi1sk"),
    "gsi2": ("pk", "sk", "gsi2pk", "gsi2sk"),
    "gsi3": ("pk", "sk", "gsi3pk", "gsi3sk"),
    "gsi4": ("pk", "sk", "gsi4pk", "gsi4sk"),
}
"""Attributes of a LastEvaluatedKey for a query on the table (None) or on an index."""


class Item(Model):
    """Generic single-table item: keys, index keys and the ``entity`` discriminator."""

    ENTITY: ClassVar[str] = ""

    class Meta:
        # Filled in by bind(); kept None so an unbound template can never reach a table.
        table_name: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    gsi4pk = UnicodeAttribute(null=True)
    gsi4sk = UnicodeAttribute(null=True)

    gsi1 = Gsi1()
    gsi2 = Gsi2()
    gsi3 = Gsi3()
    gsi4 = Gsi4()

    def __init__(self, hash_key: Any = None, range_key: Any = None, **attributes: Any) -> None:
        # Only for items made here: items read back carry their own stored discriminator.
        if self.ENTITY and attributes.get("_user_instantiated", True) and "entity" not in attributes:
            attributes["entity"] = self.ENTITY
        super().__init__(hash_key, range_key, **attributes)


class UserItem(Item):
    """``USER#{id}`` / ``PROFILE``: the profile, the balance, the ledger sequence and the stats."""

    ENTITY = "USER"

    id = UnicodeAttribute()
    email = UnicodeAttribute()
    google_id = UnicodeAttribute()
    first_name = UnicodeAttribute(default="")
    last_name = UnicodeAttribute(default="")
    roles = UnicodeSetAttribute()
    language = UnicodeAttribute()
    coins = NumberAttribute(default=0)
    ledger_seq = NumberAttribute(default=0)
    total_images = NumberAttribute(default=0)
    generated_images = NumberAttribute(default=0)
    uploaded_images = NumberAttribute(default=0)
    total_coins_used = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Set when the account's cascade delete has begun; the user is invisible from then on.
    deleting = UnicodeAttribute(null=True)
    # Signed-out sessions not yet expired, as "{exp}:{jti}": authentication reads them with the profile
    # (one GetItem), and each sign-out forgets the ones that have expired.
    revoked_sessions = UnicodeSetAttribute(null=True)

    @classmethod
    def from_user(cls, user: User, *, ledger_seq: int) -> UserItem:
        return cls(
            user_pk(user.id),
            PROFILE,
            gsi1pk=USERS_PARTITION,
            gsi1sk=created_sk(user.created_at, user.id),
            id=user.id,
            email=user.email,
            google_id=user.google_id,
            first_name=user.first_name,
            last_name=user.last_name,
            roles={str(r) for r in user.roles},
            language=user.language,
            coins=user.coins,
            ledger_seq=ledger_seq,
            total_images=0,
            generated_images=0,
            uploaded_images=0,
            total_coins_used=0,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )

    def to_user(self) -> User:
        return User(
            id=self.id,
            email=self.email,
            google_id=self.google_id,
            first_name=self.first_name or "",
            last_name=self.last_name or "",
            roles=[UserRole(r) for r in (self.roles or {UserRole.USER.value})],
            language=self.language,
            coins=int(self.coins),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class UniqueGuardItem(Item):
    """``EMAIL#{email}`` or ``GOOGLE#{googleId}`` / ``GUARD``: makes the table enforce uniqueness."""

    ENTITY = "GUARD"

    user_id = UnicodeAttribute()

    @classmethod
    def for_email(cls, email: str, user_id: str) -> UniqueGuardItem:
        return cls(email_pk(email), GUARD, user_id=user_id)

    @classmethod
    def for_google(cls, google_id: str, user_id: str) -> UniqueGuardItem:
        return cls(google_pk(google_id), GUARD, user_id=user_id)


class StorageAliasItem(Item):
    """``STORAGEKEY#{key}`` / ``ALIAS``: the storage key's image, readable with a consistent GetItem."""

    ENTITY = "STORAGE_ALIAS"

    image_id = UnicodeAttribute()
    user_id = UnicodeAttribute()

    @classmethod
    def for_image(cls, image: Image) -> StorageAliasItem:
        return cls(storage_key_pk(image.storage_key), ALIAS, image_id=image.id, user_id=image.user_id)


class OperationItem(Item):
    """``USER#{uid}`` / ``OP#{key}``: proof that an operation was applied once, with the hash of the
    request that first used the key (so another request with it is told apart) and what it made."""

    ENTITY = "OP"

    request_hash = UnicodeAttribute(null=True)
    response = UnicodeAttribute(null=True)  # JSON: what a replay answers
    entry_seq = NumberAttribute(null=True)
    entry_id = UnicodeAttribute(null=True)
    image_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


class ImageItem(Item):
    """``IMAGE#{id}`` / ``IMAGE`` with the four index keys of the image access patterns."""

    ENTITY = "IMAGE"

    id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    type = UnicodeAttribute()
    status = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    prompt = UnicodeAttribute(null=True)
    storage_key = UnicodeAttribute()
    storage_url = UnicodeAttribute()
    thumbnail_key = UnicodeAttribute(null=True)
    thumbnail_url = UnicodeAttribute(null=True)
    # A JSON string: never queried, and it keeps numbers and nesting exactly as given.
    metadata = JSONAttribute(default=dict)
    coins_used = NumberAttribute(default=0)
    failure_reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # The generation's provider, model and options (a JSON string, as metadata); the variation's source.
    generation = JSONAttribute(null=True)
    source_image_id = UnicodeAttribute(null=True)
    # How many collections the image is in: changed in the same transactions as its memberships, so
    # the cap (MAX_COLLECTIONS_PER_IMAGE) is a condition, and a delete knows whether any are left.
    collection_count = NumberAttribute(null=True)

    @classmethod
    def from_image(cls, image: Image) -> ImageItem:
        sort = created_sk(image.created_at, image.id)
        return cls(
            image_pk(image.id),
            IMAGE_SK,
            gsi1pk=user_images_pk(image.user_id),
            gsi1sk=sort,
            gsi2pk=user_type_pk(image.user_id, image.type),
            gsi2sk=sort,
            gsi3pk=image_status_index_pk(image.id, image.status),
            gsi3sk=sort,
            gsi4pk=image_all_index_pk(image.id),
            gsi4sk=sort,
            id=image.id,
            user_id=image.user_id,
            type=image.type.value,
            status=image.status.value,
            title=image.title,
            description=image.description,
            prompt=image.prompt,
            storage_key=image.storage_key,
            storage_url=image.storage_url,
            thumbnail_key=image.thumbnail_key,
            thumbnail_url=image.thumbnail_url,
            metadata=dict(image.metadata),
            coins_used=image.coins_used,
            failure_reason=image.failure_reason,
            created_at=image.created_at,
            updated_at=image.updated_at,
            generation=image.generation.to_record() if image.generation is not None else None,
            source_image_id=image.source_image_id,
        )

    def to_image(self) -> Image:
        metadata = self.metadata
        return Image(
            id=self.id,
            user_id=self.user_id,
            type=ImageType(self.type),
            status=ImageStatus(self.status),
            title=self.title,
            description=self.description,
            prompt=self.prompt,
            storage_key=self.storage_key,
            storage_url=self.storage_url,
            thumbnail_key=self.thumbnail_key,
            thumbnail_url=self.thumbnail_url,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            coins_used=int(self.coins_used),
            failure_reason=self.failure_reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
            generation=Generation.from_record(self.generation),
            source_image_id=self.source_image_id,
        )


class LedgerItem(Item):
    """``USER#{uid}`` / ``LEDGER#{seq:012d}``: one coin movement with the balance right after it."""

    ENTITY = "LEDGER"

    id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    amount = NumberAttribute()
    balance_after = NumberAttribute()
    reason = UnicodeAttribute()
    seq = NumberAttribute()
    image_id = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    purchase_id = UnicodeAttribute(null=True)

    @classmethod
    def from_entry(cls, entry: LedgerEntry) -> LedgerItem:
        return cls(
            user_pk(entry.user_id),
            ledger_sk(entry.seq),
            id=entry.id,
            user_id=entry.user_id,
            amount=entry.amount,
            balance_after=entry.balance_after,
            reason=entry.reason.value,
            seq=entry.seq,
            image_id=entry.image_id,
            note=entry.note,
            created_at=entry.created_at,
            purchase_id=entry.purchase_id,
        )

    def to_entry(self) -> LedgerEntry:
        return LedgerEntry.from_record(
            {
                "id": self.id,
                "user_id": self.user_id,
                "amount": int(self.amount),
                "balance_after": int(self.balance_after),
                "reason": self.reason,
                "seq": int(self.seq),
                "image_id": self.image_id,
                "note": self.note,
                "created_at": self.created_at,
                "purchase_id": self.purchase_id,
            }
        )


class EphemeralItem(Item):
    """``EPH#{namespace}#{key}`` / ``EPH``: a small value with an expiry (the table's TTL attribute)."""

    ENTITY = "EPH"

    value = UnicodeAttribute(null=True)
    # Not "count": that name is Model.count(), the query method.
    hits = NumberAttribute(null=True, attr_name="count")
    expires_at = NumberAttribute()

    def value_dict(self) -> dict[str, object]:
        if not self.value:
            return {}
        loaded = json.loads(self.value)
        return loaded if isinstance(loaded, dict) else {}


class PurchaseItem(Item):
    """``USER#{uid}`` / ``PURCHASE#{id}``: a coin purchase, with ``gsi1 PURCHASES`` (every purchase) and
    ``gsi2 PURCHASES#{status}`` (one status) for the admin lists. ``version`` grows with every change:
    each settlement is conditioned on the version it read, so two deliveries can never both apply."""

    ENTITY = "PURCHASE"

    id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    pack_id = UnicodeAttribute()
    coins = NumberAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    failure_reason = UnicodeAttribute(null=True)
    checkout_session_id = UnicodeAttribute(null=True)
    checkout_url = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    paid_at = UnicodeAttribute(null=True)
    credited_at = UnicodeAttribute(null=True)
    reversed_at = UnicodeAttribute(null=True)
    reversal_pending = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)

    @classmethod
    def from_purchase(cls, purchase: Purchase) -> PurchaseItem:
        sort = created_sk(purchase.created_at, purchase.id)
        return cls(
            user_pk(purchase.user_id),
            purchase_sk(purchase.id),
            gsi1pk=PURCHASES_PARTITION,
            gsi1sk=sort,
            gsi2pk=purchase_status_pk(purchase.status.value),
            gsi2sk=sort,
            id=purchase.id,
            user_id=purchase.user_id,
            pack_id=purchase.pack_id,
            coins=purchase.coins,
            amount_cents=purchase.amount_cents,
            currency=purchase.currency,
            status=purchase.status.value,
            failure_reason=purchase.failure_reason,
            checkout_session_id=purchase.checkout_session_id,
            checkout_url=purchase.checkout_url,
            payment_intent_id=purchase.payment_intent_id,
            created_at=purchase.created_at,
            updated_at=purchase.updated_at,
            paid_at=purchase.paid_at,
            credited_at=purchase.credited_at,
            reversed_at=purchase.reversed_at,
            reversal_pending=purchase.reversal_pending,
            version=0,
        )

    def to_purchase(self) -> Purchase:
        return Purchase(
            id=self.id,
            user_id=self.user_id,
            pack_id=self.pack_id,
            coins=int(self.coins),
            amount_cents=int(self.amount_cents),
            currency=self.currency,
            status=PurchaseStatus(self.status),
            failure_reason=self.failure_reason,
            checkout_session_id=self.checkout_session_id,
            checkout_url=self.checkout_url,
            payment_intent_id=self.payment_intent_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            paid_at=self.paid_at,
            credited_at=self.credited_at,
            reversed_at=self.reversed_at,
            reversal_pending=self.reversal_pending,
        )


class PaymentEventItem(Item):
    """``STRIPEEVENT#{eventId}`` / ``EVENT``: a Stripe event whose effect was written, put in the same
    transaction as that effect; expires (TTL) long after Stripe stops retrying (3 days)."""

    ENTITY = "PAYMENT_EVENT"

    event_type = UnicodeAttribute()
    purchase_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()


class PaymentIntentAliasItem(Item):
    """``PAYMENTINTENT#{id}`` / ``ALIAS``: the purchase a PaymentIntent paid, so a charge or dispute
    (which names the PaymentIntent, not the purchase) finds it with one consistent GetItem."""

    ENTITY = "PAYMENT_INTENT_ALIAS"

    user_id = UnicodeAttribute()
    purchase_id = UnicodeAttribute()


class ConnectionItem(Item):
    """``USER#{uid}`` / ``CONN#{id}`` (the user's open sockets) and ``CONN#{id}`` / ``CONN`` (whose it is):
    a live-update WebSocket connection, gone by the table's TTL if ``$disconnect`` never came."""

    ENTITY = "CONN"

    connection_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    connected_at = UnicodeAttribute()
    expires_at = NumberAttribute()


class ExportItem(Item):
    """``USER#{uid}`` / ``EXPORT#{id}``: one export. gsi1 lists a user's exports newest first, gsi3 its
    status (the sweeper's stuck exports), gsi4 ``EXPORTS#EXPIRY`` by ``expiry`` (the sweeper's expired
    ones); ``expires_at`` is the table's TTL, a day after ``expiry`` (DynamoDB only tidies up)."""

    ENTITY = "EXPORT"

    id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    status = UnicodeAttribute()
    zip_key = UnicodeAttribute()
    image_count = NumberAttribute(default=0)
    missing_count = NumberAttribute(default=0)
    size_bytes = NumberAttribute(default=0)
    failure_reason = UnicodeAttribute(null=True)
    upload_id = UnicodeAttribute(null=True)  # the multipart upload in flight, aborted by a redelivery
    expiry = UnicodeAttribute()
    expires_at = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    def to_export(self) -> Export:
        return Export(
            id=self.id,
            user_id=self.user_id,
            zip_key=self.zip_key,
            expires_at=self.expiry,
            status=ExportStatus(self.status),
            image_count=int(self.image_count or 0),
            missing_count=int(self.missing_count or 0),
            size_bytes=int(self.size_bytes or 0),
            failure_reason=self.failure_reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
            upload_id=self.upload_id,
        )


class ExportManifestItem(Item):
    """``USER#{uid}`` / ``EXPORT#{id}#MANIFEST``: the ids to put in the ZIP, kept apart from the export
    so that reading or listing exports never carries up to 1000 ids (no index keys)."""

    ENTITY = "EXPORT_MANIFEST"

    image_ids = JSONAttribute(default=list)
    expires_at = NumberAttribute(null=True)


class ExportCounterItem(Item):
    """``USER#{uid}`` / ``EXPORTS#ACTIVE``: how many of the user's exports are PENDING or PROCESSING,
    changed in the transactions that create and finish them (the MAX_ACTIVE_EXPORTS guard)."""

    ENTITY = "EXPORT_COUNTER"

    active = NumberAttribute(default=0)


class CollectionItem(Item):
    """``USER#{uid}`` / ``COLLECTION#{id}``: a collection, its counters, its cover and its share token."""

    ENTITY = "COLLECTION"

    id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    image_count = NumberAttribute(default=0)
    completed_count = NumberAttribute(default=0)
    cover_image_id = UnicodeAttribute(null=True)
    cover_thumbnail_url = UnicodeAttribute(null=True)
    share_token = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Set when its deletion began: invisible, and no image can join it any more.
    deleting = UnicodeAttribute(null=True)

    @classmethod
    def from_collection(cls, collection: Collection) -> CollectionItem:
        return cls(
            user_pk(collection.user_id),
            collection_sk(collection.id),
            gsi1pk=user_collections_pk(collection.user_id),
            gsi1sk=created_sk(collection.created_at, collection.id),
            id=collection.id,
            user_id=collection.user_id,
            title=collection.title,
            description=collection.description,
            image_count=collection.image_count,
            completed_count=collection.completed_count,
            created_at=collection.created_at,
            updated_at=collection.updated_at,
        )

    def to_collection(self) -> Collection:
        return Collection(
            id=self.id,
            user_id=self.user_id,
            title=self.title,
            description=self.description,
            image_count=int(self.image_count or 0),
            completed_count=int(self.completed_count or 0),
            cover_image_id=self.cover_image_id,
            cover_thumbnail_url=self.cover_thumbnail_url,
            share_token=self.share_token,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class MembershipItem(Item):
    """``COLLECTION#{cid}`` / ``MEMBER#{imageId}``: one image in one collection. gsi1 lists a collection's
    images most recently added first; gsi2 an image's collections. ``completed`` mirrors the image's
    status (COMPLETED or not), kept in step with the collection's ``completed_count``."""

    ENTITY = "MEMBER"

    collection_id = UnicodeAttribute()
    image_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    added_at = UnicodeAttribute()
    completed = BooleanAttribute(default=False)

    @classmethod
    def of(
        cls, user_id: str, collection_id: str, image_id: str, added_at: str, completed: bool
    ) -> MembershipItem:
        return cls(
            members_pk(collection_id),
            member_sk(image_id),
            gsi1pk=collection_added_pk(collection_id),
            gsi1sk=created_sk(added_at, image_id),
            gsi2pk=image_collections_pk(image_id),
            gsi2sk=collection_id,
            collection_id=collection_id,
            image_id=image_id,
            user_id=user_id,
            added_at=added_at,
            completed=completed,
        )


class ShareTokenItem(Item):
    """``SHARE#{token}`` / ``SHARE``: what a share link opens (one GetItem); deleted when revoked or
    rotated."""

    ENTITY = "SHARE"

    collection_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
