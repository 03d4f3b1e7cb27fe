"""The typed inputs of the use cases. Each declares its JSON schema once: the HTTP edge validates a body
against it (types, lengths, control characters, ranges; also the OpenAPI document's request bodies) and
builds the command with ``from_json``; the services take commands and do not check them again. What
the models guarantee (an image's title is not blank, a user's coins are never negative) stays in the
models.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, Self

from imagegen.errors import ValidationError
from imagegen.models import (
    COLLECTION_TITLE_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    NOTE_MAX,
    PROMPT_MAX,
    SUPPORTED_LANGUAGES,
    TITLE_MAX,
)
from imagegen.providers.capabilities import QUALITIES, SEED_MAX, STRENGTH_MAX, STRENGTH_MIN
from imagegen.schema import Schema, obj, string

ALLOWED_UPLOAD_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}
SIZE_MIN, SIZE_MAX, SIZE_STEP, SIZE_DEFAULT = 256, 1024, 64, 1024
FILENAME_MAX = 255
NEGATIVE_PROMPT_MAX = 1000
COIN_CHANGE_MAX = 1_000_000_000


class Command(Protocol):
    SCHEMA: ClassVar[Schema]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self: ...


def request_hash(command: object) -> str:
    """A stable hash of a command: the same request always hashes the same, any other differently."""
    fields = asdict(command)  # type: ignore[call-overload]
    canonical = json.dumps({"type": type(command).__name__, **fields}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value.strip() if isinstance(value, str) else None


def _integer(value: object) -> int | None:
    """A schema-checked integer (JSON Schema counts 7.0 as one) as a Python int."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


_NEGATIVE_PROMPT: Schema = string(NEGATIVE_PROMPT_MAX, nullable=True, multiline=True)
_STYLE: Schema = {
    "type": ["string", "null"],
    "pattern": "^[a-z0-9-]{1,40}$",
    "description": "a style id from GET /generation/options",
}
_SEED: Schema = {"type": ["integer", "null"], "minimum": 0, "maximum": SEED_MAX}

_SIDE: Schema = {
    "type": "integer",
    "minimum": SIZE_MIN,
    "maximum": SIZE_MAX,
    "multipleOf": SIZE_STEP,
    "default": SIZE_DEFAULT,
}


@dataclass(frozen=True)
class GenerateImage:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "prompt": string(PROMPT_MAX, min_length=1, multiline=True),
            "title": string(TITLE_MAX, min_length=1, nullable=True),
            "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
            "width": _SIDE,
            "height": _SIDE,
            "negativePrompt": _NEGATIVE_PROMPT,
            "style": _STYLE,
            "seed": _SEED,
            "quality": {"type": "string", "enum": list(QUALITIES), "default": "standard"},
        },
        required=("prompt",),
    )

    prompt: str
    title: str | None = None
    description: str | None = None
    width: int = SIZE_DEFAULT
    height: int = SIZE_DEFAULT
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    quality: str = "standard"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        return cls(
            prompt=_text(body, "prompt") or "",
            title=_text(body, "title"),
            description=_text(body, "description") or None,
            width=body.get("width", SIZE_DEFAULT),
            height=body.get("height", SIZE_DEFAULT),
            negative_prompt=_text(body, "negativePrompt") or None,
            style=body.get("style"),
            seed=_integer(body.get("seed")),
            quality=body.get("quality") or "standard",
        )

    def default_title(self) -> str:
        """The prompt on one line: titles cannot span lines, prompts can."""
        return self.title or " ".join(self.prompt.split())[:80]


