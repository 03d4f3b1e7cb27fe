"""``POST /images/batch``: one action on up to 100 of the caller's images, each item applied once and
independently, with one result per distinct id in the order of its first appearance.

Reads are BatchGetItem (the images, and for membership actions the memberships); each change that moves
a counter is its own transaction (a membership with the collection's ``imageCount`` and the image's
collection count; an image delete with its owner's counters), so the counts stay exact and one item's
failure never undoes another's. Deleted images' objects go in one S3 DeleteObjects. A retry is safe:
an item already applied answers ``not_found`` (deleted), ``already_present`` or ``not_present``.
Deleting images gives no coins back, as ``DELETE /images/{id}`` does not.
"""

from __future__ import annotations

from imagegen.commands import BatchImages
from imagegen.errors import InCollections, NotFound
from imagegen.models import BatchStatus, Image
from imagegen.observability import MetricUnit, add_metric
from imagegen.ports import CollectionRepository, ImageRepository, ObjectStore, StoredImage
from imagegen.services.objects import delete_objects_of
from imagegen.settings import Settings

DELETE_ATTEMPTS = 3


def delete_detached(
    images: ImageRepository, collections: CollectionRepository, image: StoredImage
) -> Image | None:
    """Take the image out of its collections, then delete its record (and its owner's counters); an
    image that joined a collection meanwhile is taken out again. None when it was already gone."""
    for attempt in range(1, DELETE_ATTEMPTS + 1):
        if image.collection_count > 0 or attempt > 1:
            collections.detach_image(image.image.id)
        try:
            # The record as it was just read (consistently) the first time: no second read of it.
            return images.delete(image.image.id, read=image.image if attempt == 1 else None)
        except InCollections:
            if attempt == DELETE_ATTEMPTS:
                raise
    return None


class BatchService:
    def __init__(
        self,
        *,
        images: ImageRepository,
        collections: CollectionRepository,
        storage: ObjectStore,
        settings: Settings,
    ) -> None:
        self.images = images
        self.collections = collections
        self.storage = storage
        self.settings = settings

    def run(self, user_id: str, command: BatchImages) -> list[tuple[str, BatchStatus]]:
        ids = list(command.image_ids)
        stored = {k: v for k, v in self.collections.load_images(ids).items() if v.image.user_id == user_id}
        if command.action == "delete":
            results = self._delete(ids, stored)
        else:
            assert command.collection_id is not None
            if self.collections.find(user_id, command.collection_id) is None:
                raise NotFound("No such collection.")
            if command.action == "addToCollection":
                results = self._add(user_id, command.collection_id, ids, stored)
            else:
                results = self._remove(user_id, command.collection_id, ids, stored)
        add_metric("BatchItems", MetricUnit.Count, len(ids))
        return results

    def _delete(self, ids: list[str], stored: dict[str, StoredImage]) -> list[tuple[str, BatchStatus]]:
        results: list[tuple[str, BatchStatus]] = []
        deleted: list[Image] = []
        try:
            for image_id in ids:
                found = stored.get(image_id)
                gone = delete_detached(self.images, self.collections, found) if found is not None else None
                results.append((image_id, BatchStatus.OK if gone is not None else BatchStatus.NOT_FOUND))
                if gone is not None:
                    deleted.append(gone)
        finally:
            # Whatever was deleted loses its objects, even when a later item raised.
            delete_objects_of(self.storage, deleted, self.settings)
            for image in deleted:
                if not image.thumbnail_key:  # a thumbnailer may be writing renditions no record names
                    self.storage.delete_renditions(image.id)
        return results

    def _add(
        self, user_id: str, collection_id: str, ids: list[str], stored: dict[str, StoredImage]
    ) -> list[tuple[str, BatchStatus]]:
        present = self.collections.members_among(collection_id, list(stored))
        results: list[tuple[str, BatchStatus]] = []
        for image_id in ids:
            found = stored.get(image_id)
            if found is None:
                results.append((image_id, BatchStatus.NOT_FOUND))
            elif image_id in present:
                results.append((image_id, BatchStatus.ALREADY_PRESENT))
            else:
                results.append((image_id, self.collections.add_image(user_id, collection_id, found)))
        return results

    def _remove(
        self, user_id: str, collection_id: str, ids: list[str], stored: dict[str, StoredImage]
    ) -> list[tuple[str, BatchStatus]]:
        present = self.collections.members_among(collection_id, list(stored))
        results: list[tuple[str, BatchStatus]] = []
        for image_id in ids:
            if image_id not in stored:
                results.append((image_id, BatchStatus.NOT_FOUND))
            elif image_id not in present:
                results.append((image_id, BatchStatus.NOT_PRESENT))
            else:
                results.append((image_id, self.collections.remove_image(user_id, collection_id, image_id)))
        return results
