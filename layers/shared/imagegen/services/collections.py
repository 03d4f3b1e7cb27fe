"""Collection use cases: a user's collections, their images, and share links.

A share link is ``<FRONTEND_URL>/s/<token>``: 32 random bytes (``secrets.token_urlsafe``, 256 bits),
stored as its own item, so opening it is one GetItem. Rotating writes a fresh token and deletes the
old one in one transaction; revoking deletes it. The public page shows only COMPLETED images and
nothing that names the owner: no user id, email, prompt or storage key, and only rendition URLs keyed
by image (legacy renditions, keyed by owner, are left out of it: their URLs are null). A title that is
the prompt (a generated image's default title) is shown empty.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from imagegen.commands import CreateCollection, EditCollection
from imagegen.errors import NotFound
from imagegen.models import Collection, Image
from imagegen.ports import CollectionRepository, IdSource, Page
from imagegen.settings import Settings
from imagegen.storage.keys import rendition_image_id

SHARE_TOKEN_BYTES = 32  # 256 bits; the contract asks for at least 128
_TOKEN_ATTEMPTS = 3


def new_share_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


def public_title(image: Image) -> str:
    """The title a shared page may show: a generated image's title defaults to its prompt (the first
    80 characters on one line), and a prompt is never shown there, so such a title is shown as ""."""
    if image.prompt:
        flat = " ".join(image.prompt.split())
        if image.title == flat[:80] or image.title in flat:
            return ""
    return image.title


class CollectionService:
    def __init__(
        self,
        *,
        collections: CollectionRepository,
        settings: Settings,
        ids: IdSource,
        tokens: Callable[[], str] = new_share_token,
    ) -> None:
        self.collections = collections
        self.settings = settings
        self.ids = ids
        self.tokens = tokens

    # ---- the caller's collections ----------------------------------------------------------------
    def to_json(self, collection: Collection) -> dict[str, Any]:
        return collection.to_json(self.share_url(collection.share_token) if collection.share_token else None)

    def share_url(self, token: str) -> str:
        return f"{self.settings.frontend_url.rstrip('/')}/s/{token}"

    def create(self, user_id: str, command: CreateCollection) -> Collection:
        collection = Collection(
            id=self.ids.new_id(), user_id=user_id, title=command.title, description=command.description
        )
        return self.collections.create(collection)

    def get(self, user_id: str, collection_id: str) -> Collection:
        found = self.collections.find(user_id, collection_id)
        if found is None:
            raise NotFound("No such collection.")
        return found

    def list(self, user_id: str, limit: int, cursor: str | None) -> Page[Collection]:
        return self.collections.list_for_user(user_id, limit, cursor)

    def update(self, user_id: str, collection_id: str, command: EditCollection) -> Collection:
        return self.collections.update(
            user_id,
            collection_id,
            title=command.title,
            description=command.description,
            clear_description=command.clear_description,
        )

    def delete(self, user_id: str, collection_id: str) -> None:
        """The collection, its memberships and its share link; its images stay."""
        if not self.collections.delete(user_id, collection_id):
            raise NotFound("No such collection.")

    def images(self, user_id: str, collection_id: str, limit: int, cursor: str | None) -> Page[Image]:
        return self.collections.find_images(user_id, collection_id, limit, cursor)

    # ---- sharing ---------------------------------------------------------------------------------
    def share(self, user_id: str, collection_id: str) -> str:
        """A fresh link; the previous one stops working."""
        for attempt in range(1, _TOKEN_ATTEMPTS + 1):
            try:
                collection = self.collections.share(user_id, collection_id, self.tokens())
            except ValueError:  # a token already in use: astronomically unlikely with 256 bits
                if attempt == _TOKEN_ATTEMPTS:
                    raise
                continue
            assert collection.share_token is not None
            return self.share_url(collection.share_token)
        raise AssertionError("unreachable")

    def unshare(self, user_id: str, collection_id: str) -> None:
        self.collections.unshare(user_id, collection_id)

    def shared_page(self, token: str, limit: int, cursor: str | None) -> dict[str, Any]:
        """What a share link shows: title, description, the number of COMPLETED images, and a page of
        them with their renditions. Unknown or revoked: NotFound."""
        collection = self.collections.find_shared(token)
        if collection is None:
            raise NotFound("No such shared collection.")
        page = self.collections.find_shared_images(collection, limit, cursor)
        return {
            "collection": {
                "title": collection.title,
                "description": collection.description,
                "imageCount": collection.completed_count,
            },
            "items": [self._public_image(image) for image in page.items],
            "nextCursor": page.next_cursor,
        }

    def _public_image(self, image: Image) -> dict[str, Any]:
        preview_key = image.metadata.get("previewKey")
        owner_free = (
            image.thumbnail_key is not None
            and rendition_image_id(image.thumbnail_key, settings=self.settings) == image.id
            and isinstance(preview_key, str)
            and rendition_image_id(preview_key, settings=self.settings) == image.id
        )
        size = image.dimensions()
        return {
            "id": image.id,
            "title": public_title(image),
            # Only renditions keyed by image: a legacy rendition's key (and URL) names its owner.
            "thumbnailUrl": image.thumbnail_url if owner_free else None,
            "previewUrl": image.metadata.get("previewUrl") if owner_free else None,
            "width": size["width"],
            "height": size["height"],
        }
