"""Two fixes to moto's DynamoDB for a long-running emulator: memory that stays flat and transactions whose
cost does not grow with the table.

- moto records every model object it ever creates (``BaseModel.instances_tracked``, for its dashboard),
  items included, and never lets go of them: a stack that serves requests for a day grows without end.
  :func:`stop_tracking_models` makes new objects untracked and forgets the ones already recorded.
- moto's ``Query`` gathers every item of the table and sorts them all (``Table.all_items``) before it
  looks at the key, even on the table's own partition key: a query costs a sort of the whole table.
  :func:`query` hands the query only the partition it asks for (base table), or the items unsorted
  (an index: they are filtered and sorted by moto's own code right after).
- moto's ``TransactWriteItems`` deep-copies every table it touches before applying anything, to roll
  back on failure, and those copies are tracked too: each transaction costs time and memory in
  proportion to the whole table. :func:`transact_write_items` keeps an undo log instead: before each
  item is written, a copy of that item as it was (or the fact that it was absent); on cancellation the
  log is replayed backwards. Conditions, all-or-nothing, cancellation reasons and the errors raised are
  moto's own: the body below is moto 5.2's with the backup replaced.

:func:`install` applies all three, once per process; the emulator calls it when it starts.
"""

from __future__ import annotations

import copy
import inspect
import threading
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
from moto.dynamodb.models.table import Table

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


def _unsorted_items(table: Table) -> list[Item]:
    if not table.range_key_attr:
        return list(table.items.values())  # type: ignore[arg-type]
    return [item for partition in table.items.values() for item in partition.values()]


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
    if index_name is None and hash_key is not None and self.range_key_attr:
        partition = self.items.get(hash_key)  # .get: items is a defaultdict, a miss must not add to it
        candidates = list(partition.values()) if partition else []
    else:
        candidates = _unsorted_items(self)
    self.all_items = lambda: candidates  # type: ignore[method-assign]
    try:
        return _original_query(*bound.args, **bound.kwargs)
    finally:
        del self.all_items


def install() -> None:
    global _installed  # noqa: PLW0603 - once per process
    with _lock:
        if _installed:
            return
        stop_tracking_models()
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]
        _installed = True
