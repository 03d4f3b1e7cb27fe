"""DynamoDB stream event sources, locally: the emulator's change capture (``devstack.moto_fixes.listen``)
filtered by the template's ``FilterCriteria`` and delivered in batches to the function, as Lambda's
event source mapping does: in order, a failed batch retried ``MaximumRetryAttempts`` times and then
skipped (the stream moves on; nothing blocks behind it)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from devstack.stack.console import Console
from devstack.stack.runtime import InvocationResult
from devstack.stack.sam import StreamSubscription

# How many changes wait for the function before the oldest are dropped (a stream keeps 24 hours; a
# laptop's memory less): a stuck notifier must not take the stack down with it.
MAX_BACKLOG = 20_000
_RETRY_PAUSE_SECONDS = 0.2


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Lambda event filtering (the EventBridge pattern syntax): every key of the pattern must match;
    a list matches if any of its values does (exact values, ``prefix``, ``exists``, ``anything-but``)."""
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(expected, Mapping):
            if not present or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_matches_value(rule, present, value) for rule in expected):
                return False
        else:
            raise ValueError(f"a filter pattern's leaves are lists, got {expected!r} for {key!r}")
    return True


def _matches_value(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if "exists" in rule:
            return bool(rule["exists"]) == present
        if not present:
            return False
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(str(rule["prefix"]))
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            return value not in (excluded if isinstance(excluded, list) else [excluded])
        raise ValueError(f"unsupported filter rule {rule!r}")
    return present and value == rule


class StreamPump(threading.Thread):
    def __init__(
        self,
        subscription: StreamSubscription,
        *,
        invoke: Callable[..., InvocationResult],
        console: Console,
        function_label: str,
        stopping: threading.Event,
    ) -> None:
        super().__init__(name=f"stream-{subscription.event_name}", daemon=True)
        self.subscription = subscription
        self.invoke = invoke
        self.console = console
        self.function_label = function_label
        self.stopping = stopping
        self.backlog: queue.Queue[dict[str, Any]] = queue.Queue()
        self.dropped = 0
        self.delivered = 0

    def offer(self, record: dict[str, Any]) -> None:
        """A change from the emulator (called on its thread: cheap, never blocks)."""
        filters = self.subscription.filters
        if filters and not any(matches(pattern, record) for pattern in filters):
            return
        if self.backlog.qsize() >= MAX_BACKLOG:
            try:
                self.backlog.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
        self.backlog.put(record)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                first = self.backlog.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.subscription.window_seconds
            while len(batch) < self.subscription.batch_size:
                try:
                    remaining = deadline - time.monotonic()
                    batch.append(
                        self.backlog.get(timeout=remaining) if remaining > 0 else self.backlog.get_nowait()
                    )
                except queue.Empty:
                    break
            self._deliver(batch)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        label = f"dynamodb stream -> {self.function_label} {len(batch)} records"
        for attempt in range(self.subscription.max_retries + 1):
            if self.stopping.is_set():
                return
            outcome = self.invoke(self.subscription.function, {"Records": batch})
            if outcome.ok:
                self.delivered += len(batch)
                self.console.line(f"{label}, {outcome.duration_ms:.0f}ms")
                return
            verdict = "will retry" if attempt < self.subscription.max_retries else "skipped"
            self.console.line(f"{label}, failed ({outcome.describe()}), attempt {attempt + 1}: {verdict}")
            time.sleep(_RETRY_PAUSE_SECONDS)
