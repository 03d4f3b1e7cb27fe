"""The small HTTP surface the sign-in flow needs: a form POST to the token endpoint and a JSON GET
for the JWKS. A Protocol, so tests serve both from an in-process fake and production uses urllib
(no extra dependency in the layer, nothing imported that the other functions would pay for).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

# Google's token and JWKS answers are a few KiB; anything far larger is not something we want to parse.
MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 5.0


class TransportError(Exception):
    """The remote end could not be reached or did not answer in time (worth retrying later)."""


class HttpTransport(Protocol):
    def post_form(self, url: str, data: Mapping[str, str]) -> tuple[int, Any]:
        """POST ``application/x-www-form-urlencoded``; returns the status and the parsed JSON body
        (``None`` when the body is not JSON). HTTP error statuses are returned, not raised."""
        ...

    def get_json(self, url: str) -> Any:
        """GET and parse JSON. A non-2xx status or an unreachable host raises :class:`TransportError`."""
        ...


def _check_url(url: str) -> None:
    # urllib would also open file:// and ftp:// URLs; settings come from the environment, but a typo
    # there must not turn into reading local files.
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise TransportError(f"refusing a non-HTTP URL scheme {scheme!r}")


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class UrllibTransport:
    """Production transport on the standard library. urllib follows redirects but never re-sends a
    POST body to the new location, so the client secret cannot be forwarded by a redirect."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout

    def _open(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - scheme checked by the caller
                return int(response.status), response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), exc.read(MAX_RESPONSE_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            # The reason names the host and errno only; no request data is included.
            raise TransportError(f"{request.get_method()} {_origin(request.full_url)} failed: {exc}") from exc

    def post_form(self, url: str, data: Mapping[str, str]) -> tuple[int, Any]:
        _check_url(url)
        body = urllib.parse.urlencode(dict(data)).encode("ascii")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        status, raw = self._open(request)
        if len(raw) > MAX_RESPONSE_BYTES:
            raise TransportError(f"POST {_origin(url)} answered with an oversized body")
        return status, _parse(raw)

    def get_json(self, url: str) -> Any:
        _check_url(url)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        status, raw = self._open(request)
        if not 200 <= status < 300:
            raise TransportError(f"GET {_origin(url)} answered {status}")
        if len(raw) > MAX_RESPONSE_BYTES:
            raise TransportError(f"GET {_origin(url)} answered with an oversized body")
        parsed = _parse(raw)
        if parsed is None:
            raise TransportError(f"GET {_origin(url)} did not answer JSON")
        return parsed


def _origin(url: str) -> str:
    """Scheme, host and path: enough to find the endpoint in a log, never a query string."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