@dataclass(frozen=True)
class StartUpload:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "filename": string(FILENAME_MAX, min_length=1),
            "contentType": {"type": "string", "enum": list(ALLOWED_UPLOAD_TYPES)},
            "size": {"type": "integer", "minimum": 1, "description": "bytes; at most MAX_UPLOAD_BYTES"},
            "title": string(TITLE_MAX, min_length=1, nullable=True),
            "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
        },
        required=("filename", "contentType", "size"),
    )

    filename: str
    content_type: str
    size: int
    title: str | None = None
    description: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        filename = body["filename"]
        if not filename.strip():
            raise ValidationError.single("filename", "must not be blank")
        return cls(
            filename=filename,
            content_type=body["contentType"],
            size=body["size"],
            title=_text(body, "title"),
            description=_text(body, "description") or None,
        )

    def default_title(self) -> str:
        return self.title or self.filename.strip()[:TITLE_MAX]


@dataclass(frozen=True)
class EditImage:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "title": string(TITLE_MAX, min_length=1),
            "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
        }
    )

    title: str | None = None
    description: str | None = None
    clear_description: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        description = _text(body, "description")
        return cls(
            title=_text(body, "title"),
            description=description or None,
            clear_description="description" in body and not description,
        )


@dataclass(frozen=True)
class UpdateProfile:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "firstName": string(NAME_MAX),
            "lastName": string(NAME_MAX),
            "language": {"type": "string", "enum": list(SUPPORTED_LANGUAGES)},
        }
    )

    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        return cls(
            first_name=_text(body, "firstName"),
            last_name=_text(body, "lastName"),
            language=body.get("language"),
        )


@dataclass(frozen=True)
class ChangeCoins:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "amount": {
                "type": "integer",
                "minimum": -COIN_CHANGE_MAX,
                "maximum": COIN_CHANGE_MAX,
                "not": {"const": 0},
                "description": "positive grants, negative debits; not 0",
            },
            "reason": string(NOTE_MAX, min_length=1, multiline=True),
        },
        required=("amount", "reason"),
    )

    amount: int
    reason: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        reason = body["reason"].strip()
        if not reason:
            raise ValidationError.single("reason", "must not be blank")
        return cls(amount=body["amount"], reason=reason)


@dataclass(frozen=True)
class StartCheckout:
    """``POST /shop/checkout``: which pack to buy (an id of ``GET /shop/packs``; another is 422)."""

    SCHEMA: ClassVar[Schema] = obj(
        {"packId": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z0-9][a-z0-9_-]*$"}},
        required=("packId",),
    )

    pack_id: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        return cls(pack_id=body["packId"])


@dataclass(frozen=True)
class VaryImage:
    """``POST /images/{id}/variations``: ``source_image_id`` comes from the path, the rest from the body;
    ``strength`` None means the default (and says the client did not choose one)."""

    SCHEMA: ClassVar[Schema] = obj(
        {
            "prompt": string(PROMPT_MAX, min_length=1, nullable=True, multiline=True),
            "strength": {
                "type": ["number", "null"],
                "minimum": STRENGTH_MIN,
                "maximum": STRENGTH_MAX,
                "description": "how far from the source, 0.1 (close) to 0.9 (loose); default 0.5",
            },
            "seed": _SEED,
            "style": _STYLE,
        }
    )

    source_image_id: str = ""
    prompt: str | None = None
    strength: float | None = None
    seed: int | None = None
    style: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        strength = body.get("strength")
        return cls(
            prompt=_text(body, "prompt") or None,
            strength=float(strength) if isinstance(strength, int | float) else None,
            seed=_integer(body.get("seed")),
            style=body.get("style"),
        )


EXPORT_IDS_MAX = 1000
ID_MAX = 128


