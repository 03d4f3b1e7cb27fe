"""Request body schemas (validation and OpenAPI from one definition)."""

from __future__ import annotations

from imagegen.http.schema import Schema, obj, string
from imagegen.models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    NOTE_MAX,
    PROMPT_MAX,
    SUPPORTED_LANGUAGES,
    TITLE_MAX,
)
from imagegen.services.images import ALLOWED_UPLOAD_TYPES, SIZE_MAX, SIZE_MIN, SIZE_STEP

_side: Schema = {
    "type": "integer",
    "minimum": SIZE_MIN,
    "maximum": SIZE_MAX,
    "multipleOf": SIZE_STEP,
    "default": 1024,
}

GENERATE = obj(
    {
        "prompt": string(PROMPT_MAX, min_length=1, multiline=True),
        "title": string(TITLE_MAX, min_length=1, nullable=True),
        "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
        "width": _side,
        "height": _side,
    },
    required=("prompt",),
)

UPLOAD = obj(
    {
        "filename": string(255, min_length=1),
        "contentType": {"type": "string", "enum": list(ALLOWED_UPLOAD_TYPES)},
        "size": {"type": "integer", "minimum": 1, "description": "bytes; at most MAX_UPLOAD_BYTES"},
        "title": string(TITLE_MAX, min_length=1, nullable=True),
        "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
    },
    required=("filename", "contentType", "size"),
)

PATCH_ME = obj(
    {
        "firstName": string(NAME_MAX),
        "lastName": string(NAME_MAX),
        "language": {"type": "string", "enum": list(SUPPORTED_LANGUAGES)},
    }
)

PATCH_IMAGE = obj(
    {
        "title": string(TITLE_MAX, min_length=1),
        "description": string(DESCRIPTION_MAX, nullable=True, multiline=True),
    }
)

ADMIN_COINS = obj(
    {
        "amount": {
            "type": "integer",
            "minimum": -1_000_000_000,
            "maximum": 1_000_000_000,
            "not": {"const": 0},
            "description": "positive grants, negative debits; not 0",
        },
        "reason": string(NOTE_MAX, min_length=1, multiline=True),
    },
    required=("amount", "reason"),
)

LIST_QUERY: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "cursor": {"type": "string", "description": "nextCursor of the previous page"},
}
IMAGE_FILTERS: dict[str, Schema] = {
    "type": {"type": "string", "enum": ["GENERATED", "UPLOADED"]},
    "status": {"type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]},
}
