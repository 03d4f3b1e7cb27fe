"""Live updates: who is connected (the WebSocket's ``$connect``/``$disconnect``), and what the table's
stream tells each of them (the notifier), plus the CDN's invalidation of deleted images' renditions.

Pushing is best effort by design: a message that cannot be sent is logged and dropped, never retried
(a retried stream batch would send every other message twice). Clients treat messages as hints that
carry the current state (the whole image, the balance after the change), and refetch on reconnect;
the web app falls back to polling whenever its socket is down.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen.errors import Unauthorized
from imagegen.models import Export, Image
from imagegen.observability import logger
from imagegen.ports import CdnInvalidator, Change, Clock, ConnectionRepository, Pusher
from imagegen.storage.keys import THUMBNAIL_EXTENSION, THUMBNAIL_NAMES

if TYPE_CHECKING:
    from imagegen.services.accounts import AccountService

# API Gateway closes a WebSocket connection after two hours whatever happens.
CONNECTION_TTL_SECONDS = 2 * 60 * 60
# CloudFront takes at most 3,000 paths per invalidation (non-wildcard).
MAX_INVALIDATION_PATHS = 3000


@dataclass(frozen=True)
class Delivery:
    messages: int = 0
    sent: int = 0
    gone: int = 0
    failed: int = 0
    invalidated: int = 0


def messages_of(
    change: Change, *, render_export: Callable[[Export], dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """What the change's user is told: the contract's message shapes. An export is rendered as the API
    answers it (``render_export``: with its signed download URL once COMPLETED)."""
    if change.image is not None:
        return [{"type": "image.updated", "image": change.image.to_json()}]
    if change.entry is not None:
        return [
            {"type": "balance.changed", "coins": change.entry.balance_after, "entry": change.entry.to_json()}
        ]
    if change.export is not None:
        rendered = render_export(change.export) if render_export else change.export.to_json()
        return [{"type": "export.updated", "export": rendered}]
    if change.purchase is not None:
        return [{"type": "purchase.updated", "purchase": change.purchase.to_json()}]
    return []


def rendition_paths(image: Image) -> list[str]:
    """The CDN paths of an image's renditions, from its small rendition's key (the other sizes share
    that key but for the size: ``...-256.webp`` and ``...-1024.webp``)."""
    key = image.thumbnail_key
    if not key:
        return []
    small = f"-{THUMBNAIL_NAMES[0]}.{THUMBNAIL_EXTENSION}"
    if not key.endswith(small):
        return ["/" + key]
    stem = key[: -len(small)]
    return [f"/{stem}-{name}.{THUMBNAIL_EXTENSION}" for name in THUMBNAIL_NAMES]


class LiveService:
    def __init__(
        self,
        *,
        accounts: AccountService,
        connections: ConnectionRepository,
        pusher: Pusher,
        clock: Clock,
        cdn: CdnInvalidator | None = None,
        render_export: Callable[[Export], dict[str, Any]] | None = None,
    ) -> None:
        self.accounts = accounts
        self.connections = connections
        self.pusher = pusher
        self.clock = clock
        self.cdn = cdn
        self.render_export = render_export

    # ---- the socket's routes ---------------------------------------------------------------
    def connect(self, connection_id: str, token: str | None) -> str:
        """Record the connection of the session ``token``'s user; :class:`Unauthorized` refuses it."""
        if not token:
            raise Unauthorized("A session token is required (?token=...).")
        principal = self.accounts.authenticate(f"Bearer {token}")
        expires_at = min(int(self.clock.time()) + CONNECTION_TTL_SECONDS, principal.expires_at)
        self.connections.add(principal.user_id, connection_id, expires_at=expires_at)
        return principal.user_id

    def disconnect(self, connection_id: str) -> None:
        owner = self.connections.owner(connection_id, now=int(self.clock.time()))
        if owner is not None:
            self.connections.remove(owner, connection_id)

    # ---- the stream ------------------------------------------------------------------------
    def deliver(self, changes: Iterable[Change], *, reference: str = "") -> Delivery:
        """Push each change to its user's open sockets, in order; invalidate deleted renditions."""
        by_user: dict[str, list[dict[str, Any]]] = {}
        paths: list[str] = []
        for change in changes:
            messages = messages_of(change, render_export=self.render_export)
            if messages:
                by_user.setdefault(change.user_id, []).extend(messages)
            if change.removed_image is not None:
                paths.extend(rendition_paths(change.removed_image))
        # First: a failure here fails the batch before anything was pushed, so its retry pushes once.
        invalidated = self._invalidate(paths, reference)
        sent = gone = failed = 0
        now = int(self.clock.time())
        for user_id, messages in by_user.items():
            for connection_id in self.connections.find_by_user(user_id, now=now):
                outcome = self._send_all(connection_id, messages)
                sent += outcome[0]
                failed += outcome[2]
                if outcome[1]:
                    gone += 1
                    self.connections.remove(user_id, connection_id)
        return Delivery(
            messages=sum(len(m) for m in by_user.values()),
            sent=sent,
            gone=gone,
            failed=failed,
            invalidated=invalidated,
        )

    def _send_all(self, connection_id: str, messages: list[dict[str, Any]]) -> tuple[int, bool, int]:
        sent = failed = 0
        for message in messages:
            try:
                if not self.pusher.push(connection_id, json.dumps(message).encode("utf-8")):
                    return sent, True, failed
                sent += 1
            except Exception:
                failed += 1
                logger.exception("could not push a live update", extra={"connection_id": connection_id})
        return sent, False, failed

    def _invalidate(self, paths: list[str], reference: str) -> int:
        if self.cdn is None or not paths:
            return 0
        unique = list(dict.fromkeys(paths))
        for start in range(0, len(unique), MAX_INVALIDATION_PATHS):
            batch = unique[start : start + MAX_INVALIDATION_PATHS]
            # The same stream batch, retried, makes the same reference: CloudFront does it once.
            digest = hashlib.sha256("\n".join([reference, *batch]).encode()).hexdigest()[:32]
            self.cdn.invalidate(batch, reference=f"imagegen-{digest}")
        return len(unique)


Decoder = Callable[[Iterable[dict[str, Any]]], list[Change]]
