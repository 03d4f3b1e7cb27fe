"""Query parameter schemas shared by the list routes (request bodies are the commands' own schemas)."""

from __future__ import annotations

from imagegen.models import ImageStatus, ImageType
from imagegen.schema import Schema

LIST_QUERY: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "cursor": {"type": "string", "description": "nextCursor of the previous page"},
}
IMAGE_FILTERS: dict[str, Schema] = {
    "type": {"type": "string", "enum": [t.value for t in ImageType]},
    "status": {"type": "string", "enum": [s.value for s in ImageStatus]},
}
