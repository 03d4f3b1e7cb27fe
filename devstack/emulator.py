"""An in-process AWS emulator (moto's server) on loopback, with DynamoDB requests serialized.

moto evaluates a conditional write and applies it in separate steps without a lock, so under
concurrent requests two writers can both pass the same condition (a balance was driven below
zero by 20 threads). Real DynamoDB makes each request atomic. Holding one lock around every
DynamoDB request restores that guarantee; other services (S3, SQS) stay concurrent.

Usage::

    with SerializedMotoServer() as emulator:
        os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint_url
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, body included; everything else passes."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            self._enter()
            try:
                result = self._app(environ, start_response)
                try:
                    # Drain inside the lock: the response is produced lazily by some apps.
                    return [b"".join(result)]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            finally:
                self._leave()

    def _enter(self) -> None:
        with self._stats_lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._stats_lock:
            self.in_flight -= 1


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Per-request access lines would drown test and local-stack output."""


class SerializedMotoServer:
    """moto's server on ``host``:``port`` (0 picks a free port) in a daemon thread.

    ``serialize_dynamodb=False`` gives plain moto, only to demonstrate why the lock exists; ``wrap`` puts
    WSGI middleware in front of it (the local stack's object-response headers).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        serialize_dynamodb: bool = True,
        wrap: Callable[[WsgiApp], WsgiApp] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._serialize = serialize_dynamodb
        self._wrap = wrap
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.dynamodb_gate: SerializedDynamoDB | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> SerializedMotoServer:
        if self._server is not None:
            return self
        from devstack import moto_fixes

        moto_fixes.install()  # flat memory, and transactions that do not copy the table
        app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        if self._serialize:
            self.dynamodb_gate = SerializedDynamoDB(app)
            app = self.dynamodb_gate
        if self._wrap is not None:
            app = self._wrap(app)
        server = make_server(self._host, self._port, app, threaded=True, request_handler=_QuietHandler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        log.info("AWS emulator listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> SerializedMotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
