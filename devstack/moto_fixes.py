"""Two fixes to moto's DynamoDB for a long-running emulator: memory that stays flat and transactions whose
cost does not grow with the table.

- moto records every model object it ever creates (``BaseModel.instances_tracked``, for its dashboard),
  items included, and never lets go of them: a stack that serves requests for a day grows without end.
  :func:`stop_tracking_models` makes new objects untracked and forgets the ones already recorded.
- moto's ``Query`` gathers every item of the table and sorts them all (``Table.all_items``) before it
  looks at the key, even on the table's own partition key, and a query on an index looks at every item of
  the table: a query costs a sort of the whole table. :func:`query` hands moto's own query code only the
  candidates: the partition it asks for (the table's key), or the items under that key of the index, from
  :class:`IndexBuckets`, which every write keeps up to date (put, delete, update, a transaction's undo).
  Set ``DEVSTACK_CHECK_INDEXES=1`` and each index query also scans the table and fails loudly if the two
  ever differ (the test suite runs so).
- moto's ``TransactWriteItems`` deep-copies every table it touches before applying anything, to roll
  back on failure, and those copies are tracked too: each transaction costs time and memory in
  proportion to the whole table. :func:`transact_write_items` keeps an undo log instead: before each
  item is written, a copy of that item as it was (or the fact that it was absent); on cancellation the
  log is replayed backwards. Conditions, all-or-nothing, cancellation reasons and the errors raised are
  moto's own: the body below is moto 5.2's with the backup replaced.

- Change capture: moto keeps every stream record of a table with a stream in a list that never shrinks
  (and writes a record even for the writes of a transaction it then rolls back). :func:`listen` hands
  each table's changes to the local stack as they happen instead (its stream pump feeds the notifier),
  keeps nothing, and delivers a transaction's records only once it commits. moto's own
  ``GetRecords`` therefore sees no records: nothing of ours reads the stream through the API.

:func:`install` applies all of them, once per process; the emulator calls it when it starts.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.common_models import BaseModel
from moto.core.model_instances import model_data
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, StreamShard, Table

_installed = False
_lock = threading.Lock()

UndoEntry = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def stop_tracking_models() -> None:
    BaseModel.__new__ = _untracked_new  # type: ignore[method-assign]
    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = []  # type: ignore[attr-defined]


def _key_values(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _restore(undo: list[UndoEntry]) -> None:
    for table, hash_value, range_value, before in reversed(undo):
        _restore_one(table, hash_value, range_value, before)
        _reindex(table, hash_value, range_value)


def _restore_one(
    table: Table, hash_value: DynamoType, range_value: DynamoType | None, before: Item | None
) -> None:
    if range_value is not None:
        if before is None:
            table.items[hash_value].pop(range_value, None)
        else:
            table.items[hash_value][range_value] = before
    elif before is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = before  # type: ignore[assignment]


def _key_of(self: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    attrs = op["Item"]
    table = self.get_table(op["TableName"])
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _write(self: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    expressions: dict[str, Any] = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        self.put_item(op["TableName"], op["Item"], **expressions)
    elif op_type == "Delete":
        self.delete_item(op["TableName"], key, **expressions)
    elif op_type == "Update":
        self.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **expressions)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's transaction with an undo log; its stream records are delivered once it has committed."""
    _pending.records = []
    try:
        _transact_write_items(self, transact_items)
        committed = _pending.records
    finally:
        _pending.records = None
    for listeners, record in committed:
        _dispatch(listeners, record)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo: list[UndoEntry] = []
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            return_on_failure = op.get("ReturnValuesOnConditionCheckFailure")
            key = _key_of(self, op_type, op)
            check_unicity(table_name, key)
            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if return_on_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                hash_value, range_value = _key_values(table, key)
                undo.append((table, hash_value, range_value, copy.deepcopy(current)))
            _write(self, op_type, op, key)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _restore(undo)
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # moto reports any other failure as a cancellation reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        _restore(undo)
        raise TransactionCanceledException(errors)


_original_query = Table.query
_QUERY_SIGNATURE = inspect.signature(_original_query)
_original_put_item = DynamoDBBackend.put_item
_original_delete_item = DynamoDBBackend.delete_item
_original_update_item = DynamoDBBackend.update_item

ItemKey = tuple[DynamoType, DynamoType | None]


def _unsorted_items(table: Table) -> list[Item]:
    if not table.range_key_attr:
        return list(table.items.values())  # type: ignore[arg-type]
    return [item for partition in table.items.values() for item in partition.values()]


class IndexBuckets:
    """For each global secondary index with one hash key attribute: its items by that attribute's value."""

    def __init__(self, table: Table) -> None:
        self.hash_attrs: dict[str, str] = {}
        for index in table.global_indexes or []:
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            if len(hashes) == 1:
                self.hash_attrs[index.name] = hashes[0]
        self.buckets: dict[str, dict[DynamoType, dict[ItemKey, Item]]] = {n: {} for n in self.hash_attrs}
        self.placed: dict[ItemKey, dict[str, DynamoType]] = {}
        for item in _unsorted_items(table):
            self.place((item.hash_key, item.range_key), item)

    def place(self, key: ItemKey, item: Item | None) -> None:
        for name, value in self.placed.pop(key, {}).items():
            bucket = self.buckets[name].get(value)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self.buckets[name][value]
        if item is None:
            return
        placed: dict[str, DynamoType] = {}
        for name, attr in self.hash_attrs.items():
            found = item.attrs.get(attr)
            if found is not None:
                self.buckets[name].setdefault(found, {})[key] = item
                placed[name] = found
        if placed:
            self.placed[key] = placed


