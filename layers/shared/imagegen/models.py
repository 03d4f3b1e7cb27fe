"""Domain models: User, Image and LedgerEntry, with their rules.

Models validate themselves and raise domain errors with the contract's codes. ``to_json`` is the
contract's API shape (camelCase); ``to_record``/``from_record`` is the storage mapping (snake_case
plain values) that the persistence adapter maps to its items.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from imagegen.errors import InvalidTransition, ValidationError

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es")
DEFAULT_LANGUAGE = "en"

_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
NAME_MAX = 100
TITLE_MAX = 200
DESCRIPTION_MAX = 2000
PROMPT_MAX = 1000
NOTE_MAX = 500
METADATA_MAX_KEYS = 50


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds and ``Z``; sorts lexicographically in time order."""
    return iso_utc(datetime.now(UTC))


def iso_utc(moment: datetime) -> str:
    """``moment`` in the format of :func:`utc_now`, whatever its time zone."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def _clean_text(
    value: object, field_name: str, *, max_len: int, required: bool, multiline: bool = True
) -> str:
    if not isinstance(value, str):
        raise ValidationError.single(field_name, "must be a string")
    text = value.strip()
    if required and not text:
        raise ValidationError.single(field_name, "must not be empty")
    if len(text) > max_len:
        raise ValidationError.single(field_name, f"must be at most {max_len} characters")
    allowed = "\n\r\t" if multiline else ""  # browsers send CRLF from a textarea
    # C0 and C1 controls and DEL (terminal escapes); lone surrogates cannot be stored as UTF-8.
    if any(
        (ord(c) < 32 and c not in allowed) or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF
        for c in text
    ):
        raise ValidationError.single(field_name, "must not contain control characters")
    return text


def _enum[E: StrEnum](kind: type[E], value: object, field_name: str) -> E:
    try:
        return kind(value)  # type: ignore[arg-type]  # a non-str raises ValueError too
    except ValueError as exc:
        allowed = ", ".join(e.value for e in kind)
        raise ValidationError.single(field_name, f"must be one of {allowed}") from exc


def validate_email(value: object) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value.strip()):
        raise ValidationError.single("email", "must be a valid email address")
    return value.strip().lower()


def validate_name(value: object, field_name: str) -> str:
    return _clean_text(value, field_name, max_len=NAME_MAX, required=False, multiline=False)


def validate_language(value: object) -> str:
    if not isinstance(value, str) or value not in SUPPORTED_LANGUAGES:
        raise ValidationError.single("language", f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
    return value


def validate_title(value: object) -> str:
    return _clean_text(value, "title", max_len=TITLE_MAX, required=True, multiline=False)


def validate_description(value: object) -> str | None:
    if value is None:
        return None
    return _clean_text(value, "description", max_len=DESCRIPTION_MAX, required=False) or None


def validate_prompt(value: object) -> str:
    return _clean_text(value, "prompt", max_len=PROMPT_MAX, required=True)


def validate_coins(value: object, field_name: str = "coins") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError.single(field_name, "must be a non-negative integer")
    return value


def validate_metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValidationError.single("metadata", "must be a JSON object")
    if len(value) > METADATA_MAX_KEYS:
        raise ValidationError.single("metadata", f"must have at most {METADATA_MAX_KEYS} keys")
    return dict(value)


class UserRole(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class ImageType(StrEnum):
    GENERATED = "GENERATED"
    UPLOADED = "UPLOADED"


class ImageStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


# Allowed status moves. COMPLETED and FAILED are final: nothing ever goes back to PENDING.
TRANSITIONS: dict[ImageStatus, frozenset[ImageStatus]] = {
    ImageStatus.PENDING: frozenset({ImageStatus.PROCESSING, ImageStatus.COMPLETED, ImageStatus.FAILED}),
    ImageStatus.PROCESSING: frozenset({ImageStatus.COMPLETED, ImageStatus.FAILED}),
    ImageStatus.COMPLETED: frozenset(),
    ImageStatus.FAILED: frozenset(),
}


class LedgerReason(StrEnum):
    SIGNUP_BONUS = "signup_bonus"
    IMAGE_GENERATION = "image_generation"
    IMAGE_UPLOAD = "image_upload"
    REFUND = "refund"
    ADMIN_GRANT = "admin_grant"
    ADMIN_DEBIT = "admin_debit"
    PURCHASE = "purchase"
    PURCHASE_REVERSAL = "purchase_reversal"


def negative_balance_allowed(amount: int, balance_after: int, reason: LedgerReason | str) -> bool:
    """The one rule for a balance below zero: only a ``purchase_reversal`` (taking back coins already
    spent) may take it there; a credit may leave it there (it was lower before); nothing else may."""
    return balance_after >= 0 or reason == LedgerReason.PURCHASE_REVERSAL or amount > 0


@dataclass(frozen=True)
class UserStats:
    total_images: int = 0
    generated_images: int = 0
    uploaded_images: int = 0
    total_coins_used: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "totalImages": self.total_images,
            "generatedImages": self.generated_images,
            "uploadedImages": self.uploaded_images,
            "totalCoinsUsed": self.total_coins_used,
        }


@dataclass
class User:
    id: str
    email: str
    google_id: str
    first_name: str = ""
    last_name: str = ""
    roles: list[UserRole] = field(default_factory=lambda: [UserRole.USER])
    language: str = DEFAULT_LANGUAGE
    coins: int = 0
    created_at: str = field(default_factory=utc_now)
    updated_at: str = ""

    def __post_init__(self) -> None:
        self.email = validate_email(self.email)
        if not isinstance(self.google_id, str) or not self.google_id or len(self.google_id) > 255:
            raise ValidationError.single("googleId", "must be a non-empty string")
        self.first_name = validate_name(self.first_name, "firstName")
        self.last_name = validate_name(self.last_name, "lastName")
        self.language = validate_language(self.language)
        # Negative only after a purchase_reversal of coins already spent (see negative_balance_allowed).
        if isinstance(self.coins, bool) or not isinstance(self.coins, int):
            raise ValidationError.single("coins", "must be an integer")
        self.roles = sorted({_enum(UserRole, r, "roles") for r in self.roles} | {UserRole.USER})
        self.updated_at = self.updated_at or self.created_at

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def has_role(self, role: UserRole | str) -> bool:
        return UserRole(role) in self.roles

    def is_admin(self) -> bool:
        return self.has_role(UserRole.ADMIN)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "fullName": self.full_name,
            "roles": [str(r) for r in self.roles],
            "language": self.language,
            "coins": self.coins,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "google_id": self.google_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "roles": [str(r) for r in self.roles],
            "language": self.language,
            "coins": self.coins,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> User:
        return cls(
            id=record["id"],
            email=record["email"],
            google_id=record["google_id"],
            first_name=record.get("first_name") or "",
            last_name=record.get("last_name") or "",
            roles=[UserRole(r) for r in record.get("roles") or [UserRole.USER]],
            language=record.get("language") or DEFAULT_LANGUAGE,
            coins=int(record.get("coins") or 0),
            created_at=record["created_at"],
            updated_at=record.get("updated_at") or record["created_at"],
        )


@dataclass
class Image:
    id: str
    user_id: str
    type: ImageType
    title: str
    storage_key: str
    storage_url: str
    status: ImageStatus = ImageStatus.PENDING
    description: str | None = None
    prompt: str | None = None
    thumbnail_key: str | None = None
    thumbnail_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    coins_used: int = 0
    failure_reason: str | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str = ""
    # How it was generated (provider, model and options, the seed always): None for uploads.
    generation: Generation | None = None
    # A variation's source image.
    source_image_id: str | None = None

    def __post_init__(self) -> None:
        self.type = _enum(ImageType, self.type, "type")
        self.status = _enum(ImageStatus, self.status, "status")
        self.title = validate_title(self.title)
        self.description = validate_description(self.description)
        if self.prompt is not None:
            self.prompt = validate_prompt(self.prompt)
        if self.type is ImageType.GENERATED and not self.prompt:
            raise ValidationError.single("prompt", "is required for a generated image")
        self.metadata = validate_metadata(self.metadata)
        self.coins_used = validate_coins(self.coins_used, "coinsUsed")
        if not self.storage_key:
            raise ValidationError.single("storageKey", "must not be empty")
        self.updated_at = self.updated_at or self.created_at

    def is_ready(self) -> bool:
        return self.status is ImageStatus.COMPLETED

    def is_failed(self) -> bool:
        return self.status is ImageStatus.FAILED

    def is_final(self) -> bool:
        return not TRANSITIONS[self.status]

    def is_generated(self) -> bool:
        return self.type is ImageType.GENERATED

    def is_uploaded(self) -> bool:
        return self.type is ImageType.UPLOADED

    def display_url(self) -> str:
        return self.thumbnail_url or self.storage_url

    def dimensions(self) -> dict[str, int | None]:
        w, h = self.metadata.get("width"), self.metadata.get("height")
        return {"width": w if isinstance(w, int) else None, "height": h if isinstance(h, int) else None}

    def can_move_to(self, status: ImageStatus | str) -> bool:
        return ImageStatus(status) in TRANSITIONS[self.status]

    def moved_to(self, status: ImageStatus | str, **changes: Any) -> Image:
        """A copy in the new status; raises InvalidTransition for a move the rules forbid."""
        target = ImageStatus(status)
        if not self.can_move_to(target):
            raise InvalidTransition(f"cannot move from {self.status} to {target}")
        return replace(self, status=target, updated_at=utc_now(), **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "type": str(self.type),
            "status": str(self.status),
            "title": self.title,
            "description": self.description,
            "prompt": self.prompt,
            "storageKey": self.storage_key,
            "storageUrl": self.storage_url,
            "thumbnailKey": self.thumbnail_key,
            "thumbnailUrl": self.thumbnail_url,
            "metadata": dict(self.metadata),
            "coinsUsed": self.coins_used,
            "failureReason": self.failure_reason,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "generation": self.generation.to_json() if self.generation is not None else None,
            "sourceImageId": self.source_image_id,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "type": str(self.type),
            "status": str(self.status),
            "title": self.title,
            "description": self.description,
            "prompt": self.prompt,
            "storage_key": self.storage_key,
            "storage_url": self.storage_url,
            "thumbnail_key": self.thumbnail_key,
            "thumbnail_url": self.thumbnail_url,
            "metadata": dict(self.metadata),
            "coins_used": self.coins_used,
            "failure_reason": self.failure_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "generation": self.generation.to_record() if self.generation is not None else None,
            "source_image_id": self.source_image_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Image:
        return cls(
            id=record["id"],
            user_id=record["user_id"],
            type=ImageType(record["type"]),
            status=ImageStatus(record["status"]),
            title=record["title"],
            description=record.get("description"),
            prompt=record.get("prompt"),
            storage_key=record["storage_key"],
            storage_url=record["storage_url"],
            thumbnail_key=record.get("thumbnail_key"),
            thumbnail_url=record.get("thumbnail_url"),
            metadata=dict(record.get("metadata") or {}),
            coins_used=int(record.get("coins_used") or 0),
            failure_reason=record.get("failure_reason"),
            created_at=record["created_at"],
            updated_at=record.get("updated_at") or record["created_at"],
            generation=Generation.from_record(record.get("generation")),
            source_image_id=record.get("source_image_id"),
        )


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    user_id: str
    amount: int
    balance_after: int
    reason: LedgerReason
    seq: int
    image_id: str | None = None
    note: str | None = None
    created_at: str = field(default_factory=utc_now)
    purchase_id: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount == 0:
            raise ValidationError.single("amount", "must be a non-zero integer")
        object.__setattr__(self, "reason", _enum(LedgerReason, self.reason, "reason"))
        if isinstance(self.balance_after, bool) or not isinstance(self.balance_after, int):
            raise ValidationError.single("balanceAfter", "must be an integer")
        if not negative_balance_allowed(self.amount, self.balance_after, self.reason):
            raise ValidationError.single("balanceAfter", "must not be negative after a debit")
        if self.note is not None:
            object.__setattr__(
                self, "note", _clean_text(self.note, "reason", max_len=NOTE_MAX, required=False)
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "amount": self.amount,
            "balanceAfter": self.balance_after,
            "reason": str(self.reason),
            "imageId": self.image_id,
            "note": self.note,
            "createdAt": self.created_at,
            "purchaseId": self.purchase_id,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "reason": str(self.reason),
            "seq": self.seq,
            "image_id": self.image_id,
            "note": self.note,
            "created_at": self.created_at,
            "purchase_id": self.purchase_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LedgerEntry:
        return cls(
            id=record["id"],
            user_id=record["user_id"],
            amount=int(record["amount"]),
            balance_after=int(record["balance_after"]),
            reason=LedgerReason(record["reason"]),
            seq=int(record["seq"]),
            image_id=record.get("image_id"),
            note=record.get("note"),
            created_at=record["created_at"],
            purchase_id=record.get("purchase_id"),
        )


@dataclass(frozen=True)
class Generation:
    """How a generated image was (or is to be) made: the provider, its model and the options used.

    ``seed`` is the seed actually used, chosen at request time when the client gave none (None only when
    the model takes no seed); ``strength`` is set for a variation only."""

    provider: str
    model: str
    seed: int | None = None
    style: str | None = None
    negative_prompt: str | None = None
    quality: str = "standard"
    strength: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "style": self.style,
            "seed": self.seed,
            "negativePrompt": self.negative_prompt,
            "quality": self.quality,
            "strength": self.strength,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "style": self.style,
            "seed": self.seed,
            "negative_prompt": self.negative_prompt,
            "quality": self.quality,
            "strength": self.strength,
        }

    @classmethod
    def from_record(cls, record: object) -> Generation | None:
        if not isinstance(record, dict):
            return None
        seed, strength = record.get("seed"), record.get("strength")
        return cls(
            provider=str(record.get("provider") or ""),
            model=str(record.get("model") or ""),
            seed=int(seed) if seed is not None else None,
            style=record.get("style"),
            negative_prompt=record.get("negative_prompt"),
            quality=str(record.get("quality") or "standard"),
            strength=float(strength) if strength is not None else None,
        )


# ---- exports (batch download as one ZIP) ----------------------------------------------------------
class ExportStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


ACTIVE_EXPORT_STATUSES: frozenset[ExportStatus] = frozenset({ExportStatus.PENDING, ExportStatus.PROCESSING})


@dataclass(frozen=True)
class Export:
    """One batch download: the caller's images streamed into one ZIP at ``zip_key``.

    ``image_count`` is how many images the ZIP holds (before it is built: how many are to go in);
    ``missing_count`` how many requested ids were left out (not the caller's, gone, or not completed).
    ``expires_at`` is when the ZIP and the record are removed (``EXPORT_TTL_HOURS`` after completion).
    """

    id: str
    user_id: str
    zip_key: str
    expires_at: str
    status: ExportStatus = ExportStatus.PENDING
    image_count: int = 0
    missing_count: int = 0
    size_bytes: int = 0
    failure_reason: str | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str = ""
    upload_id: str | None = None  # the multipart upload in flight (internal, never in the API)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", _enum(ExportStatus, self.status, "status"))
        for name in ("image_count", "missing_count", "size_bytes"):
            validate_coins(getattr(self, name), name)  # a non-negative integer
        if not self.updated_at:
            object.__setattr__(self, "updated_at", self.created_at)

    def is_active(self) -> bool:
        return self.status in ACTIVE_EXPORT_STATUSES

    def to_json(self, download_url: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": str(self.status),
            "imageCount": self.image_count,
            "missingCount": self.missing_count,
            "sizeBytes": self.size_bytes,
            "downloadUrl": download_url if self.status is ExportStatus.COMPLETED else None,
            "failureReason": self.failure_reason,
            "expiresAt": self.expires_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


# ---- collections -------------------------------------------------------------------------------
COLLECTION_TITLE_MAX = 200
MAX_COLLECTIONS_PER_IMAGE = 100


class BatchStatus(StrEnum):
    """One item's outcome in ``POST /images/batch``."""

    OK = "ok"
    NOT_FOUND = "not_found"
    ALREADY_PRESENT = "already_present"
    NOT_PRESENT = "not_present"
    # The image is in MAX_COLLECTIONS_PER_IMAGE collections already (the contract's four statuses
    # have no word for it; see docs/data-model.md).
    LIMIT_REACHED = "limit_reached"


@dataclass
class Collection:
    """A user's named set of their own images. ``image_count`` counts every member;
    ``completed_count`` the COMPLETED ones (what a shared link shows)."""

    id: str
    user_id: str
    title: str
    description: str | None = None
    image_count: int = 0
    completed_count: int = 0
    cover_image_id: str | None = None
    cover_thumbnail_url: str | None = None
    share_token: str | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str = ""

    def __post_init__(self) -> None:
        self.title = _clean_text(
            self.title, "title", max_len=COLLECTION_TITLE_MAX, required=True, multiline=False
        )
        self.description = validate_description(self.description)
        self.updated_at = self.updated_at or self.created_at

    def to_json(self, share_url: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "title": self.title,
            "description": self.description,
            "imageCount": self.image_count,
            "coverThumbnailUrl": self.cover_thumbnail_url,
            "shared": self.share_token is not None,
            "shareUrl": share_url if self.share_token is not None else None,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
