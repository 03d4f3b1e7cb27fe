"""The embedded AWS emulator: the project's serialized moto server (``devstack.emulator``)."""

from __future__ import annotations

from typing import Any, Protocol


class Emulator(Protocol):
    @property
    def endpoint_url(self) -> str: ...
    def start(self) -> Any: ...
    def stop(self) -> None: ...


def new_emulator(host: str = "127.0.0.1", port: int = 0) -> Emulator:
    # Imported when needed: moto takes a second to import, and the resolver and its tests do not need it.
    from devstack.emulator import SerializedMotoServer

    return SerializedMotoServer(host=host, port=port)
