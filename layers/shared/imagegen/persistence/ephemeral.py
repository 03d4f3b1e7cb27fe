"""EphemeralStore: the seed's KV namespace as table items with a TTL attribute.

DynamoDB deletes expired items lazily (up to days later) and moto never does, so every read and
every conditional write compares ``expires_at`` with the clock itself; TTL only tidies up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from imagegen.persistence.dynamo import ConditionFailed, translated
from imagegen.persistence.items import EPH_SK, EphemeralItem, TableModels, ephemeral_pk

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
    def __init__(self, models: TableModels, clock: Callable[[], float] = time.time) -> None:
        self._m = models
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    def put_new(self, namespace: str, key: str, value: dict[str, object], ttl_seconds: int) -> bool:
        """Store ``value`` unless a live item has the key; an expired leftover is overwritten."""
        pk = _checked(namespace, key)
        ttl = _positive(ttl_seconds, "ttl_seconds")
        m = self._m
        now = self._now()
        item = m.ephemeral(pk, EPH_SK, value=json.dumps(value, separators=(",", ":")), expires_at=now + ttl)
        try:
            with translated():
                item.save(condition=m.ephemeral.pk.does_not_exist() | (m.ephemeral.expires_at <= now))
        except ConditionFailed:
            return False
        return True

    def take(self, namespace: str, key: str) -> dict[str, object] | None:
        """Delete and return the value: of two concurrent takes only one gets it."""
        pk = _checked(namespace, key)
        m = self._m
        with translated():
            response = m.connection.delete_item(m.table_name, pk, range_key=EPH_SK, return_values="ALL_OLD")
        old = response.get("Attributes") if response else None
        if not old:
            return None
        item = m.ephemeral.from_raw_data(old)
        return self._live_value(item)

    def get(self, namespace: str, key: str) -> dict[str, object] | None:
        pk = _checked(namespace, key)
        m = self._m
        with translated():
            try:
                item = m.ephemeral.get(pk, EPH_SK, consistent_read=True)
            except m.ephemeral.DoesNotExist:
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
        m = self._m
        for _ in range(_HIT_ATTEMPTS):
            now = self._now()
            counter = m.ephemeral(pk, EPH_SK)
            try:
                with translated():
                    counter.update(
                        actions=[m.ephemeral.hits.add(1)],
                        condition=m.ephemeral.pk.exists()
                        & (m.ephemeral.expires_at > now)
                        & (m.ephemeral.hits < limit),
                    )
                return int(counter.hits or 0)
            except ConditionFailed:
                pass
            fresh = m.ephemeral(pk, EPH_SK, hits=1, expires_at=now + ttl)
            try:
                with translated():
                    fresh.save(condition=m.ephemeral.pk.does_not_exist() | (m.ephemeral.expires_at <= now))
                return 1
            except ConditionFailed:
                pass
            with translated():
                try:
                    current = m.ephemeral.get(pk, EPH_SK, consistent_read=True)
                except m.ephemeral.DoesNotExist:
                    continue
            if int(current.expires_at) > self._now() and int(current.hits or 0) >= limit:
                return None
        return None
