"""EphemeralStore: small expiring values (sign-in state, revoked sessions, rate-limit windows, the
sweeper's place) as table items with a TTL attribute.

DynamoDB deletes expired items lazily (up to days later) and moto never does, so every read and
every conditional write compares ``expires_at`` with the clock itself; TTL only tidies up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from imagegen.persistence.binding import TableModels
from imagegen.persistence.dynamo import ConditionFailed, translated
from imagegen.persistence.items import EphemeralItem
from imagegen.persistence.keys import EPH_SK, ephemeral_pk

_HIT_ATTEMPTS = 4
_MAX_KEY_BYTES = 1024


def _checked(namespace: str, key: str) -> str:
    if not isinstance(namespace, str) or not namespace or "#" in namespace:
        raise ValueError("namespace must be a non-empty string without '#'")
    if not isinstance(key, str) or not key or len(key.encode("utf-8")) > _MAX_KEY_BYTES:
        raise ValueError(f"key must be a non-empty string of at most {_MAX_KEY_BYTES} bytes")
    return ephemeral_pk(namespace, key)


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


class DynamoEphemeralStore:
    def __init__(self, table: TableModels, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def put_new(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: int) -> bool:
        """Store ``value`` unless a live item has the key; an expired leftover is overwritten."""
        pk = _checked(namespace, key)
        ttl = _positive(ttl_seconds, "ttl_seconds")
        now = self._now()
        item = self._table.ephemeral(
            pk, EPH_SK, value=json.dumps(value, separators=(",", ":")), expires_at=now + ttl
        )
        try:
            with translated():
                item.save(
                    condition=self._table.ephemeral.pk.does_not_exist()
                    | (self._table.ephemeral.expires_at <= now)
                )
        except ConditionFailed:
            return False
        return True

    def take(self, namespace: str, key: str) -> dict[str, object] | None:
        """Delete and return the value: of two concurrent takes only one gets it."""
        pk = _checked(namespace, key)
        with translated():
            response = self._table.connection.delete_item(
                self._table.table_name, pk, range_key=EPH_SK, return_values="ALL_OLD"
            )
        old = response.get("Attributes") if response else None
        if not old:
            return None
        item = self._table.ephemeral.from_raw_data(old)
        return self._live_value(item)

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        pk = _checked(namespace, key)
        with translated():
            try:
                item = self._table.ephemeral.get(pk, EPH_SK, consistent_read=True)
            except self._table.ephemeral.DoesNotExist:
                return None
        return self._live_value(item)

    def _live_value(self, item: EphemeralItem) -> dict[str, object] | None:
        if int(item.expires_at) <= self._now():
            return None
        return item.value_dict()

    def hit(self, namespace: str, key: str, limit: int, ttl_seconds: int) -> int | None:
        """Count one hit in the key's window; the new count, or None once ``limit`` is reached.

        A window starts at its first hit and lasts ``ttl_seconds``. The increment is conditional
        (``count < limit`` on a live item), so concurrent hits never exceed the limit.
        """
        pk = _checked(namespace, key)
        limit = _positive(limit, "limit")
        ttl = _positive(ttl_seconds, "ttl_seconds")
        for _ in range(_HIT_ATTEMPTS):
            now = self._now()
            counter = self._table.ephemeral(pk, EPH_SK)
            try:
                with translated():
                    counter.update(
                        actions=[self._table.ephemeral.hits.add(1)],
                        condition=self._table.ephemeral.pk.exists()
                        & (self._table.ephemeral.expires_at > now)
                        & (self._table.ephemeral.hits < limit),
                    )
                return int(counter.hits or 0)
            except ConditionFailed:
                pass
            fresh = self._table.ephemeral(pk, EPH_SK, hits=1, expires_at=now + ttl)
            try:
                with translated():
                    fresh.save(
                        condition=self._table.ephemeral.pk.does_not_exist()
                        | (self._table.ephemeral.expires_at <= now)
                    )
                return 1
            except ConditionFailed:
                pass
            with translated():
                try:
                    current = self._table.ephemeral.get(pk, EPH_SK, consistent_read=True)
                except self._table.ephemeral.DoesNotExist:
                    continue
            if int(current.expires_at) > self._now() and int(current.hits or 0) >= limit:
                return None
        return None
