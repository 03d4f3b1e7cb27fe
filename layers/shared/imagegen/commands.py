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
from imagegen.models import DESCRIPTION_MAX, NAME_MAX, NOTE_MAX, PROMPT_MAX, SUPPORTED_LANGUAGES, TITLE_MAX
from imagegen.schema import Schema, obj, string

ALLOWED_UPLOAD_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}
SIZE_MIN, SIZE_MAX, SIZE_STEP, SIZE_DEFAULT = 256, 1024, 64, 1024
FILENAME_MAX = 255
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
        },
        required=("prompt",),
    )

    prompt: str
    title: str | None = None
    description: str | None = None
    width: int = SIZE_DEFAULT
    height: int = SIZE_DEFAULT

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        return cls(
            prompt=_text(body, "prompt") or "",
            title=_text(body, "title"),
            description=_text(body, "description") or None,
            width=body.get("width", SIZE_DEFAULT),
            height=body.get("height", SIZE_DEFAULT),
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
