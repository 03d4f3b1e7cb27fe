"""The embedded AWS emulator: moto's server on loopback, DynamoDB requests one at a time.

``imagegen.devtools.emulator.SerializedMotoServer`` is the project's shared emulator and is used when it
exists; the class below is a minimal stand-in with the same interface so the local stack does not depend
on it being there.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast


class Emulator(Protocol):
    @property
    def endpoint_url(self) -> str: ...
    def start(self) -> Any: ...
    def stop(self) -> None: ...


def new_emulator(host: str = "127.0.0.1", port: int = 0) -> Emulator:
    try:
        module = importlib.import_module("imagegen.devtools.emulator")
        factory = cast(Callable[..., Emulator], module.SerializedMotoServer)
    except (ImportError, AttributeError):
        factory = SerializedMotoServer
    return factory(host=host, port=port)


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedMotoServer:
    """moto's server in a thread; DynamoDB calls are serialized because moto's tables are not thread-safe
    (concurrent TransactWriteItems could both pass a condition check)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._dynamodb_lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> SerializedMotoServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        dispatcher = cast(WsgiApp, DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host,
            self._port,
            self._serialized(dispatcher),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self

    def _serialized(self, app: WsgiApp) -> WsgiApp:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
                with self._dynamodb_lock:
                    return list(app(environ, start_response))
            return app(environ, start_response)

        return wsgi

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
