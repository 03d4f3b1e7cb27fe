"""The stored objects of an image: which keys they are, and deleting them.

An image's objects are its original, its renditions of the current layout (under
``{THUMBNAIL_PREFIX}/{imageId}/``) and, for images completed before that layout, the legacy renditions
its record names (``thumbnailKey``, ``metadata.previewKey``) or its original's key implies.
"""

from __future__ import annotations

from collections.abc import Iterable

from imagegen.models import Image
from imagegen.ports import ObjectStore
from imagegen.settings import Settings
from imagegen.storage.keys import image_object_keys


def object_keys(image: Image, settings: Settings) -> list[str]:
    """Every key the image's record names or implies (the current layout's included)."""
    preview = image.metadata.get("previewKey")
    return image_object_keys(
        image.id,
        image.storage_key,
        image.thumbnail_key,
        preview if isinstance(preview, str) else None,
        settings=settings,
    )


def delete_image_objects(storage: ObjectStore, image: Image, settings: Settings) -> None:
    """The original and every rendition of one image, of either layout: one DeleteObjects for the keys
    the record names, and, when it names no renditions (not COMPLETED: a thumbnailer may be writing
    some), the image's rendition prefix as well."""
    storage.delete_many(object_keys(image, settings))
    if not image.thumbnail_key:
        storage.delete_renditions(image.id)


def delete_objects_of(storage: ObjectStore, images: Iterable[Image], settings: Settings) -> int:
    """The objects the records of many images name, with S3's batch delete (1000 keys a call).

    Renditions no record names yet are left to the thumbnailer that is writing them (it deletes what
    it wrote when it finds the image gone) and to the sweeper's orphan pass."""
    keys: list[str] = []
    for image in images:
        keys += object_keys(image, settings)
    return storage.delete_many(keys) if keys else 0
