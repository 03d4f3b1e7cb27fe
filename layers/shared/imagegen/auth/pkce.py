"""PKCE (RFC 7636) for the authorization-code flow: the verifier stays with us, only its hash travels.

Even if the authorization code leaks (browser history, a referrer, a proxy log), it cannot be
exchanged without the verifier, which never leaves the server-side state item.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

VERIFIER_MIN = 43
VERIFIER_MAX = 128
# RFC 7636 section 4.1: unreserved characters only.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def new_verifier() -> str:
    """A fresh code verifier: 64 random bytes, base64url without padding (86 characters)."""
    return secrets.token_urlsafe(64)


def is_valid_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.fullmatch(verifier))


def challenge_s256(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 section 4.2)."""
    if not is_valid_verifier(verifier):
        raise ValueError("a PKCE verifier is 43..128 characters of [A-Za-z0-9-._~]")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
