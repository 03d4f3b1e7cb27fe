"""The generator's use case: PENDING -> PROCESSING, generate with the configured model, store the original.

A message may arrive twice or after its image was deleted or finished: each step is guarded by the
image's status (a conditional write), and storing the original is what hands over to the thumbnailer.
"""

from __future__ import annotations

import time

from imagegen.errors import InvalidTransition, NotFound, PermanentError
from imagegen.models import Image, ImageStatus
from imagegen.observability import MetricUnit, add_metric, logger
from imagegen.ports import ImageRepository, ObjectStore
from imagegen.providers import GenerationInput, ImageProvider, SourceImage
from imagegen.providers.fitting import fit_source
from imagegen.queues import GenerationRequest


class GenerationService:
    def __init__(self, *, images: ImageRepository, storage: ObjectStore, provider: ImageProvider) -> None:
        self.images = images
        self.storage = storage
        self.provider = provider

    def process(self, request: GenerationRequest) -> None:
        images = self.images
        image = images.find_by_id(request.image_id)
        if image is None or image.is_final():
            return  # deleted before we got to it, or a duplicate delivery
        if image.status is ImageStatus.PENDING:
            try:
                image = images.update_status(image.id, ImageStatus.PROCESSING, expected=ImageStatus.PENDING)
            except InvalidTransition:
                current = images.find_by_id(image.id)
                if current is None or current.status is not ImageStatus.PROCESSING:
                    return
                image = current
        if self.storage.head(image.storage_key) is not None:
            return  # an earlier delivery stored it; the thumbnailer completes it
        started = time.perf_counter()
        try:
            generated = self.provider.render(self._input(image, request))
        except PermanentError as exc:
            logger.warning("generation failed for good", extra={"image_id": image.id, "reason": exc.reason})
            images.fail_and_refund(image.id, exc.reason)
            add_metric("GenerationFailures", MetricUnit.Count, 1)
            return
        add_metric("GenerationMs", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000)
        # TransientError propagates: the message is retried, and after maxReceiveCount the
        # dead-letter consumer fails the image with its refund.
        self.storage.put(image.storage_key, generated.data, generated.content_type)
        add_metric("ImagesGenerated", MetricUnit.Count, 1)

    def _input(self, image: Image, request: GenerationRequest) -> GenerationInput:
        """What to render: the queued prompt and size with the options recorded on the image (none for
        an image queued before options existed), and for a variation its source, read from storage."""
        generation = image.generation
        if generation is None:
            return GenerationInput(request.prompt, request.width, request.height)
        source = None
        if image.source_image_id:
            source = self._source(image.source_image_id, request.width, request.height)
        return GenerationInput(
            prompt=request.prompt,
            width=request.width,
            height=request.height,
            negative_prompt=generation.negative_prompt,
            style=generation.style,
            seed=generation.seed,
            quality=generation.quality,
            source=source,
            strength=generation.strength,
        )

    def _source(self, source_id: str, width: int, height: int) -> SourceImage:
        """The source's original, fitted to the variation's size. Gone (deleted since the request) or
        unreadable: the variation fails for good (``source_unavailable``) with its refund."""
        source = self.images.find_by_id(source_id)
        if source is None:
            raise PermanentError("source_unavailable", "the source image was deleted")
        try:
            data = self.storage.get(source.storage_key)
        except NotFound as exc:
            raise PermanentError("source_unavailable", "the source image's original is gone") from exc
        return SourceImage(fit_source(data, width, height), width, height)
