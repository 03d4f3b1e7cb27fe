"""The set of DynamoDB repositories on one table: :func:`build_repositories`."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from imagegen.persistence.binding import TableModels, bind
from imagegen.persistence.collections import DynamoCollectionRepository
from imagegen.persistence.connections import DynamoConnectionRepository
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.ephemeral import DynamoEphemeralStore
from imagegen.persistence.exports import DynamoExportRepository
from imagegen.persistence.images import DynamoImageRepository
from imagegen.persistence.ledger import DynamoLedgerRepository
from imagegen.persistence.purchases import DynamoPurchaseRepository
from imagegen.persistence.users import DynamoUserRepository
from imagegen.settings import get_settings

log = logging.getLogger(__name__)

_process_cursor_key: bytes | None = None


@dataclass(frozen=True)
class Repositories:
    users: DynamoUserRepository
    images: DynamoImageRepository
    ledger: DynamoLedgerRepository
    ephemeral: DynamoEphemeralStore
    connections: DynamoConnectionRepository
    models: TableModels
    purchases: DynamoPurchaseRepository
    exports: DynamoExportRepository
    collections: DynamoCollectionRepository


def _default_cursor_key() -> bytes:
    """A key derived from SESSION_SIGNING_KEY, else one random key per process.

    A random key only suits a single process (tests, the local stack): cursors from another
    Lambda instance would be refused. Deployed callers pass ``cursor_key`` explicitly.
    """
    global _process_cursor_key  # noqa: PLW0603 - one fallback key per process is the point
    configured = get_settings().session_signing_key
    if configured:
        return hashlib.sha256(b"imagegen-cursor\x00" + configured.encode("utf-8")).digest()
    if _process_cursor_key is None:
        log.warning("no cursor key configured: using a per-process key")
        _process_cursor_key = secrets.token_bytes(32)
    return _process_cursor_key


def build_repositories(table_name: str | None = None, cursor_key: bytes | None = None) -> Repositories:
    models = bind(table_name or get_settings().table_name)
    codec = CursorCodec(cursor_key if cursor_key is not None else _default_cursor_key())
    return Repositories(
        users=DynamoUserRepository(models, codec),
        images=DynamoImageRepository(models, codec),
        ledger=DynamoLedgerRepository(models, codec),
        ephemeral=DynamoEphemeralStore(models),
        connections=DynamoConnectionRepository(models),
        models=models,
        purchases=DynamoPurchaseRepository(models, codec),
        exports=DynamoExportRepository(models, codec),
        collections=DynamoCollectionRepository(models, codec),
    )


__all__ = [
    "DynamoCollectionRepository",
    "DynamoEphemeralStore",
    "DynamoImageRepository",
    "DynamoLedgerRepository",
    "DynamoPurchaseRepository",
    "DynamoUserRepository",
    "Repositories",
    "build_repositories",
]
