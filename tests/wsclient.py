"""A minimal WebSocket client (RFC 6455, standard library) for the tests of the live-update socket."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"handshake refused with {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class WebSocket:
    def __init__(self, sock: socket.socket, reader: Any) -> None:
        self.sock = sock
        self.reader = reader

    @classmethod
    def connect(cls, url: str, timeout: float = 10) -> WebSocket:
        parts = urlsplit(url)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sock.sendall(
            (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 101:
            body = reader.read(int(headers.get("content-length", "0")))
            sock.close()
            raise HandshakeRefused(status, body)
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == expected, headers
        return cls(sock, reader)

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        head = bytes([0x81])
        if len(payload) < 126:
            head += bytes([0x80 | len(payload)])
        else:
            head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self, timeout: float = 10) -> dict[str, Any] | None:
        """The next text message as JSON; None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            head = self.reader.read(2)
            if len(head) < 2:
                return None
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", self.reader.read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self.reader.read(8))[0]
            payload = self.reader.read(size)
            if opcode == 0x8:
                return None
            if opcode == 0x1:
                message: dict[str, Any] = json.loads(payload)
                return message

    def messages_until(self, done: Any, timeout: float = 30) -> list[dict[str, Any]]:
        """Messages until ``done(message)`` is true (that one included); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            message = self.recv(timeout=max(0.1, deadline - time.monotonic()))
            if message is None:
                break
            seen.append(message)
            if done(message):
                return seen
        raise AssertionError(f"no matching message within {timeout}s; got {seen}")

    def close(self) -> None:
        mask = os.urandom(4)
        try:
            self.sock.sendall(bytes([0x88, 0x80]) + mask)
            self.sock.close()
        except OSError:
            pass