def _buckets(table: Table) -> IndexBuckets:
    found: IndexBuckets | None = getattr(table, "_devstack_buckets", None)
    if found is None:
        found = IndexBuckets(table)
        table._devstack_buckets = found  # type: ignore[attr-defined]
    return found


def _reindex(table: Table, hash_value: DynamoType, range_value: DynamoType | None) -> None:
    if getattr(table, "_devstack_buckets", None) is None:
        return  # built on the first index query, from the items as they are then
    has_key = range_value is not None or not table.range_key_attr
    current = table.get_item(hash_value, range_value) if has_key else None
    table._devstack_buckets.place((hash_value, range_value), current)  # type: ignore[attr-defined]


def _reindex_key(self: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> None:
    table = self.get_table(table_name)
    try:
        hash_value, range_value = _key_values(table, key)
    except KeyError:
        return  # moto refused it for a missing key attribute: nothing was written
    _reindex(table, hash_value, range_value)


def put_item(
    self: DynamoDBBackend, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    try:
        return _original_put_item(self, table_name, item_attrs, *args, **kwargs)
    finally:
        _reindex_key(self, table_name, item_attrs)


def delete_item(
    self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    try:
        return _original_delete_item(self, table_name, key, *args, **kwargs)
    finally:
        _reindex_key(self, table_name, key)


def update_item(
    self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    try:
        return _original_update_item(self, table_name, key, *args, **kwargs)
    finally:
        _reindex_key(self, table_name, key)


def _index_hash_value(buckets: IndexBuckets, index_name: str, arguments: dict[str, Any]) -> DynamoType | None:
    attr = buckets.hash_attrs.get(index_name)
    if attr is None:
        return None
    for name, value in arguments.get("hash_key_conditions") or []:
        if name == attr:
            return value  # type: ignore[no-any-return]
    hash_key = arguments.get("hash_key")
    return hash_key if isinstance(hash_key, DynamoType) else None


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
    candidates: list[Item]
    if index_name is None and hash_key is not None and self.range_key_attr:
        partition = self.items.get(hash_key)  # .get: items is a defaultdict, a miss must not add to it
        candidates = list(partition.values()) if partition else []
    elif index_name is not None:
        buckets = _buckets(self)
        value = _index_hash_value(buckets, index_name, {**bound.arguments, **bound.kwargs})
        if value is None:
            candidates = _unsorted_items(self)
        else:
            candidates = list(buckets.buckets[index_name].get(value, {}).values())
            if os.environ.get("DEVSTACK_CHECK_INDEXES") == "1":
                attr = buckets.hash_attrs[index_name]
                scanned = {
                    id(i)
                    for i in _unsorted_items(self)
                    if (v := i.attrs.get(attr)) is not None and v == value
                }
                if scanned != {id(i) for i in candidates}:
                    raise AssertionError(f"index {index_name} of {self.name} is out of date for {value!r}")
    else:
        candidates = _unsorted_items(self)
    self.all_items = lambda: candidates  # type: ignore[method-assign]
    try:
        return _original_query(*bound.args, **bound.kwargs)
    finally:
        del self.all_items


# ---- change capture ----------------------------------------------------------------------------------
ChangeListener = Callable[[dict[str, Any]], None]  # one stream record, as DynamoDB Streams shapes it
_listeners: dict[str, list[ChangeListener]] = {}
_listeners_lock = threading.Lock()
_pending = threading.local()  # the records of the transaction under way on this thread
_sequence = itertools.count(1_000_000_000_000_000_000_000)


def listen(table_name: str, listener: ChangeListener) -> Callable[[], None]:
    """Call ``listener`` with each change of ``table_name`` (a table with a stream); returns the undo."""
    with _listeners_lock:
        _listeners.setdefault(table_name, []).append(listener)

    def stop() -> None:
        with _listeners_lock:
            found = _listeners.get(table_name, [])
            if listener in found:
                found.remove(listener)

    return stop


def _stream_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    listeners = list(_listeners.get(self.table.name, ()))
    if not listeners:
        return  # nobody listens: keep nothing (moto would keep every record forever)
    event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    view = (self.table.stream_specification or {}).get("StreamViewType", "NEW_AND_OLD_IMAGES")
    record = StreamRecord(self.table, view, event, old, new, next(_sequence)).to_json()
    record["dynamodb"]["ApproximateCreationDateTime"] = int(time.time())
    record["eventSourceARN"] = f"{self.table.table_arn}/stream/{self.table.latest_stream_label}"
    buffered = getattr(_pending, "records", None)
    if buffered is not None:
        buffered.append((listeners, record))
    else:
        _dispatch(listeners, record)


def _dispatch(listeners: list[ChangeListener], record: dict[str, Any]) -> None:
    for listener in listeners:
        listener(record)


def install() -> None:
    global _installed  # noqa: PLW0603 - once per process
    with _lock:
        if _installed:
            return
        stop_tracking_models()
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]
        DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
        DynamoDBBackend.delete_item = delete_item  # type: ignore[method-assign]
        DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
        StreamShard.add = _stream_add  # type: ignore[method-assign]
        _installed = True
