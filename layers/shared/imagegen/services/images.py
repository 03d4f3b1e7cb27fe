"""Image use cases: generate, upload, list, read, edit, delete, download.

Coins are taken in the same transaction that creates the image. An ``Idempotency-Key`` is recorded in
that transaction too (namespaced ``client:``, with a hash of the request), so there is one idempotency
story: the same key and request return what the first created, another request with the key is
``409 idempotency_key_reused``, and a request that died half-way never locks its key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from imagegen.commands import (
    ALLOWED_UPLOAD_TYPES,
    EditImage,
    GenerateImage,
    StartUpload,
    VaryImage,
    request_hash,
)
from imagegen.errors import (
    IdempotencyKeyReused,
    ImageNotReady,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    StorageKeyTaken,
    ValidationError,
)
from imagegen.models import Image, ImageStatus, ImageType, LedgerReason, iso_utc
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import (
    Charge,
    Clock,
    CollectionRepository,
    EphemeralStore,
    IdSource,
    ImageCreated,
    ImageRead,
    ImageRepository,
    ObjectStore,
    OnceKey,
    Page,
    Publisher,
)
from imagegen.queues import GenerationRequest
from imagegen.services.batch import delete_detached
from imagegen.services.objects import delete_image_objects
from imagegen.services.options import (
    check_variation,
    configured_capabilities,
    generation_for,
    variation_for,
    variation_size,
)
from imagegen.settings import Settings

RATE_NAMESPACE = "rate_generate"
KEY_ATTEMPTS = 3
UPLOAD_RATE_NAMESPACE = "rate_upload"
# Retry-After when too many uploads are PENDING: the sweeper runs every 10 minutes, but a client that
# posts its files frees its slots at once.
PENDING_RETRY_AFTER = 60


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or "image"


def client_key(scope: str, key: str) -> str:
    """The namespace of a client's ``Idempotency-Key``: never equal to a key the server derives."""
    return f"client:{scope}:{key}"


def server_key(scope: str, value: str) -> str:
    return f"server:{scope}:{value}"


@dataclass(frozen=True)
class UploadTicket:
    image: Image
    upload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image.to_json(), "upload": self.upload}