@dataclass(frozen=True)
class CreateExport:
    """``imageIds`` (1..1000, de-duplicated in order) or ``collectionId``: exactly one of them."""

    SCHEMA: ClassVar[Schema] = obj(
        {
            "imageIds": {
                "type": "array",
                "items": string(ID_MAX, min_length=1),
                "minItems": 1,
                "maxItems": EXPORT_IDS_MAX,
                "description": f"1..{EXPORT_IDS_MAX} of the caller's image ids",
            },
            "collectionId": string(ID_MAX, min_length=1),
        }
    ) | {"oneOf": [{"required": ["imageIds"]}, {"required": ["collectionId"]}]}

    image_ids: tuple[str, ...] = ()
    collection_id: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        has_ids, has_collection = "imageIds" in body, "collectionId" in body
        if has_ids == has_collection:
            raise ValidationError.single("imageIds", "give exactly one of imageIds and collectionId")
        if has_collection:
            return cls(collection_id=body["collectionId"])
        raw = body["imageIds"]
        if not 1 <= len(raw) <= EXPORT_IDS_MAX:
            raise ValidationError.single("imageIds", f"must hold 1 to {EXPORT_IDS_MAX} ids")
        for position, value in enumerate(raw):
            if (
                not isinstance(value, str)
                or not 1 <= len(value) <= ID_MAX
                or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in value)
            ):
                raise ValidationError.single(
                    f"imageIds[{position}]", f"must be an id of 1 to {ID_MAX} printable characters"
                )
        return cls(image_ids=tuple(dict.fromkeys(raw)))


# ---- collections and batch operations ------------------------------------------------------------
BATCH_MAX = 100
_ID_MAX = 128


@dataclass(frozen=True)
class CreateCollection:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "title": string(COLLECTION_TITLE_MAX, min_length=1),
            "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
        },
        required=("title",),
    )

    title: str
    description: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        title = _text(body, "title") or ""
        if not title:
            raise ValidationError.single("title", "must not be blank")
        return cls(title=title, description=_text(body, "description") or None)


@dataclass(frozen=True)
class EditCollection:
    SCHEMA: ClassVar[Schema] = obj(
        {
            "title": string(COLLECTION_TITLE_MAX, min_length=1),
            "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
        }
    )

    title: str | None = None
    description: str | None = None
    clear_description: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        title = _text(body, "title")
        if title is not None and not title:
            raise ValidationError.single("title", "must not be blank")
        description = _text(body, "description")
        return cls(
            title=title,
            description=description or None,
            clear_description="description" in body and not description,
        )


BATCH_ACTIONS = ("delete", "addToCollection", "removeFromCollection")


@dataclass(frozen=True)
class BatchImages:
    """``POST /images/batch``: ``imageIds`` de-duplicated, in the order of first appearance.

    ``collectionId`` goes with the membership actions and not with ``delete`` (the schema's ``oneOf``
    says so for the document; ``from_json`` checks it, as the schema module has no ``oneOf``)."""

    SCHEMA: ClassVar[Schema] = {
        **obj(
            {
                "action": {"type": "string", "enum": list(BATCH_ACTIONS)},
                "imageIds": {
                    "type": "array",
                    "items": string(_ID_MAX, min_length=1),
                    "minItems": 1,
                    "maxItems": BATCH_MAX,
                    "description": f"1..{BATCH_MAX} image ids; repeats are answered once",
                },
                "collectionId": string(_ID_MAX, min_length=1),
            },
            required=("action", "imageIds"),
        ),
        "oneOf": [
            {"properties": {"action": {"const": "delete"}}, "not": {"required": ["collectionId"]}},
            {
                "properties": {"action": {"enum": ["addToCollection", "removeFromCollection"]}},
                "required": ["collectionId"],
            },
        ],
    }

    action: str
    image_ids: tuple[str, ...]
    collection_id: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        ids = body["imageIds"]
        if not 1 <= len(ids) <= BATCH_MAX:
            raise ValidationError.single("imageIds", f"must hold 1 to {BATCH_MAX} ids")
        for position, value in enumerate(ids):
            if (
                not isinstance(value, str)
                or not 1 <= len(value) <= _ID_MAX
                or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
            ):
                raise ValidationError.single(
                    f"imageIds.{position}", f"must be an id of 1 to {_ID_MAX} characters"
                )
        action = body["action"]
        collection_id = body.get("collectionId")
        if action != "delete" and collection_id is None:
            raise ValidationError.single("collectionId", f"is required for {action}")
        if action == "delete" and collection_id is not None:
            raise ValidationError.single("collectionId", "is not used by delete")
        return cls(action=action, image_ids=tuple(dict.fromkeys(ids)), collection_id=collection_id)
