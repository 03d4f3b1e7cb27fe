"""The table's stream, decoded: each record of a DynamoDB stream event as a :class:`~imagegen.ports.Change`.

The notifier's event source filters the stream to the entities that matter (``template.yaml``); this
decodes what passes with the entity classes that wrote it, so a message carries exactly what the API
answers. Records of other entities, or that cannot be read, are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from imagegen.persistence.binding import TableModels
from imagegen.ports import Change

log = logging.getLogger(__name__)


def decode_changes(table: TableModels, records: Iterable[dict[str, Any]]) -> list[Change]:
    changes: list[Change] = []
    for record in records:
        try:
            change = _decode(table, record)
        except Exception:  # one malformed record must not hold back the others
            log.exception(
                "skipped a stream record that could not be read", extra={"event_id": record.get("eventID")}
            )
            continue
        if change is not None:
            changes.append(change)
    return changes


def _decode(table: TableModels, record: dict[str, Any]) -> Change | None:
    stream = record.get("dynamodb") or {}
    new, old = stream.get("NewImage"), stream.get("OldImage")
    event = record.get("eventName")
    if event in ("INSERT", "MODIFY") and new:
        entity = (new.get("entity") or {}).get("S")
        if entity == table.image.ENTITY:
            image = table.image.from_raw_data(new).to_image()
            return Change(user_id=image.user_id, image=image)
        if entity == table.ledger.ENTITY and event == "INSERT":
            entry = table.ledger.from_raw_data(new).to_entry()
            return Change(user_id=entry.user_id, entry=entry)
        if entity == table.purchase.ENTITY:
            purchase = table.purchase.from_raw_data(new).to_purchase()
            return Change(user_id=purchase.user_id, purchase=purchase)
        if entity == table.export.ENTITY:
            export = table.export.from_raw_data(new).to_export()
            return Change(user_id=export.user_id, export=export)
    if event == "REMOVE" and old and (old.get("entity") or {}).get("S") == table.image.ENTITY:
        image = table.image.from_raw_data(old).to_image()
        return Change(user_id=image.user_id, removed_image=image)
    return None
