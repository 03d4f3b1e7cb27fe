"""Live updates through the local stack: the WebSocket at /ws (its $connect checks the session token),
fed from the emulator's change capture through the real notifier function."""

from __future__ import annotations

import json
import socket
import time
import uuid

import boto3
import pytest

from tests.e2e.conftest import Stack
from tests.wsclient import HandshakeRefused, WebSocket


def _email() -> str:
    return f"live-{uuid.uuid4().hex[:10]}@example.com"


def _socket(stack: Stack, token: str) -> WebSocket:
    return WebSocket.connect(f"{stack.url.replace('http://', 'ws://')}/ws?token={token}")


@pytest.mark.parametrize("query", ["", "?token=", "?token=not-a-token", "?tok=x"])
def test_the_handshake_without_a_valid_token_is_refused_with_401(stack: Stack, query: str) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        WebSocket.connect(f"{stack.url.replace('http://', 'ws://')}/ws{query}")
    assert refused.value.status == 401


def test_a_signed_out_token_cannot_open_a_socket(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    _socket(stack, token).close()  # fine while signed in
    assert stack.call("POST", "/auth/logout", token=token).status == 204
    with pytest.raises(HandshakeRefused) as refused:
        _socket(stack, token)
    assert refused.value.status == 401


def test_a_generation_is_pushed_to_its_owner_until_completed(stack: Stack) -> None:
    token, user = stack.sign_in(_email())
    other_token, _ = stack.sign_in(_email())
    mine, theirs = _socket(stack, token), _socket(stack, other_token)
    try:
        created = stack.call("POST", "/images/generate", token=token, body={"prompt": "a lighthouse at dusk"})
        assert created.status == 202, created.body
        image_id = created.json()["id"]
        started = time.monotonic()
        seen = mine.messages_until(
            lambda m: m["type"] == "image.updated" and m["image"]["status"] == "COMPLETED", timeout=60
        )
        statuses = [m["image"]["status"] for m in seen if m["type"] == "image.updated"]
        assert statuses[-1] == "COMPLETED" and "PENDING" in statuses, statuses
        assert all(m["image"]["id"] == image_id for m in seen if m["type"] == "image.updated")
        completed = seen[-1]["image"]
        assert completed["thumbnailUrl"] and completed["userId"] == user["id"]
        # (The signup bonus may arrive first: the socket can open before the stream delivered it.)
        charges = [m for m in seen if m["type"] == "balance.changed" and m["entry"]["imageId"] == image_id]
        assert [(m["coins"], m["entry"]["amount"], m["entry"]["reason"]) for m in charges] == [
            (90, -10, "image_generation")
        ]
        assert time.monotonic() - started < 60
        # The other user's socket hears nothing of it (only, perhaps, of their own signup bonus).
        theirs.send_text(json.dumps({"action": "ping"}))
        heard = theirs.messages_until(lambda m: m["type"] == "pong", timeout=10)
        assert all(
            m["type"] == "balance.changed" and m["entry"]["reason"] == "signup_bonus" for m in heard[:-1]
        )
        assert image_id not in json.dumps(heard) and user["id"] not in json.dumps(heard)
    finally:
        mine.close()
        theirs.close()


def test_ping_is_answered_and_a_closed_socket_is_gone_for_the_management_api(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    live = _socket(stack, token)
    live.send_text(json.dumps({"action": "ping"}))
    assert live.recv(timeout=10) == {"type": "pong"}
    live.send_text("not json")  # ignored, the socket stays open
    live.send_text(json.dumps({"action": "ping"}))
    assert live.recv(timeout=10) == {"type": "pong"}
    live.close()
    time.sleep(0.5)
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{stack.url}/_local/ws",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="no-such-connection", Data=b"{}")


def test_a_client_that_vanishes_does_not_break_the_others(stack: Stack) -> None:
    token, _ = stack.sign_in(_email())
    vanished = _socket(stack, token)
    vanished.sock.shutdown(socket.SHUT_RDWR)  # no close frame: the connection just drops
    vanished.sock.close()
    kept = _socket(stack, token)
    try:
        created = stack.call("POST", "/images/generate", token=token, body={"prompt": "a small boat"})
        assert created.status == 202
        kept.messages_until(
            lambda m: m["type"] == "image.updated" and m["image"]["status"] == "COMPLETED", 60
        )
    finally:
        kept.close()
