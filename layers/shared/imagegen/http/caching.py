"""HTTP caching of JSON responses: strong ETags, ``If-None-Match`` and ``Cache-Control``.

A route declared with ``etag=True`` answers with a strong ETag computed from the exact body it
sends, so the tag changes exactly when the representation does (an image's status, a balance); a
request whose ``If-None-Match`` lists it gets ``304 Not Modified`` without a body. The handler still
runs (it is the authority on the representation): what a 304 saves is the transfer and the client's
re-render, not the read.
"""

from __future__ import annotations

import base64
import hashlib

# Every signed-in answer may be kept only by the caller's own browser, and revalidated before use.
PRIVATE = "private, no-cache"
# Public answers that are the same for everyone: shared caches and CDNs may keep them a minute.
PUBLIC_MINUTE = "public, max-age=60"
_MAX_IF_NONE_MATCH = 4096


def strong_etag(body: str) -> str:
    """A strong validator for ``body``: a quoted, URL-safe SHA-256 prefix (128 bits)."""
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()[:16]
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=") + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: ``*`` or any listed tag equal under the weak comparison (``W/`` ignored)."""
    if not if_none_match or len(if_none_match) > _MAX_IF_NONE_MATCH:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    if "*" in candidates:
        return True
    return any(candidate.removeprefix("W/") == etag for candidate in candidates)
