"""Opaque, tamper-evident page cursors.

A cursor is ``base64url(json(LastEvaluatedKey)) "." base64url(HMAC-SHA256(key, scope "\\n" payload))``.
The scope names the list it belongs to (``images:user:{uid}:type:{t}:status:{s}``), so a cursor of
another user or of another list fails the MAC exactly like a forged one. After the MAC, the key's
shape is checked too (the attribute names of the queried index, string values, the expected
partition), so that even a leaked signing key could not point a query at another partition.

A list merged from several partitions (the admin's image lists, spread over write shards) carries its
position in each partition instead: ``encode_state``/``decode_state``, same MAC, same checks by the
caller (``imagegen.persistence.sharded``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from imagegen.errors import InvalidCursor, ValidationError

MAX_CURSOR_LENGTH = 4096
MIN_LIMIT = 1
MAX_LIMIT = 100

RawKey = dict[str, dict[str, str]]


def validate_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise ValidationError.single("limit", f"must be an integer from {MIN_LIMIT} to {MAX_LIMIT}")
    return limit


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError("the cursor key must be at least 16 bytes")
        self._key = key

    def _mac(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode("utf-8") + b"\n" + payload, hashlib.sha256).digest()

    def encode(self, scope: str, last_key: Mapping[str, Mapping[str, Any]]) -> str:
        payload = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(scope, payload))}"

    def decode(
        self,
        scope: str,
        cursor: str,
        *,
        key_names: Sequence[str],
        partition: tuple[str, str] | None = None,
    ) -> RawKey:
        """The LastEvaluatedKey inside ``cursor``; InvalidCursor for anything not minted for ``scope``.

        ``partition`` is (attribute, value) that the key must carry: the queried partition.
        """
        return _checked_key(self.decode_state(scope, cursor), key_names, partition)

    def encode_state(self, scope: str, state: Mapping[str, Any]) -> str:
        """A cursor carrying any JSON object (a merged list's position in each of its partitions)."""
        payload = json.dumps(state, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(scope, payload))}"

    def decode_state(self, scope: str, cursor: str) -> object:
        """The JSON value inside ``cursor`` once its MAC for ``scope`` checks; InvalidCursor otherwise.
        The caller checks its shape."""
        if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor()
        body, dot, mac_text = cursor.partition(".")
        if not dot or not body or not mac_text:
            raise InvalidCursor()
        try:
            payload = _b64decode(body)
            mac = _b64decode(mac_text)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise InvalidCursor() from None
        if not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise InvalidCursor()
        try:
            decoded: object = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise InvalidCursor() from None
        return decoded


def _checked_key(decoded: object, key_names: Sequence[str], partition: tuple[str, str] | None) -> RawKey:
    if not isinstance(decoded, dict) or set(decoded) != set(key_names):
        raise InvalidCursor()
    key: RawKey = {}
    for name, value in decoded.items():
        if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
            raise InvalidCursor()
        key[name] = {"S": value["S"]}
    if partition is not None and key[partition[0]]["S"] != partition[1]:
        raise InvalidCursor()
    return key
