"""ImageRepository on the single table: images, their storage aliases, status moves and refunds."""

from __future__ import annotations

import json
from dataclasses import replace

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from imagegen.errors import (
    AlreadyExists,
    InCollections,
    InvalidTransition,
    NotFound,
    StorageKeyTaken,
    ValidationError,
)
from imagegen.models import (
    TRANSITIONS,
    Image,
    ImageStatus,
    ImageType,
    LedgerEntry,
    LedgerReason,
    utc_now,
    validate_coins,
    validate_description,
    validate_metadata,
    validate_title,
)
from imagegen.persistence.binding import TableModels
from imagegen.persistence.coins import AccountBook
from imagegen.persistence.cursor import CursorCodec, RawKey
from imagegen.persistence.dynamo import (
    ConditionFailed,
    Transaction,
    TransactionCancelled,
    backoff,
    translated,
)
from imagegen.persistence.items import OperationItem
from imagegen.persistence.keys import (
    ALIAS,
    IMAGE_SK,
    PROFILE,
    created_sk,
    image_pk,
    image_status_index_pk,
    images_partitions,
    status_partitions,
    storage_key_pk,
    user_images_pk,
    user_pk,
    user_type_pk,
)
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.persistence.sharded import MergedQuery, first_of_each, query_merged
from imagegen.ports import Charge, ImageCreated, OnceKey, Page

_IMAGE_LABEL = "image"
_ALIAS_LABEL = "alias"
_OWNER_LABEL = "owner"
_STATUS_CHANGES = frozenset({"thumbnail_key", "thumbnail_url", "metadata", "failure_reason"})
_TYPE_COUNTERS = {ImageType.GENERATED: "generated_images", ImageType.UPLOADED: "uploaded_images"}
_FAIL_ATTEMPTS = 10
_REASON_MAX = 200
_STUCK_MAX = 1000
LEGACY_INDEX_READS = True
"""Also read the unsharded gsi3/gsi4 partitions (``STATUS#{s}``, ``IMAGES``) of images written before
the shards, until ``python -m ops.backfill`` has moved them all (docs/data-model.md, "Migration")."""


class _StatusMoved(Exception):
    """The image left PENDING/PROCESSING while a refund was being written."""


def refund_key(image_id: str) -> str:
    return f"server:refund:{image_id}"


class DynamoImageRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec
        self._book = AccountBook(table)

    # ---- creation ------------------------------------------------------------------------------
    def create(
        self, image: Image, *, charge: Charge | None = None, once: OnceKey | None = None
    ) -> ImageCreated:
        """Image, storage alias, owner's counters and (with a charge) the debit and its entry, at once,
        with ``once``'s guard. When that key was used already nothing is written and what it recorded is
        returned (``created`` False)."""
        amount = validate_coins(charge.amount, "amount") if charge is not None else 0
        if image.coins_used != amount:
            raise ValidationError.single("coinsUsed", "must equal the amount charged for the image")

        def add_image(tx: Transaction) -> None:
            tx.put(_IMAGE_LABEL, self._table.image.from_image(image), self._table.image.pk.does_not_exist())
            tx.put(_ALIAS_LABEL, self._table.alias.for_image(image), self._table.alias.pk.does_not_exist())

        def explain(cancelled: TransactionCancelled) -> None:
            if cancelled.failed(_IMAGE_LABEL):
                raise AlreadyExists("An image with this id already exists.")
            if cancelled.failed(_ALIAS_LABEL):
                raise StorageKeyTaken("Another image already uses this storage key.")

        result = self._book.change(
            image.user_id,
            -amount,
            reason=LedgerReason(charge.reason) if charge is not None else None,
            once=once,
            image_id=image.id,
            counters={"total_images": 1, _TYPE_COUNTERS[image.type]: 1, "total_coins_used": amount},
            extra=add_image,
            on_cancel=explain,
        )
        if result.applied:
            return ImageCreated(image=image, created=True, request_hash=once.request_hash if once else None)
        assert result.operation is not None
        return self._created(result.operation)

    def find_created(self, user_id: str, key: str) -> ImageCreated | None:
        operation = self._book.find_operation(user_id, key)
        return self._created(operation) if operation is not None else None

    def _created(self, operation: OperationItem) -> ImageCreated:
        image = self.find_by_id(operation.image_id) if operation.image_id else None
        first = Image.from_record(json.loads(operation.response)) if operation.response else None
        return ImageCreated(image=image, created=False, request_hash=operation.request_hash, first=first)

    # ---- reads ---------------------------------------------------------------------------------
    def find_by_id(self, image_id: str) -> Image | None:
        if not image_id:
            return None
        with translated():
            try:
                return self._table.image.get(image_pk(image_id), IMAGE_SK, consistent_read=True).to_image()
            except self._table.image.DoesNotExist:
                return None

    def find_by_storage_key(self, storage_key: str) -> Image | None:
        """Strongly consistent: None means the image is deleted (or never existed), for sure."""
        if not storage_key:
            return None
        with translated():
            try:
                alias = self._table.alias.get(storage_key_pk(storage_key), ALIAS, consistent_read=True)
            except self._table.alias.DoesNotExist:
                return None
        return self.find_by_id(alias.image_id)

    def find_by_user_id(
        self,
        user_id: str,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]:
        image_type, image_status = _image_type(type), _image_status(status)
        scope = f"images:user:{user_id}:type:{image_type or '*'}:status:{image_status or '*'}"
        if image_type is not None:
            index, partition = "gsi2", user_type_pk(user_id, image_type)
        else:
            index, partition = "gsi1", user_images_pk(user_id)
        status_filter = (self._table.image.status == image_status.value) if image_status is not None else None
        query = PageQuery(scope=scope, partition=partition, index=index, filter=status_filter)
        items, next_cursor = query_page(self._table.image, self._codec, query, limit, cursor)
        return Page([item.to_image() for item in items], next_cursor)

    def find_all(
        self,
        limit: int = 20,
        cursor: str | None = None,
        *,
        type: ImageType | None = None,
        status: ImageStatus | None = None,
    ) -> Page[Image]:
        image_type, image_status = _image_type(type), _image_status(status)
        scope = f"images:all:type:{image_type or '*'}:status:{image_status or '*'}"
        if image_status is not None:
            index, partitions = "gsi3", status_partitions(image_status, legacy=LEGACY_INDEX_READS)
        else:
            index, partitions = "gsi4", images_partitions(legacy=LEGACY_INDEX_READS)
        type_filter = (self._table.image.type == image_type.value) if image_type is not None else None
        query = MergedQuery(
            scope=scope, index=index, partitions=partitions, base_key=_image_base_key, filter=type_filter
        )
        items, next_cursor = query_merged(self._table.image, self._codec, query, limit, cursor)
        return Page([item.to_image() for item in items], next_cursor)

    def count_pending_uploads(self, user_id: str, since: str, limit: int) -> int:
        """Query gsi2 ``USER#{uid}#TYPE#UPLOADED`` with ``gsi2sk >= since``, status PENDING as a filter,
        stopping at ``limit`` matches: reads only the user's uploads of the window (see
        ``docs/data-model.md``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        with translated():
            found = self._table.image.query(
                user_type_pk(user_id, ImageType.UPLOADED),
                range_key_condition=self._table.image.gsi2sk >= since,
                filter_condition=self._table.image.status == ImageStatus.PENDING.value,
                index_name="gsi2",
                scan_index_forward=False,
                limit=limit,
                attributes_to_get=["pk", "sk", "gsi2pk", "gsi2sk"],
            )
            return sum(1 for _ in found)

    def find_stuck(
        self, status: ImageStatus, older_than: str, limit: int = 100, *, after: Image | None = None
    ) -> list[Image]:
        """Images in ``status`` created before ``older_than`` (ISO timestamp), oldest first; with
        ``after``, those that sort after it (the next page)."""
        image_status = ImageStatus(status)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _STUCK_MAX:
            raise ValidationError.single("limit", f"must be an integer from 1 to {_STUCK_MAX}")
        key = self._table.image.gsi3sk
        condition: Condition = key < older_than
        first = created_sk(after.created_at, after.id) if after is not None else None
        if first is not None:
            if first >= older_than:
                return []
            condition = key.between(first, older_than)  # inclusive: ``after`` itself is dropped below
        found = [
            item
            for item in first_of_each(
                self._table.image,
                status_partitions(image_status, legacy=LEGACY_INDEX_READS),
                "gsi3",
                condition,
                limit + 1,
            )
            if item.gsi3sk != first and item.gsi3sk < older_than
        ]
        return [item.to_image() for item in found[:limit]]

    # ---- changes -------------------------------------------------------------------------------
    def update(
        self,
        image_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Image:
        actions: list[Action] = []
        if title is not None:
            actions.append(self._table.image.title.set(validate_title(title)))
        cleaned = validate_description(description) if description is not None else None
        if cleaned is not None:
            actions.append(self._table.image.description.set(cleaned))
        elif clear_description or description is not None:
            actions.append(self._table.image.description.remove())
        if not actions:
            found = self.find_by_id(image_id)
            if found is None:
                raise NotFound("No such image.")
            return found
        actions.append(self._table.image.updated_at.set(utc_now()))
        return self._update(image_id, actions, self._table.image.pk.exists(), missing="No such image.")

    def update_status(
        self,
        image_id: str,
        status: ImageStatus,
        *,
        expected: ImageStatus | None = None,
        **changes: object,
    ) -> Image:
        """Move to ``status`` if the rules allow it from the stored status, checked by the write itself.

        The condition ``status IN (allowed sources)`` makes racing workers safe: of two moves from
        PROCESSING, one commits and the other gets InvalidTransition.
        """
        target = ImageStatus(status)
        unknown = set(changes) - _STATUS_CHANGES
        if unknown:
            raise TypeError(f"update_status cannot change {sorted(unknown)}")
        if expected is not None:
            source = ImageStatus(expected)
            if target not in TRANSITIONS[source]:
                raise InvalidTransition(f"cannot move from {source} to {target}")
            sources = [source]
        else:
            sources = [s for s, targets in TRANSITIONS.items() if target in targets]
        if not sources:
            raise InvalidTransition(f"nothing moves to {target}")
        actions: list[Action] = [
            self._table.image.status.set(target.value),
            self._table.image.gsi3pk.set(image_status_index_pk(image_id, target)),
            self._table.image.updated_at.set(utc_now()),
        ]
        actions += self._change_actions(changes)
        condition = self._table.image.status.is_in(*(s.value for s in sources))
        try:
            return self._update(image_id, actions, condition, missing=None)
        except ConditionFailed:
            current = self.find_by_id(image_id)
            if current is None:
                raise NotFound("No such image.") from None
            raise InvalidTransition(f"cannot move from {current.status} to {target}") from None

    def _change_actions(self, changes: dict[str, object]) -> list[Action]:
        actions: list[Action] = []
        for name, value in changes.items():
            attribute = getattr(self._table.image, name)
            if value is None:
                actions.append(attribute.remove())
            elif name == "metadata":
                actions.append(attribute.set(validate_metadata(value)))
            elif isinstance(value, str) and value:
                actions.append(attribute.set(value))
            else:
                raise ValidationError.single(name, "must be a non-empty string or None")
        return actions

    def _update(
        self, image_id: str, actions: list[Action], condition: Condition, *, missing: str | None
    ) -> Image:
        item = self._table.image(image_pk(image_id), IMAGE_SK)
        try:
            with translated():
                item.update(actions=actions, condition=condition)
        except ConditionFailed:
            if missing is not None:
                raise NotFound(missing) from None
            raise
        return item.to_image()

    def fail_and_refund(
        self, image_id: str, reason: str, *, allow_completed: bool = False, read: Image | None = None
    ) -> tuple[Image, LedgerEntry | None]:
        """FAILED with ``failure_reason`` and, for a paid image, its refund: once, whoever calls.

        The status move and the refund entry (idempotency key ``refund:{image_id}``) commit together,
        conditional on the image still being PENDING or PROCESSING, so redeliveries and concurrent
        callers see an already FAILED image and get ``(image, None)``. ``allow_completed`` also fails
        a COMPLETED image: only for an original whose content was replaced after it was checked.
        ``read``: the image as the caller just read it (consistently), for the first attempt.
        """
        if not isinstance(reason, str) or not reason.strip() or len(reason) > _REASON_MAX:
            raise ValidationError.single("failureReason", f"must be 1..{_REASON_MAX} characters")
        reason = reason.strip()
        for attempt in range(_FAIL_ATTEMPTS):
            image = (
                read
                if attempt == 0 and read is not None and read.id == image_id
                else self.find_by_id(image_id)
            )
            if image is None:
                raise NotFound("No such image.")
            if image.status is ImageStatus.FAILED:
                return image, None
            if image.status is ImageStatus.COMPLETED and not allow_completed:
                raise InvalidTransition("a completed image cannot fail")
            now = utc_now()
            actions: list[Action] = [
                self._table.image.status.set(ImageStatus.FAILED.value),
                self._table.image.gsi3pk.set(image_status_index_pk(image_id, ImageStatus.FAILED)),
                self._table.image.failure_reason.set(reason),
                self._table.image.updated_at.set(now),
            ]
            sources = [ImageStatus.PENDING.value, ImageStatus.PROCESSING.value]
            if allow_completed:
                sources.append(ImageStatus.COMPLETED.value)
            still_open = self._table.image.status.is_in(*sources)
            failed = replace(image, status=ImageStatus.FAILED, failure_reason=reason, updated_at=now)
            owner = self._book.read_profile(image.user_id) if image.coins_used else None
            if owner is None:
                # Nothing to give back (or nobody to give it to: the owner is being deleted).
                try:
                    self._update(image_id, actions, still_open, missing=None)
                except ConditionFailed:
                    backoff(attempt)
                    continue
                return failed, None

            def move(
                tx: Transaction, actions: list[Action] = actions, condition: Condition = still_open
            ) -> None:
                tx.update(_IMAGE_LABEL, self._table.image(image_pk(image_id), IMAGE_SK), actions, condition)

            def explain(cancelled: TransactionCancelled) -> None:
                if cancelled.failed(_IMAGE_LABEL):
                    raise _StatusMoved()

            try:
                result = self._book.change(
                    image.user_id,
                    image.coins_used,
                    reason=LedgerReason.REFUND,
                    once=OnceKey(refund_key(image_id)),
                    image_id=image_id,
                    counters={"total_coins_used": -image.coins_used},
                    extra=move,
                    on_cancel=explain,
                    profile=owner,
                )
            except (_StatusMoved, NotFound):
                backoff(attempt)
                continue
            if not result.applied:
                # Refunded before under this key, yet still open: finish the move, refund nothing.
                try:
                    self._update(image_id, actions, still_open, missing=None)
                except ConditionFailed:
                    continue
                return failed, None
            return failed, result.entry
        raise InvalidTransition("the image kept changing; try again")

    def delete(self, image_id: str, *, read: Image | None = None) -> Image | None:
        """Image, alias and the owner's counters in one transaction; None if it was not there.
        ``read``: the image as the caller just read it (consistently), so it is not read again."""
        image = read if read is not None and read.id == image_id else self.find_by_id(image_id)
        if image is None:
            return None
        for with_owner in (True, False):
            tx = Transaction(self._table)
            # Only an image in no collection: the caller takes it out of them first, and one that
            # joined a collection meanwhile must not leave its membership behind.
            in_none = self._table.image.collection_count.does_not_exist() | (
                self._table.image.collection_count == 0
            )
            tx.delete(
                _IMAGE_LABEL,
                self._table.image(image_pk(image.id), IMAGE_SK),
                self._table.image.pk.exists() & in_none,
            )
            alias = self._table.alias(storage_key_pk(image.storage_key), ALIAS)
            tx.delete(
                _ALIAS_LABEL,
                alias,
                self._table.alias.pk.does_not_exist() | (self._table.alias.image_id == image.id),
            )
            if with_owner:
                counters = [
                    self._table.user.total_images.add(-1),
                    getattr(self._table.user, _TYPE_COUNTERS[image.type]).add(-1),
                ]
                tx.update(
                    _OWNER_LABEL,
                    self._table.user(user_pk(image.user_id), PROFILE),
                    counters,
                    self._table.user.pk.exists(),
                )
            try:
                tx.commit()
            except TransactionCancelled as cancelled:
                if cancelled.failed(_IMAGE_LABEL):
                    if self.find_by_id(image.id) is not None:
                        raise InCollections("The image is in a collection; take it out first.") from None
                    return None  # deleted concurrently; its counters were decremented by that delete
                if cancelled.failed(_OWNER_LABEL):
                    continue  # no owner profile left to count for: delete without counters
                raise cancelled.unexpected() from cancelled
            return image
        return None


def _image_base_key(sort_key: str) -> RawKey:
    """The table key of the image whose index sort key is ``{createdAt}#{imageId}``."""
    return {"pk": {"S": image_pk(sort_key.rpartition("#")[2])}, "sk": {"S": IMAGE_SK}}


def _image_type(value: object) -> ImageType | None:
    if value is None:
        return None
    try:
        return ImageType(str(value))
    except ValueError:
        raise ValidationError.single("type", "must be GENERATED or UPLOADED") from None


def _image_status(value: object) -> ImageStatus | None:
    if value is None:
        return None
    try:
        return ImageStatus(str(value))
    except ValueError:
        raise ValidationError.single("status", "must be PENDING, PROCESSING, COMPLETED or FAILED") from None
