"""LedgerRepository: a user's coin entries, kept in the user's own partition."""

from __future__ import annotations

from imagegen.models import LedgerEntry
from imagegen.persistence.binding import TableModels
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.dynamo import translated
from imagegen.persistence.keys import LEDGER_PREFIX, user_pk
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.ports import Page


class DynamoLedgerRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec

    def find_by_user_id(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[LedgerEntry]:
        """Newest first: ``sk`` is the zero-padded sequence, read backwards."""
        query = PageQuery(
            scope=f"ledger:user:{user_id}",
            partition=user_pk(user_id),
            range_condition=self._table.ledger.sk.startswith(LEDGER_PREFIX),
            consistent=True,
        )
        items, next_cursor = query_page(self._table.ledger, self._codec, query, limit, cursor)
        return Page([item.to_entry() for item in items], next_cursor)

    def all_for_user(self, user_id: str) -> list[LedgerEntry]:
        """Every entry, oldest first (sequence order): the running balance reads top to bottom."""
        with translated():
            items = list(
                self._table.ledger.query(
                    user_pk(user_id),
                    range_key_condition=self._table.ledger.sk.startswith(LEDGER_PREFIX),
                    consistent_read=True,
                    scan_index_forward=True,
                )
            )
        return [item.to_entry() for item in items]
