"""Image use cases: generate, upload, list, read, edit, delete, download."""

from __future__ import annotations

import re
import time
from typing import Any

from imagegen.errors import ImageNotReady, NotFound, RateLimited, ServiceUnavailable, ValidationError
from imagegen.models import (
    Image,
    ImageStatus,
    ImageType,
    LedgerReason,
    new_id,
    validate_description,
    validate_prompt,
    validate_title,
)
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.persistence.idempotency import run_once
from imagegen.ports import Charge, Page
from imagegen.queues import GenerationRequest
from imagegen.services.context import AppContext

ALLOWED_UPLOAD_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
}
SIZE_MIN, SIZE_MAX, SIZE_STEP, SIZE_DEFAULT = 256, 1024, 64, 1024


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or "image"


def validate_size(value: Any, field: str) -> int:
    if value is None:
        return SIZE_DEFAULT
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.single(field, "must be an integer")
    if not SIZE_MIN <= value <= SIZE_MAX or value % SIZE_STEP:
        raise ValidationError.single(field, f"must be {SIZE_MIN}..{SIZE_MAX} and a multiple of {SIZE_STEP}")
    return value


class ImageService:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # ---- reading ---------------------------------------------------------------------------
    def get_visible(self, image_id: str, user_id: str, *, admin: bool = False) -> Image:
        """The image if the caller may see it; someone else's image is simply not found."""
        image = self.ctx.repos.images.find_by_id(image_id)
        if image is None or (image.user_id != user_id and not admin):
            raise NotFound("No such image.")
        return image

    def list_for_user(
        self, user_id: str, limit: int, cursor: str | None, type: ImageType | None, status: ImageStatus | None
    ) -> Page[Image]:
        return self.ctx.repos.images.find_by_user_id(user_id, limit, cursor, type=type, status=status)

    def list_all(
        self, limit: int, cursor: str | None, type: ImageType | None, status: ImageStatus | None
    ) -> Page[Image]:
        return self.ctx.repos.images.find_all(limit, cursor, type=type, status=status)

    # ---- generation ------------------------------------------------------------------------
    def _check_rate(self, user_id: str) -> None:
        limit = self.ctx.settings.rate_limit_generate_per_minute
        now = time.time()
        window = int(now // 60)
        count = self.ctx.repos.ephemeral.hit("rate_generate", f"{user_id}:{window}", limit, ttl_seconds=120)
        if count is None:
            raise RateLimited(retry_after=int(60 - (now % 60)) + 1)

    def generate(
        self,
        user_id: str,
        *,
        prompt: Any,
        title: Any = None,
        description: Any = None,
        width: Any = None,
        height: Any = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        clean_prompt = validate_prompt(prompt)
        w, h = validate_size(width, "width"), validate_size(height, "height")
        # The default title is the prompt on one line (titles cannot span lines; prompts can).
        clean_title = validate_title(title) if title is not None else " ".join(clean_prompt.split())[:80]
        clean_description = validate_description(description)
        payload = {
            "prompt": clean_prompt,
            "title": clean_title,
            "description": clean_description,
            "w": w,
            "h": h,
        }

        def create() -> dict[str, Any]:
            self._check_rate(user_id)
            return self._create_generation(
                user_id, clean_prompt, clean_title, clean_description, w, h, op_key=idempotency_key
            ).to_json()

        return run_once(
            table_name=self.ctx.settings.table_name,
            user_id=user_id,
            scope="generate",
            key=idempotency_key,
            payload=payload,
            fn=create,
        )

    def _create_generation(
        self,
        user_id: str,
        prompt: str,
        title: str,
        description: str | None,
        width: int,
        height: int,
        *,
        op_key: str | None,
    ) -> Image:
        storage = self.ctx.storage
        image_id = new_id()
        key = storage.make_key(user_id, f"{_slug(prompt)}.png")
        image = Image(
            id=image_id,
            user_id=user_id,
            type=ImageType.GENERATED,
            title=title,
            description=description,
            prompt=prompt,
            storage_key=key,
            storage_url=storage.get_public_url(key),
            metadata={"width": width, "height": height, "format": "png"},
            coins_used=self.ctx.settings.generation_cost,
        )
        cost = self.ctx.settings.generation_cost
        charge = (
            Charge(cost, LedgerReason.IMAGE_GENERATION, f"generate:{op_key or image_id}")
            if cost > 0
            else None
        )
        created = self.ctx.repos.images.create(image, charge=charge)
        try:
            self.ctx.publisher.publish(
                self.ctx.settings.generation_queue_url,
                GenerationRequest(created.id, user_id, prompt, width, height),
            )
        except ServiceUnavailable:
            # Nothing will ever generate this image: give the coins back now, not after the sweeper.
            logger.exception("enqueue failed; refunding", extra={"image_id": created.id})
            self.ctx.repos.images.fail_and_refund(created.id, "enqueue_failed")
            raise
        add_metric("ImagesRequested", MetricUnit.Count, 1)
        if cost:
            add_metric("CoinsSpent", MetricUnit.Count, cost)
        return created

    # ---- uploads ---------------------------------------------------------------------------
    def create_upload(
        self,
        user_id: str,
        *,
        filename: Any,
        content_type: Any,
        size: Any,
        title: Any = None,
        description: Any = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        settings = self.ctx.settings
        errors = []
        from imagegen.errors import FieldError

        if not isinstance(filename, str) or not filename.strip() or len(filename) > 255:
            errors.append(FieldError("filename", "must be a non-empty string of at most 255 characters"))
        elif any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in filename):
            errors.append(FieldError("filename", "must not contain control characters"))
        if content_type not in ALLOWED_UPLOAD_TYPES:
            errors.append(FieldError("contentType", f"must be one of {', '.join(ALLOWED_UPLOAD_TYPES)}"))
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            errors.append(FieldError("size", "must be a positive integer (bytes)"))
        elif size > settings.max_upload_bytes:
            errors.append(FieldError("size", f"must be at most {settings.max_upload_bytes} bytes"))
        if errors:
            raise ValidationError(errors)
        assert isinstance(filename, str) and isinstance(content_type, str)
        clean_title = validate_title(title) if title is not None else filename.strip()[:200]
        clean_description = validate_description(description)
        payload = {
            "filename": filename,
            "contentType": content_type,
            "size": size,
            "title": clean_title,
            "description": clean_description,
        }

        def create() -> dict[str, Any]:
            storage = self.ctx.storage
            image_id = new_id()
            key = storage.make_key(user_id, filename)
            cost = settings.upload_cost
            image = Image(
                id=image_id,
                user_id=user_id,
                type=ImageType.UPLOADED,
                title=clean_title,
                description=clean_description,
                storage_key=key,
                storage_url=storage.get_public_url(key),
                metadata={"declaredContentType": content_type, "declaredSize": size},
                coins_used=cost,
            )
            charge = (
                Charge(cost, LedgerReason.IMAGE_UPLOAD, f"upload:{idempotency_key or image_id}")
                if cost > 0
                else None
            )
            created = self.ctx.repos.images.create(image, charge=charge)
            upload = storage.create_presigned_post(
                key, content_type, settings.max_upload_bytes, settings.upload_url_ttl
            )
            return {"image": created.to_json(), "upload": upload}

        return run_once(
            table_name=settings.table_name,
            user_id=user_id,
            scope="upload",
            key=idempotency_key,
            payload=payload,
            fn=create,
        )

    # ---- editing, deleting, downloading ----------------------------------------------------
    def update(self, image_id: str, user_id: str, changes: dict[str, Any]) -> Image:
        self.get_visible(image_id, user_id)
        title = validate_title(changes["title"]) if "title" in changes else None
        clear = "description" in changes and changes["description"] in (None, "")
        description = validate_description(changes["description"]) if "description" in changes else None
        return self.ctx.repos.images.update(
            image_id, title=title, description=description, clear_description=clear
        )

    def delete(self, image_id: str, user_id: str, *, admin: bool = False) -> None:
        image = self.get_visible(image_id, user_id, admin=admin)
        # Record first: once it is gone no event can complete it, and the thumbnailer deletes
        # whatever object arrives for a missing image. Then the objects.
        self.ctx.repos.images.delete(image.id)
        self.ctx.storage.delete(image.storage_key)  # the original and every rendition of it

    def download_url(self, image_id: str, user_id: str, *, admin: bool = False) -> str:
        image = self.get_visible(image_id, user_id, admin=admin)
        if image.status is not ImageStatus.COMPLETED:
            raise ImageNotReady(
                f"The image is {image.status.value}; only a completed image can be downloaded."
            )
        filename = image.storage_key.rsplit("/", 1)[-1]
        return self.ctx.storage.create_signed_url(
            image.storage_key, self.ctx.settings.signed_url_ttl, download_filename=filename
        )
