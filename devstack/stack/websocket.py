"""The template's WebSocket API on the local gateway (RFC 6455, standard library only), and the
connection management API that the application's ``apigatewaymanagementapi`` client calls.

As API Gateway does: the handshake invokes the ``$connect`` route's function with the request (its
query string carries the token), and a non-2xx answer refuses the handshake with that status; each
text message goes to the route its ``action`` names, or ``$default`` (whose answer, if any, is sent
back); closing invokes ``$disconnect``. ``POST /_local/ws/@connections/{id}`` sends a message to a
socket (``410 GoneException`` once it is closed), ``DELETE`` closes it, ``GET`` describes it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote

from devstack.stack.apigw import HttpRequest, HttpResponse, json_response
from devstack.stack.console import Console
from devstack.stack.runtime import InvocationResult
from devstack.stack.sam import WebSocketApi

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MANAGEMENT_PREFIX = "/_local/ws"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

Invoke = Callable[..., InvocationResult]


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")  # noqa: S324 - RFC 6455


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (a server's frames are never masked)."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def read_frame(stream: BinaryIO) -> tuple[bool, int, bytes] | None:
    """(fin, opcode, payload) of the next frame, or None at end of stream. Client frames must be masked."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
    masked, size = bool(head[1] & 0x80), head[1] & 0x7F
    if not masked:
        raise ProtocolError(1002, "client frames must be masked")
    if size == 126:
        size = struct.unpack("!H", _exactly(stream, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exactly(stream, 8))[0]
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(1009, "message too big")
    mask = _exactly(stream, 4)
    data = _exactly(stream, size)
    return fin, opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise ProtocolError(1006, "connection closed mid-frame")
    return data


@dataclass
class LiveSocket:
    id: str
    writer: BinaryIO
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False
    sock: socket.socket | None = None

    def send(self, opcode: int, payload: bytes) -> bool:
        with self.lock:
            if self.closed:
                return False
            try:
                self.writer.write(encode_frame(opcode, payload))
                self.writer.flush()
            except OSError:
                self.closed = True
                return False
        self.last_active_at = time.time()
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.send(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120]):
            with self.lock:
                self.closed = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


