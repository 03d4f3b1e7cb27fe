"""Event sources: SQS event source mappings (and the internal queues standing in for S3 -> Lambda), and
EventBridge schedules.

An SQS batch is deleted as Lambda's poller does: all of it on success, the messages not reported in
``batchItemFailures`` with ReportBatchItemFailures, none when the function fails. Messages left behind come
back after the queue's visibility timeout, and the emulator moves them to the dead-letter queue after
``maxReceiveCount`` receives, as SQS does.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.stack.console import Console
from devstack.stack.provision import S3_DIRECT_MAX_ATTEMPTS, client
from devstack.stack.runtime import InvocationResult
from devstack.stack.sam import QueueSubscription, Schedule
from devstack.template import ACCOUNT_ID, REGION

Invoke = Callable[[str, Any], InvocationResult]  # (function logical id, event)
POLL_SECONDS = 1  # long-poll length; also how fast a pump notices the stack stopping


class QueuePump:
    def __init__(
        self,
        subscription: QueueSubscription,
        *,
        endpoint_url: str,
        invoke: Invoke,
        console: Console,
        function_label: str,
        queue_label: str,
        stopping: threading.Event,
    ) -> None:
        self.sub = subscription
        self.endpoint_url = endpoint_url
        self.invoke = invoke
        self.console = console
        self.function_label = function_label
        self.queue_label = queue_label
        self.stopping = stopping
        self._slots = threading.Semaphore(subscription.max_concurrency)
        self._thread = threading.Thread(target=self._run, name=f"pump-{queue_label}", daemon=True)
        self._deliveries: list[threading.Thread] = []

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._thread.join(max(0.0, deadline - time.monotonic()))
        for delivery in list(self._deliveries):
            delivery.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        sqs = client("sqs", self.endpoint_url, pool=self.sub.max_concurrency + 2)
        failures = 0
        while not self.stopping.is_set():
            if not self._slots.acquire(timeout=POLL_SECONDS):
                continue
            try:
                messages = self._receive(sqs)
                failures = 0
            except Exception as exc:
                self._slots.release()
                if self.stopping.is_set():
                    return
                failures += 1
                if failures == 1:
                    self.console.line(f"sqs {self.queue_label}: receive failed: {exc}")
                self.stopping.wait(min(5.0, 0.5 * failures))
                continue
            if not messages:
                self._slots.release()
                continue
            delivery = threading.Thread(target=self._deliver, args=(sqs, messages), daemon=True)
            self._deliveries = [thread for thread in self._deliveries if thread.is_alive()] + [delivery]
            delivery.start()

    def _receive(self, sqs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_end: float | None = None
        wait = POLL_SECONDS
        while len(messages) < self.sub.batch_size:
            response = sqs.receive_message(
                QueueUrl=self.sub.queue_url,
                MaxNumberOfMessages=min(10, self.sub.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            messages.extend(received)
            if not messages:
                return messages
            if window_end is None:
                window_end = time.monotonic() + self.sub.window_seconds
            remaining = window_end - time.monotonic()
            if remaining <= 0 or self.stopping.is_set():
                break
            # Within the batching window, keep gathering until the batch is full or the window closes.
            wait = max(0, min(POLL_SECONDS, int(remaining)))
            if not received and wait == 0:
                time.sleep(min(remaining, 0.2))
        return messages

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        try:
            if self.sub.s3_direct:
                self._deliver_s3(sqs, messages)
            else:
                self._deliver_batch(sqs, messages)
        except Exception as exc:
            self.console.line(f"sqs {self.queue_label} -> {self.function_label}: delivery failed: {exc}")
        finally:
            self._slots.release()

    def _deliver_batch(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        outcome = self.invoke(self.sub.function, event)
        ids = {message["MessageId"]: message for message in messages}
        summary = f"sqs {self.queue_label} -> {self.function_label} {len(messages)} msgs"
        if not outcome.ok:
            self.console.line(f"{summary}, failed ({outcome.describe()}), {outcome.duration_ms:.0f}ms")
            self.console.trace(outcome.error)
            return
        failed = self._failed_ids(outcome.result, ids) if self.sub.report_failures else set()
        if failed is None:
            self.console.line(
                f"{summary}, invalid batchItemFailures: whole batch retried, {outcome.duration_ms:.0f}ms"
            )
            return
        self._delete(sqs, [message for message_id, message in ids.items() if message_id not in failed])
        self.console.line(f"{summary}, {len(failed)} failed, {outcome.duration_ms:.0f}ms")

    @staticmethod
    def _failed_ids(result: Any, ids: dict[str, Any]) -> set[str] | None:
        """Message ids to retry; None when the response is unusable (Lambda then retries the whole batch)."""
        if result is None or result == {}:
            return set()
        if not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures")
        if failures is None:
            return set()
        if not isinstance(failures, list):
            return None
        failed: set[str] = set()
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(identifier, str) or identifier not in ids:
                return None
            failed.add(identifier)
        return failed

    def _deliver_s3(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            body = json.loads(message["Body"])
            if body.get("Event") == "s3:TestEvent":
                # S3 sends its test event to queues only, never to a function it invokes directly.
                self._delete(sqs, [message])
                continue
            outcome = self.invoke(self.sub.function, body)
            attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            label = f"s3 {self.queue_label} -> {self.function_label} 1 event"
            if outcome.ok:
                self._delete(sqs, [message])
                self.console.line(f"{label}, {outcome.duration_ms:.0f}ms")
            elif attempts >= S3_DIRECT_MAX_ATTEMPTS:
                self._delete(sqs, [message])
                self.console.line(f"{label}, failed ({outcome.describe()}), attempt {attempts}: dropped")
            else:
                self.console.line(f"{label}, failed ({outcome.describe()}), attempt {attempts}: will retry")
            if not outcome.ok:
                self.console.trace(outcome.error)

    def _delete(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=self.sub.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {key: str(value) for key, value in (message.get("Attributes") or {}).items()}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            **(
                {"md5OfMessageAttributes": message["MD5OfMessageAttributes"]}
                if "MD5OfMessageAttributes" in message
                else {}
            ),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.sub.queue_arn,
            "awsRegion": REGION,
        }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        converted["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    converted["stringListValues"] = value.get("StringListValues", [])
    converted["binaryListValues"] = value.get("BinaryListValues", [])
    return converted


# --- schedules ----------------------------------------------------------------------------------------


def scheduled_event(schedule: Schedule, when: datetime | None = None) -> Any:
    """What EventBridge delivers: the rule's constant Input if it has one, else the Scheduled Event."""
    if schedule.input is not None:
        return schedule.input
    moment = (when or datetime.now(UTC)).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
        "detail": {},
    }


