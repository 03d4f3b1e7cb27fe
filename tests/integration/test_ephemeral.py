"""EphemeralStore: single-use items, expiry checked on read, rate-limit counters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from imagegen.persistence import DynamoEphemeralStore, Repositories


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(repos: Repositories, clock: Clock) -> DynamoEphemeralStore:
    return DynamoEphemeralStore(repos.models, clock=clock)


def _parallel(count: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_put_new_get_and_single_use_take(store: DynamoEphemeralStore) -> None:
    value: dict[str, object] = {"nonce": "n-1", "verifier": "v" * 43, "nested": {"n": [1, 2.5, None, True]}}
    assert store.put_new("oauth_state", "s-1", value, 600) is True
    assert store.put_new("oauth_state", "s-1", {"other": 1}, 600) is False
    assert store.get("oauth_state", "s-1") == value
    assert store.take("oauth_state", "s-1") == value
    assert store.take("oauth_state", "s-1") is None
    assert store.get("oauth_state", "s-1") is None


def test_namespaces_are_separate(store: DynamoEphemeralStore) -> None:
    assert store.put_new("a", "k", {"v": "a"}, 60)
    assert store.put_new("b", "k", {"v": "b"}, 60)
    assert store.take("a", "k") == {"v": "a"}
    assert store.get("b", "k") == {"v": "b"}


def test_concurrent_takes_hand_the_value_out_once(store: DynamoEphemeralStore) -> None:
    store.put_new("oauth_state", "race", {"x": 1}, 600)
    results = _parallel(10, lambda _: store.take("oauth_state", "race"))
    assert [r for r in results if r is not None] == [{"x": 1}]


def test_expiry_is_honoured_on_read_without_ttl_deletion(
    store: DynamoEphemeralStore, clock: Clock, table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    store.put_new("revoked", "jti-1", {}, 60)
    store.put_new("oauth_state", "s-1", {"x": 1}, 60)
    clock.now += 60
    assert store.get("revoked", "jti-1") is None
    assert store.take("oauth_state", "s-1") is None
    # The expired item is still stored (TTL deletion is lazy), yet a new one may take its key.
    assert any(i["pk"] == "EPH#revoked#jti-1" for i in table_items())
    assert store.put_new("revoked", "jti-1", {"again": True}, 60) is True
    assert store.get("revoked", "jti-1") == {"again": True}
    assert {i["expires_at"] for i in table_items() if i["pk"] == "EPH#revoked#jti-1"} == {clock.now + 60}


def test_hit_counts_up_to_the_limit_per_window(store: DynamoEphemeralStore, clock: Clock) -> None:
    assert [store.hit("rate", "user-1", 3, 60) for _ in range(5)] == [1, 2, 3, None, None]
    assert store.hit("rate", "user-2", 3, 60) == 1
    clock.now += 59
    assert store.hit("rate", "user-1", 3, 60) is None
    clock.now += 1
    assert store.hit("rate", "user-1", 3, 60) == 1


def test_concurrent_hits_never_exceed_the_limit(store: DynamoEphemeralStore) -> None:
    results = _parallel(12, lambda _: store.hit("rate", "burst", 5, 60))
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert results.count(None) == 7


@pytest.mark.parametrize(
    ("namespace", "key", "ttl"),
    [("", "k", 1), ("a#b", "k", 1), ("ns", "", 1), ("ns", "k" * 1025, 1), ("ns", "k", 0), ("ns", "k", True)],
)
def test_arguments_are_checked(store: DynamoEphemeralStore, namespace: str, key: str, ttl: Any) -> None:
    with pytest.raises(ValueError):
        store.put_new(namespace, key, {}, ttl)
