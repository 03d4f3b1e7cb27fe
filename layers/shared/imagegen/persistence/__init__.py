"""The DynamoDB adapter: every repository port of :mod:`imagegen.ports` on one PynamoDB table.

This package is the only code that knows about PynamoDB, botocore's DynamoDB errors and the
table's key formats (see ``docs/data-model.md``). Build the set with :func:`build_repositories`.

Its names load on first use: importing a light submodule (``persistence.idempotency``) must not
import PynamoDB and botocore at a function's init.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagegen.persistence.repositories import (
        DynamoEphemeralStore,
        DynamoImageRepository,
        DynamoLedgerRepository,
        DynamoPurchaseRepository,
        DynamoUserRepository,
        Repositories,
        build_repositories,
    )

__all__ = [
    "DynamoEphemeralStore",
    "DynamoImageRepository",
    "DynamoLedgerRepository",
    "DynamoPurchaseRepository",
    "DynamoUserRepository",
    "Repositories",
    "build_repositories",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from imagegen.persistence import repositories

        return getattr(repositories, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