_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    match = _RATE.fullmatch(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}
_DAYS = {
    name.upper(): index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)
}


def _cron_field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """Values one field of an EventBridge cron expression allows; None for unsupported syntax (L, W, #)."""
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = names.get(first) or int(first), names.get(last) or int(last)
        elif base in names or base.isdigit():
            start = names.get(base) or int(base)
            end = high if step_text else start
        else:
            return None
        values.update(range(start, end + 1, step))
    return values


def next_cron(expression: str, after: datetime) -> datetime | None:
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        return None
    fields = match.group(1).split()
    if len(fields) != 6:
        return None
    parsed = [
        _cron_field(fields[0], 0, 59, {}),
        _cron_field(fields[1], 0, 23, {}),
        _cron_field(fields[2], 1, 31, {}),
        _cron_field(fields[3], 1, 12, {name.upper(): index for name, index in _MONTHS.items()}),
        _cron_field(fields[4], 1, 7, _DAYS),
        _cron_field(fields[5], 1970, 2199, {}),
    ]
    if any(field is None for field in parsed):
        return None
    minutes, hours, days, months, weekdays, years = (field or set() for field in parsed)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        weekday = (moment.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday
        if (
            moment.minute in minutes
            and moment.hour in hours
            and moment.month in months
            and moment.year in years
            and moment.day in days
            and weekday in weekdays
        ):
            return moment
        moment += timedelta(minutes=1)
    return None


class Scheduler:
    def __init__(
        self,
        schedules: list[Schedule],
        *,
        invoke: Invoke,
        console: Console,
        labels: dict[str, str],
        stopping: threading.Event,
    ) -> None:
        self.schedules = [schedule for schedule in schedules if schedule.enabled]
        self.invoke = invoke
        self.console = console
        self.labels = labels
        self.stopping = stopping
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        if self.schedules:
            self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _next(self, schedule: Schedule, now: datetime) -> datetime | None:
        seconds = rate_seconds(schedule.expression)
        if seconds is not None:
            return now + timedelta(seconds=seconds)
        return next_cron(schedule.expression, now)

    def _run(self) -> None:
        now = datetime.now(UTC)
        due: dict[int, datetime] = {}
        for index, schedule in enumerate(self.schedules):
            first = self._next(schedule, now)
            if first is None:
                self.console.line(
                    f"schedule {schedule.function}.{schedule.event_name}: {schedule.expression} is not run "
                    f"automatically; POST /_local/schedule/{schedule.function} runs it"
                )
            else:
                due[index] = first
        while due and not self.stopping.is_set():
            index, when = min(due.items(), key=lambda item: item[1])
            delay = (when - datetime.now(UTC)).total_seconds()
            if delay > 0:
                self.stopping.wait(min(delay, 60))
                continue
            schedule = self.schedules[index]
            next_time = self._next(schedule, when)
            if next_time is None:
                del due[index]
            else:
                due[index] = next_time
            threading.Thread(target=self.fire, args=(schedule, when), daemon=True).start()

    def fire(self, schedule: Schedule, when: datetime | None = None) -> InvocationResult:
        outcome = self.invoke(schedule.function, scheduled_event(schedule, when))
        status = "ok" if outcome.ok else f"failed ({outcome.describe()})"
        label = self.labels.get(schedule.function, schedule.function)
        self.console.line(f"schedule {schedule.event_name} -> {label} {status}, {outcome.duration_ms:.0f}ms")
        if not outcome.ok:
            self.console.trace(outcome.error)
        return outcome
