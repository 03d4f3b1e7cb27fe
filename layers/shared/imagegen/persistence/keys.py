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
