"""Cursor pages over one Query, filled up to ``limit`` within a bounded number of reads.

DynamoDB applies ``Limit`` before a FilterExpression, so a filtered read may return fewer matches
than asked. The loop reads on from the LastEvaluatedKey until the page is full, the partition is
exhausted, or ``MAX_READS`` requests were made; a page may then hold fewer than ``limit`` items
while its cursor still resumes exactly after the last item evaluated. Each read asks for one item
more than needed, so a full page knows whether anything follows and the last page has no cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition

from imagegen.persistence.cursor import CursorCodec, RawKey, validate_limit
from imagegen.persistence.dynamo import translated
from imagegen.persistence.items import INDEX_KEYS, Item

MAX_READS = 10
FILTERED_PAGE_SIZE = 50


@dataclass(frozen=True)
class PageQuery:
    scope: str
    partition: str
    index: str | None = None
    range_condition: Condition | None = None
    filter: Condition | None = None
    newest_first: bool = True
    consistent: bool = False


def query_page[M: Item](
    cls: type[M], codec: CursorCodec, query: PageQuery, limit: int, cursor: str | None
) -> tuple[list[M], str | None]:
    limit = validate_limit(limit)
    key_names = INDEX_KEYS[query.index]
    hash_attr = f"{query.index}pk" if query.index else "pk"
    start: RawKey | None = None
    if cursor is not None:
        start = codec.decode(query.scope, cursor, key_names=key_names, partition=(hash_attr, query.partition))
    kept: list[dict[str, Any]] = []
    next_key: RawKey | None = None
    for _ in range(MAX_READS):
        need = limit - len(kept)
        page_size = need + 1 if query.filter is None else max(need + 1, FILTERED_PAGE_SIZE)
        with translated():
            result = cls.query(
                query.partition,
                range_key_condition=query.range_condition,
                filter_condition=query.filter,
                index_name=query.index,
                consistent_read=query.consistent,
                scan_index_forward=not query.newest_first,
                page_size=page_size,
                last_evaluated_key=start,
            )
            page = next(result.page_iter)
        raw_items: list[dict[str, Any]] = page.get("Items") or []
        for position, raw in enumerate(raw_items):
            kept.append(raw)
            if len(kept) == limit:
                more = position + 1 < len(raw_items) or page.get("LastEvaluatedKey") is not None
                if more:
                    next_key = {name: raw[name] for name in key_names}
                return [cls.from_raw_data(r) for r in kept], _encode(codec, query.scope, next_key)
        start = page.get("LastEvaluatedKey")
        if start is None:
            return [cls.from_raw_data(r) for r in kept], None
    return [cls.from_raw_data(r) for r in kept], _encode(codec, query.scope, start)


def _encode(codec: CursorCodec, scope: str, key: RawKey | None) -> str | None:
    return codec.encode(scope, key) if key is not None else None
