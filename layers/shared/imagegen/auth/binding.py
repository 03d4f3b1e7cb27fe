"""Binding a sign-in to the browser that started it (no login CSRF, no session swap).

``state`` alone lives on the server: anyone holding a callback URL (``?code=...&state=...``) could make
another browser finish that sign-in and be signed in to the account that started it. So
``/auth/google/login`` also gives the browser a cookie carrying the SHA-256 (hex) of the state, and
``/auth/google/callback`` accepts the state only from a browser that carries that digest. The check
comes before the state is used up, so a refused callback leaves the flow to the browser that owns it.

The cookie: ``HttpOnly``, ``SameSite=Lax`` (sent on the top-level GET that Google's redirect is, and on
no cross-site subrequest), ``Path=/auth``, ``Max-Age`` the state's lifetime, and ``Secure`` unless the
API is the local stack (see :func:`needs_secure`). It holds a digest, never the state itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import urllib.parse
from collections.abc import Iterable

COOKIE_NAME = "imagegen_signin"
COOKIE_PATH = "/auth"
_LOCAL_NAMES = frozenset({"localhost"})


def state_digest(state: str) -> str:
    """What the browser carries for ``state``: its SHA-256, hex."""
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def cookie_values(cookies: Iterable[str]) -> list[str]:
    """The values of every :data:`COOKIE_NAME` cookie among request cookies (``name=value`` strings,
    as API Gateway's payload 2.0 lists them; a ``a=1; b=2`` string is split too)."""
    found: list[str] = []
    for entry in cookies:
        for part in str(entry).split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name.strip() == COOKIE_NAME:
                found.append(value.strip().strip('"'))
    return found


def is_bound(cookies: Iterable[str], state: str) -> bool:
    """True when the request carries this state's digest (compared in constant time)."""
    expected = state_digest(state).encode("ascii")
    matched = False
    for value in cookie_values(cookies):
        # Compare every candidate, so the time taken does not tell which one (if any) matched.
        matched |= hmac.compare_digest(value.encode("utf-8", "surrogatepass"), expected)
    return matched


def needs_secure(url: str) -> bool:
    """``Secure`` everywhere but the local stack: False only for an ``http://`` URL whose host is a
    loopback or unspecified address or ``localhost`` (where the local stack runs). Any other
    ``http://`` URL still gets ``Secure``: a browser then drops the cookie and sign-in fails closed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "http":
        return True
    host = (parts.hostname or "").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)