class ImageService:
    def __init__(
        self,
        *,
        images: ImageRepository,
        collections: CollectionRepository,
        rate_limits: EphemeralStore,
        storage: ObjectStore,
        publisher: Publisher,
        settings: Settings,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self.images = images
        self.collections = collections
        self.rate_limits = rate_limits
        self.storage = storage
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.ids = ids

    # ---- reading ---------------------------------------------------------------------------
    def get_visible(
        self, image_id: str, user_id: str, *, admin: bool = False, read: ImageRead | None = None
    ) -> Image:
        """The image if the caller may see it; someone else's image is simply not found. ``read``: the
        image as the request already read it (with the caller's profile), so it is not read again."""
        image = (
            read.image if read is not None and read.image_id == image_id else self.images.find_by_id(image_id)
        )
        if image is None or (image.user_id != user_id and not admin):
            raise NotFound("No such image.")
        return image

    def list_for_user(
        self, user_id: str, limit: int, cursor: str | None, type: ImageType | None, status: ImageStatus | None
    ) -> Page[Image]:
        return self.images.find_by_user_id(user_id, limit, cursor, type=type, status=status)

    def list_all(
        self, limit: int, cursor: str | None, type: ImageType | None, status: ImageStatus | None
    ) -> Page[Image]:
        return self.images.find_all(limit, cursor, type=type, status=status)

    # ---- idempotency -----------------------------------------------------------------------
    def _earlier(self, user_id: str, once: OnceKey | None) -> ImageCreated | None:
        """What an earlier request with this key created (None when the key is new); another request
        with the key is refused."""
        if once is None:
            return None
        found = self.images.find_created(user_id, once.key)
        if found is not None:
            self._check_same_request(found, once)
        return found

    @staticmethod
    def _check_same_request(found: ImageCreated, once: OnceKey) -> None:
        if found.request_hash != once.request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")

    def _create(
        self, image: Image, charge: Charge | None, once: OnceKey | None, filename: str
    ) -> ImageCreated:
        """Create ``image`` (and its charge) once per key. Without a key nothing is recorded: the SDK
        retries a transaction with the same client token, which DynamoDB applies once. Storage keys are
        ``{ms}-{name}``: two requests of one user for the same name in the same millisecond would share
        one, so a taken key moves to the next millisecond."""
        for attempt in range(1, KEY_ATTEMPTS + 1):
            if once is not None:
                once = replace(once, record=json.dumps(image.to_record(), separators=(",", ":")))
            try:
                result = self.images.create(image, charge=charge, once=once)
                break
            except StorageKeyTaken:
                if attempt == KEY_ATTEMPTS:
                    raise
                key = self.storage.make_key(image.user_id, filename, int(self.clock.time() * 1000) + attempt)
                image = replace(image, storage_key=key, storage_url=self.storage.get_public_url(key))
        if not result.created:
            assert once is not None  # only a used key stops a create
            self._check_same_request(result, once)
        return result

    # ---- generation ------------------------------------------------------------------------
    def _check_rate(self, user_id: str, namespace: str = RATE_NAMESPACE, limit: int | None = None) -> None:
        limit = limit if limit is not None else self.settings.rate_limit_generate_per_minute
        now = self.clock.time()
        window = int(now // 60)
        count = self.rate_limits.hit(namespace, f"{user_id}:{window}", limit, ttl_seconds=120)
        if count is None:
            raise RateLimited(retry_after=int(60 - (now % 60)) + 1)

    def _check_upload_limits(self, user_id: str) -> None:
        """At most ``RATE_LIMIT_UPLOAD_PER_MINUTE`` upload requests a minute and ``MAX_PENDING_UPLOADS``
        uploads still PENDING. Uploads cost nothing by default, and each one never posted is work for
        the sweeper: unbounded, they crowded out other users' refunds."""
        settings = self.settings
        self._check_rate(user_id, UPLOAD_RATE_NAMESPACE, settings.rate_limit_upload_per_minute)
        # Only uploads of the last STUCK_IMAGE_MINUTES: older PENDING ones are the sweeper's to fail
        # (their presigned POST expired after UPLOAD_URL_TTL), whatever the client does.
        since = iso_utc(datetime.fromtimestamp(self.clock.time() - settings.stuck_image_minutes * 60, UTC))
        limit = settings.max_pending_uploads
        if self.images.count_pending_uploads(user_id, since, limit) >= limit:
            raise RateLimited(retry_after=PENDING_RETRY_AFTER)

    def generate(self, user_id: str, command: GenerateImage, idempotency_key: str | None = None) -> Image:
        """A PENDING image, charged, its generation queued. A replay (same key and request) answers the
        image as the first request did, charges nothing, and queues it again while it is PENDING (the
        first request may have died before queueing it; the generator ignores a second message)."""
        once = (
            OnceKey(client_key("generate", idempotency_key), request_hash(command))
            if idempotency_key
            else None
        )
        found = self._earlier(user_id, once)
        if found is None:
            image_id = self.ids.new_id()
            # Options first: one the model lacks is a 422 before any rate, coin or record is spent.
            generation = generation_for(command, image_id, configured_capabilities(self.settings))
            self._check_rate(user_id)
            key = self.storage.make_key(
                user_id, f"{_slug(command.prompt)}.png", int(self.clock.time() * 1000)
            )
            cost = self.generation_cost(command.quality)
            image = Image(
                id=image_id,
                user_id=user_id,
                type=ImageType.GENERATED,
                title=command.default_title(),
                description=command.description,
                prompt=command.prompt,
                storage_key=key,
                storage_url=self.storage.get_public_url(key),
                metadata={"width": command.width, "height": command.height, "format": "png"},
                coins_used=cost,
                generation=generation,
            )
            found = self._create_generated(image, once, f"{_slug(command.prompt)}.png")
            if found.image is not None and found.created:
                return found.image
        return self._replayed(found)

    def generation_cost(self, quality: str = "standard") -> int:
        if quality == "premium":
            return self.settings.generation_cost_premium
        return self.settings.generation_cost

    def _create_generated(self, image: Image, once: OnceKey | None, filename: str) -> ImageCreated:
        """Charge, create and queue a generated image (a generation or a variation)."""
        cost = image.coins_used
        charge = Charge(cost, LedgerReason.IMAGE_GENERATION) if cost > 0 else None
        found = self._create(image, charge, once, filename)
        if found.created:
            assert found.image is not None
            self._enqueue(found.image, refund_on_failure=True)
            add_metric("ImagesRequested", MetricUnit.Count, 1)
            if cost:
                add_metric("CoinsSpent", MetricUnit.Count, cost)
        return found

    def _replayed(self, found: ImageCreated) -> Image:
        """What an earlier request with the key created, queued again while it is still PENDING."""
        current = found.image
        if current is not None and current.status is ImageStatus.PENDING:
            self._enqueue(current, refund_on_failure=False)
        first = found.first or current
        if first is None:
            raise NotFound("The image created with this Idempotency-Key has been deleted.")
        return first

    def _enqueue(self, image: Image, *, refund_on_failure: bool) -> None:
        size = image.dimensions()
        request = GenerationRequest(
            image.id, image.user_id, image.prompt or "", size["width"] or 1024, size["height"] or 1024
        )
        try:
            self.publisher.publish(self.settings.generation_queue_url, request)
        except ServiceUnavailable:
            if not refund_on_failure:
                raise
            # Nothing will ever generate this image: give the coins back now, not after the sweeper.
            logger.exception("enqueue failed; refunding", extra={"image_id": image.id})
            self.images.fail_and_refund(image.id, "enqueue_failed")
            raise

    # ---- uploads ---------------------------------------------------------------------------
    def create_upload(
        self, user_id: str, command: StartUpload, idempotency_key: str | None = None
    ) -> UploadTicket:
        settings = self.settings
        if command.size > settings.max_upload_bytes:
            raise ValidationError.single("size", f"must be at most {settings.max_upload_bytes} bytes")
        once = None
        if idempotency_key:
            once = OnceKey(client_key("upload", idempotency_key), request_hash(command))
        found = self._earlier(user_id, once)
        if found is None:
            self._check_upload_limits(user_id)
            key = self.storage.make_key(user_id, command.filename, int(self.clock.time() * 1000))
            cost = settings.upload_cost
            candidate = Image(
                id=self.ids.new_id(),
                user_id=user_id,
                type=ImageType.UPLOADED,
                title=command.default_title(),
                description=command.description,
                storage_key=key,
                storage_url=self.storage.get_public_url(key),
                metadata={"declaredContentType": command.content_type, "declaredSize": command.size},
                coins_used=cost,
            )
            charge = Charge(cost, LedgerReason.IMAGE_UPLOAD) if cost > 0 else None
            found = self._create(candidate, charge, once, command.filename)
        image = found.image
        if image is None:
            raise NotFound("The image created with this Idempotency-Key has been deleted.")
        # Always the stored key: a retried request uploads to the image the first one created.
        if settings.upload_method == "PUT":  # Cloudflare R2: no browser POST; the exact declared size
            upload = self.storage.create_presigned_put(
                image.storage_key, command.content_type, command.size, settings.upload_url_ttl
            )
        else:
            upload = self.storage.create_presigned_post(
                image.storage_key, command.content_type, settings.max_upload_bytes, settings.upload_url_ttl
            )
        return UploadTicket(image=image, upload=upload)

    # ---- editing, deleting, downloading ----------------------------------------------------
    def update(self, image_id: str, user_id: str, command: EditImage) -> Image:
        self.get_visible(image_id, user_id)
        return self.images.update(
            image_id,
            title=command.title,
            description=command.description,
            clear_description=command.clear_description,
        )

    def delete(self, image_id: str, user_id: str, *, admin: bool = False) -> None:
        # One read gives the image and how many collections it is in (someone else's: not found).
        stored = self.collections.load_images([image_id]).get(image_id) if image_id else None
        if stored is None or (stored.image.user_id != user_id and not admin):
            raise NotFound("No such image.")
        image = stored.image
        # Record first (out of its collections, then deleted): once it is gone no event can complete
        # it, and the thumbnailer deletes whatever object arrives for a missing image. Then the objects.
        delete_detached(self.images, self.collections, stored)
        delete_image_objects(self.storage, image, self.settings)  # the original and every rendition

    def download_url(
        self, image_id: str, user_id: str, *, admin: bool = False, read: ImageRead | None = None
    ) -> str:
        image = self.get_visible(image_id, user_id, admin=admin, read=read)
        if image.status is not ImageStatus.COMPLETED:
            raise ImageNotReady(
                f"The image is {image.status.value}; only a completed image can be downloaded."
            )
        # Named after the title (the key was made from the prompt or the uploaded file's name) and typed
        # by the format the thumbnailer found in the bytes, never by what the uploader declared: a PNG
        # with HTML after it is served as image/png, as an attachment. Unknown: an octet stream.
        fmt = image.metadata.get("format")
        media_type = f"image/{fmt}" if isinstance(fmt, str) else ""
        extension = ALLOWED_UPLOAD_TYPES.get(media_type)
        return self.storage.create_signed_url(
            image.storage_key,
            self.settings.signed_url_ttl,
            download_filename=f"{image.title}.{extension}" if extension else image.title,
            content_type=media_type if extension else "application/octet-stream",
        )

    # ---- variations ------------------------------------------------------------------------
    def vary(self, user_id: str, command: VaryImage, idempotency_key: str | None = None) -> Image:
        """A PENDING variation of one of the caller's COMPLETED images, charged and queued like a
        generation (same Idempotency-Key rules). Someone else's or a missing source is ``not_found``; a
        source not yet completed is ``409 image_not_ready``; an option the model lacks is ``422``."""
        once = (
            OnceKey(client_key("variations", idempotency_key), request_hash(command))
            if idempotency_key
            else None
        )
        found = self._earlier(user_id, once)
        if found is not None:
            return self._replayed(found)
        source = self.get_visible(command.source_image_id, user_id)
        if source.status is not ImageStatus.COMPLETED:
            raise ImageNotReady(
                f"The source image is {source.status.value}; only a completed image has variations."
            )
        capabilities = configured_capabilities(self.settings)
        check_variation(command, capabilities)
        prompt = command.prompt or source.prompt
        if not prompt:
            raise ValidationError.single("prompt", "is required: the source image has no prompt")
        image_id = self.ids.new_id()
        generation = variation_for(command, image_id, capabilities)
        self._check_rate(user_id)
        dims = source.dimensions()
        width, height = variation_size(dims["width"], dims["height"])
        filename = f"{_slug(prompt)}-variation.png"
        key = self.storage.make_key(user_id, filename, int(self.clock.time() * 1000))
        cost = self.generation_cost()
        image = Image(
            id=image_id,
            user_id=user_id,
            type=ImageType.GENERATED,
            title=f"{source.title[:180]} (variation)",
            prompt=prompt,
            storage_key=key,
            storage_url=self.storage.get_public_url(key),
            metadata={"width": width, "height": height, "format": "png"},
            coins_used=cost,
            generation=generation,
            source_image_id=source.id,
        )
        found = self._create_generated(image, once, filename)
        if found.image is not None and found.created:
            return found.image
        return self._replayed(found)
