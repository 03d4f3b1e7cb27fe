"""Lists read from several index partitions at once: the write-sharded image indexes.

A partition key that every image writes (gsi4's all-images list, gsi3's statuses) is spread over
``IMAGE_SHARDS`` partitions by a hash of the image id, so no single index partition takes every write.
A list over them is a k-way merge: each partition is queried in the list's order (same sort key,
``{createdAt}#{imageId}``, in every partition) and the newest (or oldest) head of all of them is taken
next. An item is only taken while every partition not yet exhausted has a head to compare it with, so
the merged order is exact; when the read budget runs out first, the page is shorter and its cursor
resumes exactly where each partition stood.

Cursor (``CursorCodec.encode_state``, the usual MAC over the list's scope, which names the partition
count): ``{"p": {"<i>": "<sort key of the last item taken from partition i>" | null}}``. A partition
absent from ``p`` starts from its beginning, ``null`` is exhausted. Only the sort key is carried: the
rest of the ExclusiveStartKey (``IMAGE#{id}``/``IMAGE``, the partition) follows from it, which keeps a
cursor over 17 partitions under 2 KB. Anything else, or a sort key not shaped ``{createdAt}#{id}``, is
``InvalidCursor``.
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition

from imagegen.errors import InvalidCursor
from imagegen.persistence.cursor import CursorCodec, RawKey, validate_limit
from imagegen.persistence.dynamo import translated
from imagegen.persistence.items import Item

READS_PER_PARTITION = 3
"""Read budget of one page: this many Queries per partition on average (a filtered list may need more
than one read of a partition to fill its share; an unfiltered one almost never does)."""
FILTER_FACTOR = 4
_SORT_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,12}Z#[A-Za-z0-9_-]{1,64}")

BaseKey = Callable[[str], RawKey]
"""The table's own key (pk, sk) of the item with this index sort key."""


@dataclass(frozen=True)
class MergedQuery:
    scope: str
    index: str
    partitions: tuple[str, ...]
    base_key: BaseKey
    filter: Condition | None = None
    newest_first: bool = True

    @property
    def cursor_scope(self) -> str:
        # A cursor minted for another partition layout (another shard count) fails the MAC.
        return f"{self.scope}:partitions:{len(self.partitions)}"


_DONE = object()


def query_merged[M: Item](
    cls: type[M], codec: CursorCodec, query: MergedQuery, limit: int, cursor: str | None
) -> tuple[list[M], str | None]:
    limit = validate_limit(limit)
    starts: list[object] = [None] * len(query.partitions)
    if cursor is not None:
        starts = _decode(codec, query, cursor)
    merge = _Merge(cls, query, starts)
    kept = merge.take(limit)
    positions = merge.positions()
    more = any(position is not None for position in positions.values()) or len(positions) < len(starts)
    next_cursor = codec.encode_state(query.cursor_scope, {"p": positions}) if more else None
    return [cls.from_raw_data(raw) for raw in kept], next_cursor


class _Merge:
    """One page's k-way merge: per partition a buffer of items read, where its next read starts
    (``read_from``: a sort key, None for the beginning, _DONE) and the last item taken (``taken_to``)."""

    def __init__(self, cls: type[Item], query: MergedQuery, starts: list[object]) -> None:
        self.cls = cls
        self.query = query
        self.sort_attr = f"{query.index}sk"
        self.buffers: list[deque[dict[str, Any]]] = [deque() for _ in starts]
        self.read_from = list(starts)
        self.taken_to = list(starts)
        self.budget = READS_PER_PARTITION * len(starts)

    def take(self, limit: int) -> list[dict[str, Any]]:
        kept: list[dict[str, Any]] = []
        while len(kept) < limit and self._fill(limit - len(kept)):
            heads = [i for i, buffer in enumerate(self.buffers) if buffer]
            if not heads:
                break  # every partition exhausted
            choose = max if self.query.newest_first else min
            pick = choose(heads, key=lambda i: self.buffers[i][0][self.sort_attr]["S"])
            raw = self.buffers[pick].popleft()
            kept.append(raw)
            self.taken_to[pick] = raw[self.sort_attr]["S"]
        return kept

    def _fill(self, need: int) -> bool:
        """Give every unfinished partition a head; False when the read budget ran out first."""
        for i, buffer in enumerate(self.buffers):
            while not buffer and self.read_from[i] is not _DONE:
                if self.budget <= 0:
                    return False
                self._read(i, need)
        return True

    def _read(self, i: int, need: int) -> None:
        self.budget -= 1
        active = sum(1 for position in self.read_from if position is not _DONE) or 1
        size = max(2, -(-need // active) + 1)
        if self.query.filter is not None:
            size = min(100, size * FILTER_FACTOR)
        start = self.read_from[i]
        with translated():
            result = self.cls.query(
                self.query.partitions[i],
                filter_condition=self.query.filter,
                index_name=self.query.index,
                scan_index_forward=not self.query.newest_first,
                page_size=size,
                last_evaluated_key=_start_key(self.query, i, start) if isinstance(start, str) else None,
            )
            page = next(result.page_iter)
        self.buffers[i].extend(page.get("Items") or [])
        last = page.get("LastEvaluatedKey")
        self.read_from[i] = last[self.sort_attr]["S"] if last else _DONE

    def positions(self) -> dict[str, str | None]:
        """Where the next page resumes: after the last item taken where items read are left over
        (they are read again), else after everything evaluated. Absent: from the beginning."""
        positions: dict[str, str | None] = {}
        for i, buffer in enumerate(self.buffers):
            position = self.taken_to[i] if buffer else self.read_from[i]
            if position is _DONE:
                positions[str(i)] = None
            elif isinstance(position, str):
                positions[str(i)] = position
        return positions


def first_of_each[M: Item](
    cls: type[M],
    partitions: tuple[str, ...],
    index: str,
    condition: Condition,
    limit: int,
    *,
    oldest_first: bool = True,
) -> list[M]:
    """The first ``limit`` items of the merged order, each partition queried once for its first
    ``limit`` (enough: the merged first ``limit`` are among them)."""
    sort_attr = f"{index}sk"
    found: list[tuple[str, M]] = []
    with translated():
        for partition in partitions:
            for item in cls.query(
                partition,
                range_key_condition=condition,
                index_name=index,
                scan_index_forward=oldest_first,
                limit=limit,
                page_size=limit,
            ):
                found.append((getattr(item, sort_attr), item))
    pick = heapq.nsmallest if oldest_first else heapq.nlargest
    return [item for _, item in pick(limit, found, key=lambda pair: pair[0])]


def _start_key(query: MergedQuery, i: int, sort_key: str) -> RawKey:
    key = dict(query.base_key(sort_key))
    key[f"{query.index}pk"] = {"S": query.partitions[i]}
    key[f"{query.index}sk"] = {"S": sort_key}
    return key


def _decode(codec: CursorCodec, query: MergedQuery, cursor: str) -> list[object]:
    state = codec.decode_state(query.cursor_scope, cursor)
    if not isinstance(state, dict) or set(state) != {"p"} or not isinstance(state["p"], dict):
        raise InvalidCursor()
    starts: list[object] = [None] * len(query.partitions)
    for name, value in state["p"].items():
        if not isinstance(name, str) or not name.isdigit() or int(name) >= len(query.partitions):
            raise InvalidCursor()
        if value is None:
            starts[int(name)] = _DONE
        elif isinstance(value, str) and _SORT_KEY.fullmatch(value):
            starts[int(name)] = value
        else:
            raise InvalidCursor()
    if all(start is _DONE for start in starts):
        raise InvalidCursor()  # never minted: the last page has no cursor
    return starts
