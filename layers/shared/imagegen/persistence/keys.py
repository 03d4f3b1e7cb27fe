"""The single table's key formats: the only place that spells them (see ``docs/data-model.md``)."""

from __future__ import annotations

import hashlib

from imagegen.models import ImageStatus, ImageType

PROFILE = "PROFILE"
GUARD = "GUARD"
ALIAS = "ALIAS"
IMAGE_SK = "IMAGE"
EPH_SK = "EPH"
LEDGER_PREFIX = "LEDGER#"
OP_PREFIX = "OP#"
USERS_PARTITION = "USERS"
DELETING_PARTITION = "DELETING"
SIGNUP_SK = "SIGNUP"
SIGNUP_ENTITY = "SIGNUP"
CONNECTION_PREFIX = "CONN#"
CONNECTION_REF = "CONN"
IMAGES_PARTITION = "IMAGES"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def email_pk(email: str) -> str:
    return f"EMAIL#{email}"


def google_pk(google_id: str) -> str:
    return f"GOOGLE#{google_id}"


def signup_pk(google_id: str) -> str:
    """The tombstone of a Google account that once had a user: a hash of its ``sub``, never the sub
    itself (nor the email), so it can outlive the account's erasure."""
    digest = hashlib.sha256(b"imagegen-signup\x00" + google_id.encode("utf-8")).hexdigest()
    return f"SIGNUP#{digest}"


def image_pk(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def storage_key_pk(storage_key: str) -> str:
    return f"STORAGEKEY#{storage_key}"


def ledger_sk(seq: int) -> str:
    # Zero padding makes the string order the numeric order, so the newest entry sorts last.
    return f"{LEDGER_PREFIX}{seq:012d}"


def op_sk(idempotency_key: str) -> str:
    return f"{OP_PREFIX}{idempotency_key}"


def user_images_pk(user_id: str) -> str:
    return f"USER#{user_id}#IMAGES"


def user_type_pk(user_id: str, image_type: ImageType) -> str:
    return f"USER#{user_id}#TYPE#{image_type.value}"


def status_pk(status: ImageStatus) -> str:
    return f"STATUS#{status.value}"


def created_sk(created_at: str, entity_id: str) -> str:
    # The id breaks ties between items created in the same millisecond.
    return f"{created_at}#{entity_id}"


def ephemeral_pk(namespace: str, key: str) -> str:
    return f"EPH#{namespace}#{key}"


# ---- the coin shop (docs/data-model.md, "Purchases") -------------------------------------------
PURCHASE_PREFIX = "PURCHASE#"
PURCHASES_PARTITION = "PURCHASES"
PAYMENT_EVENT_SK = "EVENT"


def purchase_sk(purchase_id: str) -> str:
    # Purchase ids are UUIDv7 (time first), so the user's purchases sort by creation in their partition.
    return f"{PURCHASE_PREFIX}{purchase_id}"


def purchase_status_pk(status: str) -> str:
    # Own values on gsi2 (never an image's): the admin list of one status, newest first.
    return f"PURCHASES#{status}"


def payment_event_pk(event_id: str) -> str:
    return f"STRIPEEVENT#{event_id}"


def payment_intent_pk(payment_intent_id: str) -> str:
    return f"PAYMENTINTENT#{payment_intent_id}"


# ---- write-sharded image index partitions (docs/data-model.md, "Hot partitions and shards") ----------
IMAGE_SHARDS = 16
"""Partitions that the all-images list (gsi4) and each status (gsi3) are spread over, by a hash of the
image id. Changing it moves images between partitions: a migration like the first one (``ops.backfill``)."""


def image_shard(image_id: str) -> int:
    """The image's shard, 0..IMAGE_SHARDS-1: stable across processes and releases (not ``hash()``)."""
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % IMAGE_SHARDS


def images_shard_pk(shard: int) -> str:
    return f"{IMAGES_PARTITION}#{shard}"


def status_shard_pk(status: ImageStatus, shard: int) -> str:
    return f"{status_pk(status)}#{shard}"


def image_status_index_pk(image_id: str, status: ImageStatus) -> str:
    """gsi3pk of an image: its status, in its shard."""
    return status_shard_pk(status, image_shard(image_id))


def image_all_index_pk(image_id: str) -> str:
    """gsi4pk of an image: the all-images list, in its shard."""
    return images_shard_pk(image_shard(image_id))


def images_partitions(*, legacy: bool) -> tuple[str, ...]:
    """Every gsi4 partition of the all-images list; with ``legacy``, also the single partition of the
    layout before the shards (``IMAGES``), read until ``ops.backfill`` has moved every image."""
    shards = tuple(images_shard_pk(n) for n in range(IMAGE_SHARDS))
    return (*shards, IMAGES_PARTITION) if legacy else shards


def status_partitions(status: ImageStatus, *, legacy: bool) -> tuple[str, ...]:
    """Every gsi3 partition of one status (with ``legacy``, also ``STATUS#{status}`` unsharded)."""
    shards = tuple(status_shard_pk(status, n) for n in range(IMAGE_SHARDS))
    return (*shards, status_pk(status)) if legacy else shards


def connection_sk(connection_id: str) -> str:
    """A live-update connection on its user's partition."""
    return f"{CONNECTION_PREFIX}{connection_id}"


def connection_pk(connection_id: str) -> str:
    """The connection's own item: which user it belongs to (all ``$disconnect`` knows is its id)."""
    return f"{CONNECTION_PREFIX}{connection_id}"


# ---- exports ----------------------------------------------------------------------------------------
EXPORT_PREFIX = "EXPORT#"
EXPORT_COUNTER_SK = "EXPORTS#ACTIVE"
EXPORTS_EXPIRY_PARTITION = "EXPORTS#EXPIRY"


def export_sk(export_id: str) -> str:
    return f"{EXPORT_PREFIX}{export_id}"


def export_manifest_sk(export_id: str) -> str:
    return f"{EXPORT_PREFIX}{export_id}#MANIFEST"


def user_exports_pk(user_id: str) -> str:
    return f"USER#{user_id}#EXPORTS"


def export_status_pk(status: str) -> str:
    return f"EXPORTSTATUS#{status}"


# ---- collections (see docs/data-model.md, "Collections") ---------------------------------------
COLLECTION_PREFIX = "COLLECTION#"
MEMBER_PREFIX = "MEMBER#"
SHARE_SK = "SHARE"


def collection_sk(collection_id: str) -> str:
    """The collection item lives in its owner's partition: ``USER#{uid}`` / ``COLLECTION#{id}``."""
    return f"{COLLECTION_PREFIX}{collection_id}"


def user_collections_pk(user_id: str) -> str:
    """gsi1 partition of a user's collections, newest first."""
    return f"USER#{user_id}#COLLECTIONS"


def members_pk(collection_id: str) -> str:
    """The partition of a collection's memberships (``MEMBER#{imageId}`` items)."""
    return f"COLLECTION#{collection_id}"


def member_sk(image_id: str) -> str:
    return f"{MEMBER_PREFIX}{image_id}"


def collection_added_pk(collection_id: str) -> str:
    """gsi1 partition of a collection's memberships, most recently added first."""
    return f"COLLECTION#{collection_id}#ADDED"


def image_collections_pk(image_id: str) -> str:
    """gsi2 partition of an image's memberships (which collections it is in)."""
    return f"IMAGE#{image_id}#COLLECTIONS"


def share_pk(token: str) -> str:
    return f"SHARE#{token}"
