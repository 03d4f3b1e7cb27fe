"""The local stack's pieces of live updates, without a stack: Lambda's event filtering as the stream pump
applies it, and the WebSocket framing of the gateway (RFC 6455)."""

from __future__ import annotations

import io
import os
import struct

import pytest

from devstack.stack.streams import matches
from devstack.stack.websocket import (
    MAX_MESSAGE_BYTES,
    OP_CLOSE,
    OP_TEXT,
    ProtocolError,
    accept_key,
    encode_frame,
    read_frame,
)

IMAGE_INSERT = {
    "eventName": "INSERT",
    "dynamodb": {"NewImage": {"entity": {"S": "IMAGE"}, "status": {"S": "PENDING"}}},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT", "MODIFY"]}, True),
        ({"eventName": ["REMOVE"]}, False),
        ({"dynamodb": {"NewImage": {"entity": {"S": ["IMAGE"]}}}}, True),
        ({"dynamodb": {"NewImage": {"entity": {"S": ["LEDGER"]}}}}, False),
        ({"dynamodb": {"OldImage": {"entity": {"S": ["IMAGE"]}}}}, False),  # no OldImage on an insert
        ({"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "PEN"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["PENDING"]}]}}}}, False),
        ({"dynamodb": {"OldImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, True),
    ],
)
def test_filter_patterns_match_as_lambda_filters_them(pattern: dict[str, object], expected: bool) -> None:
    assert matches(pattern, IMAGE_INSERT) is expected


def test_an_unsupported_filter_rule_is_an_error_not_a_silent_pass() -> None:
    with pytest.raises(ValueError):
        matches({"eventName": [{"numeric": [">", 1]}]}, IMAGE_INSERT)
    with pytest.raises(ValueError):
        matches({"eventName": "INSERT"}, IMAGE_INSERT)


def _client_frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    length = (
        bytes([size])
        if size < 126
        else bytes([126]) + struct.pack("!H", size)
        if size < 65536
        else bytes([127]) + struct.pack("!Q", size)
    )
    if not masked:
        return head + length + payload
    length = bytes([length[0] | 0x80]) + length[1:]
    return head + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_client_frames_of_every_length_are_unmasked(size: int) -> None:
    payload = os.urandom(size) if size <= MAX_MESSAGE_BYTES else b""
    assert read_frame(io.BytesIO(_client_frame(OP_TEXT, payload))) == (True, OP_TEXT, payload)


def test_an_unmasked_or_oversized_client_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError) as unmasked:
        read_frame(io.BytesIO(_client_frame(OP_TEXT, b"hi", masked=False)))
    assert unmasked.value.code == 1002
    with pytest.raises(ProtocolError) as big:
        read_frame(io.BytesIO(_client_frame(OP_TEXT, b"x" * (MAX_MESSAGE_BYTES + 1))))
    assert big.value.code == 1009
    with pytest.raises(ProtocolError):
        read_frame(io.BytesIO(_client_frame(OP_TEXT, b"hello")[:-2]))  # cut mid-frame
    assert read_frame(io.BytesIO(b"")) is None


@pytest.mark.parametrize("size", [3, 200, 70000])
def test_server_frames_are_final_unmasked_with_the_right_length(size: int) -> None:
    frame = encode_frame(OP_TEXT, b"y" * size)
    assert frame[0] == 0x80 | OP_TEXT and not frame[1] & 0x80
    assert frame.endswith(b"y" * size) and len(frame) - size in (2, 4, 10)
    assert encode_frame(OP_CLOSE, b"")[:2] == bytes([0x88, 0])


def test_the_accept_key_is_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