class WebSocketGateway:
    """The open sockets of one WebSocket API, and the two sides of it: clients and the management API."""

    def __init__(self, api: WebSocketApi, *, invoke: Invoke, console: Console, stage: str = "local") -> None:
        self.api = api
        self.invoke = invoke
        self.console = console
        self.stage = stage
        self.sockets: dict[str, LiveSocket] = {}
        self._lock = threading.Lock()

    # ---- clients ----------------------------------------------------------------------------
    def serve(self, handler: Any, request: HttpRequest) -> None:
        """Run one client connection on the gateway's request thread until it closes."""
        key = request.header("sec-websocket-key") or ""
        if request.header("sec-websocket-version") != "13" or not key:
            handler.close_connection = True
            handler._write(json_response(400, {"message": "a WebSocket handshake (version 13) is required"}))
            return
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode("ascii")
        connect = self._invoke("$connect", self._event(request, connection_id, "$connect", "CONNECT"))
        status = int(connect.get("statusCode", 500)) if isinstance(connect, dict) else 500
        if not 200 <= status < 300:
            handler.close_connection = True
            handler._write(
                json_response(status, {"message": "Forbidden" if status == 403 else "Unauthorized"})
            )
            self.console.line(f"WS {request.raw_path} {status} $connect refused")
            return
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept_key(key))
        handler.end_headers()
        handler.wfile.flush()
        live = LiveSocket(
            id=connection_id,
            writer=handler.wfile,
            source_ip=request.source_ip,
            user_agent=request.header("user-agent") or "",
            sock=handler.connection,
        )
        with self._lock:
            self.sockets[connection_id] = live
        self.console.line(f"WS {request.raw_path} 101 connected {connection_id}")
        try:
            self._read_loop(handler.rfile, live, request)
        finally:
            with self._lock:
                self.sockets.pop(connection_id, None)
            live.closed = True
            handler.close_connection = True
            self._invoke("$disconnect", self._event(request, connection_id, "$disconnect", "DISCONNECT"))
            self.console.line(f"WS {request.raw_path} closed {connection_id}")

    def _read_loop(self, reader: BinaryIO, live: LiveSocket, request: HttpRequest) -> None:
        parts: list[bytes] = []
        while not live.closed:
            try:
                frame = read_frame(reader)
            except ProtocolError as error:
                live.close(error.code, str(error))
                return
            except OSError:
                return
            if frame is None:
                return
            fin, opcode, payload = frame
            live.last_active_at = time.time()
            if opcode == OP_CLOSE:
                live.close(1000)
                return
            if opcode == OP_PING:
                live.send(OP_PONG, payload)
                continue
            if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                parts.append(payload)
                if sum(len(p) for p in parts) > MAX_MESSAGE_BYTES:
                    live.close(1009, "message too big")
                    return
                if fin:
                    self._message(live, request, b"".join(parts))
                    parts = []

    def _message(self, live: LiveSocket, request: HttpRequest, body: bytes) -> None:
        text = body.decode("utf-8", "replace")
        try:
            action = json.loads(text).get("action")
        except (ValueError, AttributeError):
            action = None
        route = action if isinstance(action, str) and action in self.api.routes else "$default"
        if route not in self.api.routes:
            return
        event = self._event(request, live.id, route, "MESSAGE", body=text)
        answer = self._invoke(route, event)
        if isinstance(answer, dict) and isinstance(answer.get("body"), str):
            live.send(OP_TEXT, answer["body"].encode("utf-8"))

    def _invoke(self, route: str, event: dict[str, Any]) -> Any:
        function = self.api.routes.get(route)
        if function is None:
            return {"statusCode": 200}
        outcome = self.invoke(function, event, timeout=29.0)
        if not outcome.ok:
            self.console.line(f"WS {route} -> failed ({outcome.describe()})")
            return {"statusCode": 500}
        return outcome.result

    def _event(
        self, request: HttpRequest, connection_id: str, route: str, kind: str, body: str | None = None
    ) -> dict[str, Any]:
        now = time.time()
        event: dict[str, Any] = {
            "requestContext": {
                "routeKey": route,
                "eventType": kind,
                "messageDirection": "IN",
                "stage": self.stage,
                "connectedAt": int(now * 1000),
                "requestTimeEpoch": int(now * 1000),
                "requestId": str(uuid.uuid4()),
                "extendedRequestId": str(uuid.uuid4()),
                "domainName": request.header("host") or "127.0.0.1",
                "connectionId": connection_id,
                "apiId": self.api.api_id,
                "identity": {"sourceIp": request.source_ip, "userAgent": request.header("user-agent") or ""},
            },
            "isBase64Encoded": False,
        }
        if kind == "CONNECT":
            query = parse_qs(request.raw_query, keep_blank_values=True)
            event["headers"] = {name: value for name, value in request.headers}
            event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
            event["multiValueQueryStringParameters"] = query or None
        if body is not None:
            event["body"] = body
        return event

    # ---- the management API ----------------------------------------------------------------
    def manage(self, request: HttpRequest) -> HttpResponse | None:
        path = unquote(request.raw_path)
        prefix = f"{MANAGEMENT_PREFIX}/@connections/"
        if not path.startswith(prefix):
            return None
        connection_id = path[len(prefix) :]
        with self._lock:
            live = self.sockets.get(connection_id)
        if live is None or live.closed:
            return _gone(connection_id)
        if request.method == "POST":
            if len(request.body) > MAX_MESSAGE_BYTES:
                return json_response(
                    413, {"message": "Payload too large"}, [("x-amzn-ErrorType", "PayloadTooLargeException")]
                )
            return HttpResponse(200, [], b"") if live.send(OP_TEXT, request.body) else _gone(connection_id)
        if request.method == "DELETE":
            live.close(1000)
            return HttpResponse(204, [], b"")
        if request.method == "GET":
            return json_response(
                200,
                {
                    "ConnectedAt": _iso(live.connected_at),
                    "LastActiveAt": _iso(live.last_active_at),
                    "Identity": {"SourceIp": live.source_ip, "UserAgent": live.user_agent},
                },
            )
        return json_response(405, {"message": "Method not allowed"})

    def close_all(self) -> None:
        with self._lock:
            sockets = list(self.sockets.values())
        for live in sockets:
            live.close(1001, "going away")


def _gone(connection_id: str) -> HttpResponse:
    return json_response(
        410, {"message": f"connection {connection_id} is gone"}, [("x-amzn-ErrorType", "GoneException")]
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
