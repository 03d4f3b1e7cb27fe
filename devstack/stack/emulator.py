"""The embedded AWS emulator: the project's serialized moto server (``devstack.emulator``).

The browser reads objects straight from it (``storageUrl``, ``thumbnailUrl`` and the signed download URL
all point at the emulator), so this is where the local stack serves the bucket to the browser. moto honours
a signed GET's ``response-content-disposition`` and ``response-content-type`` as S3 does; every response also
gets ``X-Content-Type-Options: nosniff``, which S3 cannot send and a CDN response headers policy adds on AWS,
so no browser ever sniffs an object as HTML locally either.

moto accepts any presigned request as it comes; :class:`~devstack.stack.presigned.PresignedGuard` in front
of it enforces presigned POST policies and presigned URLs (expiry, signature, signed headers) as S3 does, so
an upload S3 would refuse fails locally too, with S3's XML error, and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

NOSNIFF = ("X-Content-Type-Options", "nosniff")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Emulator(Protocol):
    @property
    def endpoint_url(self) -> str: ...
    def start(self) -> Any: ...
    def stop(self) -> None: ...


class NoSniff:
    """WSGI middleware: ``X-Content-Type-Options: nosniff`` on every response, replacing any other value."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def with_nosniff(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(name, value) for name, value in headers if name.lower() != NOSNIFF[0].lower()]
            return start_response(status, [*kept, NOSNIFF], *exc_info)

        return self._app(environ, with_nosniff)


def new_emulator(host: str = "127.0.0.1", port: int = 0) -> Emulator:
    # Imported when needed: moto takes a second to import, and the resolver and its tests do not need it.
    from devstack.emulator import SerializedMotoServer
    from devstack.stack.presigned import PresignedGuard
    from devstack.stack.provision import FAKE_CREDENTIALS

    credentials = {FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]: FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}

    def wrap(app: WsgiApp) -> WsgiApp:
        return NoSniff(PresignedGuard(app, credentials))

    return SerializedMotoServer(host=host, port=port, wrap=wrap)
