"""Entity classes bound to one table, and the connection they share.

:func:`bind` makes subclasses of the entity templates of :mod:`imagegen.persistence.items` pointing
at one table name, so the name is resolved when repositories are built (from settings or a test),
never frozen at import, and two tables can be used side by side in one process. All entities of a
table share one :class:`TableConnection` and all tables share one botocore client per process:
clients are slow to build and safe to share between threads once built.

``Meta.host`` is deliberately never set: botocore resolves ``AWS_ENDPOINT_URL_DYNAMODB`` /
``AWS_ENDPOINT_URL`` itself, which is how tests and the local stack reach the emulator.
"""

from __future__ import annotations

import contextlib
import os
import threading
import types
from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection, TableConnection

from imagegen.persistence.items import (
    CollectionItem,
    ConnectionItem,
    EphemeralItem,
    ExportCounterItem,
    ExportItem,
    ExportManifestItem,
    ImageItem,
    Item,
    LedgerItem,
    MembershipItem,
    OperationItem,
    PaymentEventItem,
    PaymentIntentAliasItem,
    PurchaseItem,
    ShareTokenItem,
    StorageAliasItem,
    UniqueGuardItem,
    UserItem,
)


@dataclass(frozen=True)
class TableModels:
    """The entity classes of one table, plus the connection its transactions use."""

    table_name: str
    item: type[Item]
    user: type[UserItem]
    guard: type[UniqueGuardItem]
    alias: type[StorageAliasItem]
    operation: type[OperationItem]
    image: type[ImageItem]
    ledger: type[LedgerItem]
    ephemeral: type[EphemeralItem]
    live_connection: type[ConnectionItem]
    export: type[ExportItem]
    export_manifest: type[ExportManifestItem]
    export_counter: type[ExportCounterItem]
    connection: Connection
    purchase: type[PurchaseItem]
    payment_event: type[PaymentEventItem]
    payment_intent: type[PaymentIntentAliasItem]
    collection: type[CollectionItem]
    membership: type[MembershipItem]
    share: type[ShareTokenItem]


_lock = threading.Lock()
_bound: dict[tuple[str, tuple[str, ...]], TableModels] = {}
_connections: dict[tuple[str, ...], Connection] = {}

# Enough pooled HTTP connections for a Lambda's threads and the concurrency tests.
_MAX_POOL_CONNECTIONS = 64


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def environment_key() -> tuple[str, ...]:
    # A client reads its endpoint and region once; a changed environment needs a new client.
    return (
        _region(),
        os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", ""),
        os.environ.get("AWS_ENDPOINT_URL", ""),
    )


def _shared_connection(env_key: tuple[str, ...]) -> Connection:
    connection = _connections.get(env_key)
    if connection is None:
        connection = Connection(
            region=env_key[0],
            connect_timeout_seconds=5,
            read_timeout_seconds=10,
            max_pool_connections=_MAX_POOL_CONNECTIONS,
        )
        # Build the botocore client now, under the lock: client creation is not thread-safe.
        _ = connection.client
        _connections[env_key] = connection
    return connection


def _subclass[M: Item](template: type[M], table_name: str, region: str) -> type[M]:
    meta = type(
        "Meta",
        (),
        {"table_name": table_name, "region": region, "max_pool_connections": _MAX_POOL_CONNECTIONS},
    )
    bound = types.new_class(template.__name__, (template,), {}, lambda ns: ns.update(Meta=meta))
    bound.__module__ = template.__module__
    return bound


def bind(table_name: str) -> TableModels:
    """Entity classes bound to ``table_name``; cached, so binding again is cheap."""
    if not table_name:
        raise ValueError("a table name is required")
    env_key = environment_key()
    with _lock:
        cached = _bound.get((table_name, env_key))
        if cached is not None:
            return cached
        connection = _shared_connection(env_key)
        region = env_key[0]
        base = _subclass(Item, table_name, region)
        table_connection: TableConnection = base._get_connection()
        meta_table = table_connection.get_meta_table()
        table_connection.connection = connection
        # ValueError: the same table was bound before under another environment key.
        with contextlib.suppress(ValueError):
            connection.add_meta_table(meta_table)
        classes: dict[str, Any] = {}
        for name, template in (
            ("user", UserItem),
            ("guard", UniqueGuardItem),
            ("alias", StorageAliasItem),
            ("operation", OperationItem),
            ("image", ImageItem),
            ("ledger", LedgerItem),
            ("ephemeral", EphemeralItem),
            ("purchase", PurchaseItem),
            ("payment_event", PaymentEventItem),
            ("payment_intent", PaymentIntentAliasItem),
            ("live_connection", ConnectionItem),
            ("export", ExportItem),
            ("export_manifest", ExportManifestItem),
            ("export_counter", ExportCounterItem),
            ("collection", CollectionItem),
            ("membership", MembershipItem),
            ("share", ShareTokenItem),
        ):
            cls = _subclass(template, table_name, region)
            cls._connection = table_connection
            classes[name] = cls
        models = TableModels(table_name=table_name, item=base, connection=connection, **classes)
        _bound[(table_name, env_key)] = models
        return models
