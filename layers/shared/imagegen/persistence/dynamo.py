"""DynamoDB plumbing shared by the repositories: error translation, labelled transactions, batches.

No PynamoDB or botocore exception leaves this package: a failed condition becomes
:class:`ConditionFailed` (caught by the repository that asked for the condition), a cancelled
transaction :class:`TransactionCancelled` with its reasons by label, throttling and conflicts that outlived
botocore's own retries :class:`~imagegen.errors.ServiceUnavailable`, and anything else a plain
:class:`~imagegen.errors.DomainError` (an internal error whose AWS text stays in the logs).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError
from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from imagegen.errors import DomainError, ServiceUnavailable
from imagegen.persistence.binding import TableModels
from imagegen.persistence.items import Item

log = logging.getLogger(__name__)

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"

# Error codes that mean "the service is busy or briefly unable", not "the request is wrong".
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Per-item cancellation reasons of a transaction that a retry can cure.
_TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class ConditionFailed(DomainError):
    """A single-item write's condition did not hold. Internal: repositories turn it into a domain answer."""


class TransactionCancelled(DomainError):
    """A transaction was cancelled; ``reasons`` maps each failing item's label to DynamoDB's reason code."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        # The detail may reach a client if a caller forgets to handle this: keep it generic.
        super().__init__("The data store could not complete the request.")

    def __str__(self) -> str:
        return "transaction cancelled: " + ", ".join(f"{k}={v}" for k, v in sorted(self.reasons.items()))

    def failed(self, label: str) -> bool:
        return self.reasons.get(label) == "ConditionalCheckFailed"

    @property
    def transient(self) -> bool:
        return any(code in _TRANSIENT_REASONS for code in self.reasons.values())

    def unexpected(self) -> DomainError:
        """The domain error for a cancellation its caller has no specific answer to."""
        if self.transient:
            log.warning("transaction conflict persisted: %s", self)
            return ServiceUnavailable("The data store is busy; try again.")
        log.error("unexpected transaction cancellation: %s", self)
        return DomainError("The data store could not complete the request.")


def _error_code(exc: BaseException) -> str | None:
    if isinstance(exc, PynamoDBException):
        code = exc.cause_response_code
        if code:
            return code
        return _error_code(exc.cause) if isinstance(exc.cause, BaseException) else None
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "") or None
    return None


def _is_transport_failure(exc: BaseException) -> bool:
    cause = exc.cause if isinstance(exc, PynamoDBException) else exc
    return isinstance(cause, ConnectionError | HTTPClientError)


def to_domain_error(exc: BaseException) -> DomainError:
    code = _error_code(exc)
    if code in _TRANSIENT_CODES or _is_transport_failure(exc):
        log.warning("data store unavailable: %s", code or type(exc).__name__)
        return ServiceUnavailable("The data store is busy; try again.")
    log.error("data store error %s", code or type(exc).__name__, exc_info=exc)
    return DomainError("The data store could not complete the request.")


@contextmanager
def translated() -> Iterator[None]:
    """Run DynamoDB calls; re-raise their failures as domain errors."""
    try:
        yield
    except TransactWriteError as exc:
        if exc.cause_response_code == "TransactionCanceledException":
            reasons = exc.cancellation_reasons
            raise TransactionCancelled(_reasons_by_index(reasons)) from exc
        raise to_domain_error(exc) from exc
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        if _error_code(exc) == CONDITIONAL_CHECK_FAILED:
            raise ConditionFailed("condition not met") from exc
        raise to_domain_error(exc) from exc


def _reasons_by_index(reasons: Sequence[Any]) -> dict[str, str]:
    return {str(i): r.code for i, r in enumerate(reasons) if r is not None and r.code != "None"}


def backoff(attempt: int, *, base: float = 0.005, cap: float = 0.2) -> None:
    """Sleep with full jitter so that competing writers spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(cap, base * (2**attempt))))  # noqa: S311 - jitter, not a secret


class Transaction:
    """A TransactWriteItems with a label on every item, so cancellation reasons can be read by name.

    PynamoDB sends condition checks, then deletes, then puts, then updates, whatever the call order;
    labels are kept in that same order to line up with DynamoDB's ``CancellationReasons``.
    """

    MAX_ITEMS = 100

    def __init__(self, table: TableModels) -> None:
        self._table = table
        self._ops: dict[str, list[tuple[str, Callable[[TransactWrite], None]]]] = {
            "check": [],
            "delete": [],
            "put": [],
            "update": [],
        }

    def _add(self, kind: str, label: str, op: Callable[[TransactWrite], None]) -> None:
        if any(label == existing for ops in self._ops.values() for existing, _ in ops):
            raise ValueError(f"duplicate transaction label {label!r}")
        self._ops[kind].append((label, op))

    def put(self, label: str, item: Item, condition: Condition | None = None) -> None:
        self._add("put", label, lambda tw: tw.save(item, condition=condition))

    def update(
        self, label: str, item: Item, actions: list[Action], condition: Condition | None = None
    ) -> None:
        self._add("update", label, lambda tw: tw.update(item, actions=actions, condition=condition))

    def delete(self, label: str, item: Item, condition: Condition | None = None) -> None:
        self._add("delete", label, lambda tw: tw.delete(item, condition=condition))

    def check(self, label: str, item: Item, condition: Condition) -> None:
        cls = type(item)
        self._add("check", label, lambda tw: tw.condition_check(cls, item.pk, item.sk, condition=condition))

    @property
    def labels(self) -> list[str]:
        return [label for kind in ("check", "delete", "put", "update") for label, _ in self._ops[kind]]

    def commit(self) -> None:
        labels = self.labels
        if not labels:
            return
        if len(labels) > self.MAX_ITEMS:
            raise ValueError("a transaction holds at most 100 items")
        try:
            with translated(), TransactWrite(connection=self._table.connection) as tw:
                for kind in ("check", "delete", "put", "update"):
                    for _, op in self._ops[kind]:
                        op(tw)
        except TransactionCancelled as cancelled:
            named = {labels[int(i)]: code for i, code in cancelled.reasons.items() if int(i) < len(labels)}
            if not named:
                raise cancelled.unexpected() from cancelled
            raise TransactionCancelled(named) from cancelled


def batch_delete(table: TableModels, keys: Iterable[tuple[str, str]]) -> None:
    """Delete items by ``(pk, sk)`` with PynamoDB's batch write: BatchWriteItem in groups of 25,
    unprocessed items resent. Items still unprocessed after its retries mean throttling."""
    batch = table.item.batch_write()
    with translated():
        try:
            with batch:
                for pk, sk in keys:
                    batch.delete(table.item(pk, sk))
        except PutError as exc:
            if exc.cause is not None:
                raise  # the request itself failed: translated() says what it means
            log.warning("batch write left %d items unprocessed", len(batch.failed_operations))
            raise ServiceUnavailable("The data store is busy; try again.") from exc
