"""ExportRepository on the single table: exports, their manifests and each user's active-export count.

Key design (``docs/data-model.md``): everything of an export lives in its owner's partition, so reading
one is a GetItem and an account erasure removes it with the rest of the partition. The count of active
exports is an item changed in the same transactions that create and finish exports: the limit holds
exactly however many requests race.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.expressions.update import Action

from imagegen.errors import InvalidTransition, NotFound, ValidationError
from imagegen.models import ACTIVE_EXPORT_STATUSES, Export, ExportStatus, Image, ImageStatus, utc_now
from imagegen.persistence.binding import TableModels
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.dynamo import ConditionFailed, Transaction, TransactionCancelled, translated
from imagegen.persistence.items import ExportItem
from imagegen.persistence.keys import (
    EXPORT_COUNTER_SK,
    EXPORTS_EXPIRY_PARTITION,
    IMAGE_SK,
    PROFILE,
    created_sk,
    export_manifest_sk,
    export_sk,
    export_status_pk,
    image_pk,
    user_exports_pk,
    user_pk,
)
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.ports import ActiveExportsLimit, Page

_EXPORT = "export"
_MANIFEST = "manifest"
_COUNTER = "counter"
_OWNER = "owner"
_REASON_MAX = 200
_LIST_MAX = 1000
# The record outlives its ZIP by a day: the sweeper removes both at ``expiry``; TTL only tidies up.
_TTL_GRACE_SECONDS = 24 * 3600


def _ttl(expiry: str) -> int:
    moment = datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) + _TTL_GRACE_SECONDS


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _LIST_MAX:
        raise ValidationError.single("limit", f"must be an integer from 1 to {_LIST_MAX}")
    return limit


class DynamoExportRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec

    # ---- creation ------------------------------------------------------------------------------
    def create(self, export: Export, image_ids: list[str], *, max_active: int) -> Export:
        t = self._table
        stamp = created_sk(export.created_at, export.id)
        item = t.export(
            user_pk(export.user_id),
            export_sk(export.id),
            gsi1pk=user_exports_pk(export.user_id),
            gsi1sk=stamp,
            gsi3pk=export_status_pk(export.status.value),
            gsi3sk=created_sk(export.updated_at, export.id),
            gsi4pk=EXPORTS_EXPIRY_PARTITION,
            gsi4sk=created_sk(export.expires_at, export.id),
            id=export.id,
            user_id=export.user_id,
            status=export.status.value,
            zip_key=export.zip_key,
            image_count=export.image_count,
            missing_count=export.missing_count,
            size_bytes=export.size_bytes,
            expiry=export.expires_at,
            expires_at=_ttl(export.expires_at),
            created_at=export.created_at,
            updated_at=export.updated_at,
        )
        manifest = t.export_manifest(
            user_pk(export.user_id),
            export_manifest_sk(export.id),
            image_ids=list(image_ids),
            expires_at=_ttl(export.expires_at),
        )
        tx = Transaction(t)
        tx.check(
            _OWNER,
            t.user(user_pk(export.user_id), PROFILE),
            t.user.pk.exists() & t.user.deleting.does_not_exist(),
        )
        tx.put(_EXPORT, item, t.export.pk.does_not_exist())
        tx.put(_MANIFEST, manifest, t.export_manifest.pk.does_not_exist())
        tx.update(
            _COUNTER,
            t.export_counter(user_pk(export.user_id), EXPORT_COUNTER_SK),
            [t.export_counter.active.add(1)],
            t.export_counter.active.does_not_exist() | (t.export_counter.active < max_active),
        )
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_OWNER):
                raise NotFound("No such user.") from None
            if cancelled.failed(_COUNTER):
                raise ActiveExportsLimit() from None
            raise cancelled.unexpected() from cancelled
        return export

    # ---- reads ---------------------------------------------------------------------------------
    def exportable_images(self, user_id: str, image_ids: list[str]) -> list[Image]:
        """The user's COMPLETED images among ``image_ids``, in their order: BatchGetItem, 100 keys a
        request (PynamoDB resends unprocessed keys)."""
        wanted = list(dict.fromkeys(i for i in image_ids if i))
        found: dict[str, Image] = {}
        with translated():
            for item in self._table.image.batch_get([(image_pk(i), IMAGE_SK) for i in wanted]):
                image = item.to_image()
                if image.user_id == user_id and image.status is ImageStatus.COMPLETED:
                    found[image.id] = image
        return [found[i] for i in wanted if i in found]

    def find(self, user_id: str, export_id: str) -> Export | None:
        item = self._get(user_id, export_id)
        return item.to_export() if item is not None else None

    def _get(self, user_id: str, export_id: str) -> ExportItem | None:
        if not user_id or not export_id:
            return None
        with translated():
            try:
                return self._table.export.get(user_pk(user_id), export_sk(export_id), consistent_read=True)
            except self._table.export.DoesNotExist:
                return None

    def find_manifest(self, user_id: str, export_id: str) -> list[str]:
        with translated():
            try:
                item = self._table.export_manifest.get(
                    user_pk(user_id), export_manifest_sk(export_id), consistent_read=True
                )
            except self._table.export_manifest.DoesNotExist:
                return []
        ids = item.image_ids
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def find_by_user_id(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Export]:
        query = PageQuery(scope=f"exports:user:{user_id}", partition=user_exports_pk(user_id), index="gsi1")
        items, next_cursor = query_page(self._table.export, self._codec, query, limit, cursor)
        return Page([item.to_export() for item in items], next_cursor)

    def find_stuck(self, status: ExportStatus, older_than: str, limit: int = 100) -> list[Export]:
        status = ExportStatus(status)
        with translated():
            found = self._table.export.query(
                export_status_pk(status.value),
                range_key_condition=self._table.export.gsi3sk < older_than,
                index_name="gsi3",
                scan_index_forward=True,
                limit=_check_limit(limit),
            )
            return [item.to_export() for item in found]

    def find_expired(self, now: str, limit: int = 100) -> list[Export]:
        with translated():
            found = self._table.export.query(
                EXPORTS_EXPIRY_PARTITION,
                range_key_condition=self._table.export.gsi4sk < now,
                index_name="gsi4",
                scan_index_forward=True,
                limit=_check_limit(limit),
            )
            return [item.to_export() for item in found]

    # ---- status moves --------------------------------------------------------------------------
    def _status_actions(self, status: ExportStatus, export_id: str) -> list[Action]:
        now = utc_now()
        t = self._table.export
        return [
            t.status.set(status.value),
            t.gsi3pk.set(export_status_pk(status.value)),
            t.gsi3sk.set(created_sk(now, export_id)),
            t.updated_at.set(now),
        ]

    def start(self, user_id: str, export_id: str, upload_id: str) -> tuple[Export, str | None]:
        t = self._table.export
        item = t(user_pk(user_id), export_sk(export_id))
        actions = [*self._status_actions(ExportStatus.PROCESSING, export_id), t.upload_id.set(upload_id)]
        active = [s.value for s in ACTIVE_EXPORT_STATUSES]
        try:
            with translated():
                response = self._table.connection.update_item(
                    self._table.table_name,
                    item.pk,
                    range_key=item.sk,
                    actions=actions,
                    condition=t.status.is_in(*active),
                    return_values="ALL_OLD",
                )
        except ConditionFailed:
            current = self.find(user_id, export_id)
            if current is None:
                raise NotFound("No such export.") from None
            raise InvalidTransition(f"the export is {current.status.value}") from None
        old = t.from_raw_data(response["Attributes"])
        started = self.find(user_id, export_id)
        if started is None:
            raise NotFound("No such export.")
        return started, old.upload_id

    def complete(
        self,
        user_id: str,
        export_id: str,
        *,
        image_count: int,
        missing_count: int,
        size_bytes: int,
        expires_at: str,
    ) -> Export:
        t = self._table.export
        actions = [
            *self._status_actions(ExportStatus.COMPLETED, export_id),
            t.image_count.set(image_count),
            t.missing_count.set(missing_count),
            t.size_bytes.set(size_bytes),
            t.expiry.set(expires_at),
            t.expires_at.set(_ttl(expires_at)),
            t.gsi4sk.set(created_sk(expires_at, export_id)),
            t.upload_id.remove(),
        ]
        self._finish(user_id, export_id, actions, t.status == ExportStatus.PROCESSING.value)
        done = self.find(user_id, export_id)
        if done is None:
            raise NotFound("No such export.")
        return done

    def fail(self, user_id: str, export_id: str, reason: str) -> Export | None:
        if not isinstance(reason, str) or not reason.strip() or len(reason) > _REASON_MAX:
            raise ValidationError.single("failureReason", f"must be 1..{_REASON_MAX} characters")
        t = self._table.export
        actions = [
            *self._status_actions(ExportStatus.FAILED, export_id),
            t.failure_reason.set(reason.strip()),
            t.upload_id.remove(),
        ]
        try:
            self._finish(
                user_id, export_id, actions, t.status.is_in(*(s.value for s in ACTIVE_EXPORT_STATUSES))
            )
        except InvalidTransition:
            pass  # final already: a redelivery, or it completed meanwhile
        except NotFound:
            return None
        return self.find(user_id, export_id)

    def _finish(self, user_id: str, export_id: str, actions: list[Action], condition: object) -> None:
        """The export's final move and the owner's active count down by one, in one transaction."""
        t = self._table
        tx = Transaction(t)
        tx.update(
            _EXPORT,
            t.export(user_pk(user_id), export_sk(export_id)),
            actions,
            condition,  # type: ignore[arg-type]
        )
        tx.update(
            _COUNTER,
            t.export_counter(user_pk(user_id), EXPORT_COUNTER_SK),
            [t.export_counter.active.add(-1)],
            t.export_counter.active > 0,
        )
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_EXPORT):
                current = self.find(user_id, export_id)
                if current is None:
                    raise NotFound("No such export.") from None
                raise InvalidTransition(f"the export is {current.status.value}") from None
            if cancelled.failed(_COUNTER):
                # The count is gone (an account erasure under way): the export's move is all that matters.
                with translated():
                    t.export(user_pk(user_id), export_sk(export_id)).update(
                        actions=actions,
                        condition=condition,  # type: ignore[arg-type]
                    )
                return
            raise cancelled.unexpected() from cancelled

    def delete(self, user_id: str, export_id: str) -> bool:
        t = self._table
        final = [s.value for s in ExportStatus if s not in ACTIVE_EXPORT_STATUSES]
        tx = Transaction(t)
        tx.delete(_EXPORT, t.export(user_pk(user_id), export_sk(export_id)), t.export.status.is_in(*final))
        tx.delete(_MANIFEST, t.export_manifest(user_pk(user_id), export_manifest_sk(export_id)))
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_EXPORT):
                return self.find(user_id, export_id) is None
            raise cancelled.unexpected() from cancelled
        return True
