"""Page cursors: opaque, bound to one list, tamper-evident; anything else is InvalidCursor."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagegen.errors import InvalidCursor, ValidationError
from imagegen.persistence.cursor import CursorCodec, validate_limit

KEY = b"k" * 32
NAMES = ("pk", "sk", "gsi1pk", "gsi1sk")
SCOPE = "images:user:u1:type:*:status:*"
LAST = {
    "pk": {"S": "IMAGE#i1"},
    "sk": {"S": "IMAGE"},
    "gsi1pk": {"S": "USER#u1#IMAGES"},
    "gsi1sk": {"S": "2024-01-01T00:00:00.000Z#i1"},
}


def _decode(codec: CursorCodec, cursor: str, scope: str = SCOPE) -> object:
    return codec.decode(scope, cursor, key_names=NAMES, partition=("gsi1pk", "USER#u1#IMAGES"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_is_opaque_and_url_safe() -> None:
    codec = CursorCodec(KEY)
    cursor = codec.encode(SCOPE, LAST)
    assert _decode(codec, cursor) == LAST
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert codec.encode(SCOPE, LAST) == cursor


def test_scope_and_key_bind_the_cursor() -> None:
    cursor = CursorCodec(KEY).encode(SCOPE, LAST)
    with pytest.raises(InvalidCursor):
        _decode(CursorCodec(KEY), cursor, scope="images:user:u2:type:*:status:*")
    with pytest.raises(InvalidCursor):
        _decode(CursorCodec(b"x" * 32), cursor)


def test_tampered_payload_or_mac_is_refused() -> None:
    codec = CursorCodec(KEY)
    body, mac = codec.encode(SCOPE, LAST).split(".")
    other = {**LAST, "gsi1sk": {"S": "2099-01-01T00:00:00.000Z#zz"}}
    for cursor in (
        f"{_b64(json.dumps(other).encode())}.{mac}",
        f"{body}.{_b64(b'0' * 32)}",
        f"{body}.{mac[:-2]}",
        f"{body[:-4]}.{mac}",
        body,
        f".{mac}",
        f"{body}.",
        f"{body}.{mac}.x",
        f"{body}!.{mac}",
    ):
        with pytest.raises(InvalidCursor):
            _decode(codec, cursor)


def test_a_validly_signed_key_of_the_wrong_shape_is_still_refused() -> None:
    codec = CursorCodec(KEY)
    wrong_partition = {**LAST, "gsi1pk": {"S": "USER#u2#IMAGES"}}
    missing_name = {k: v for k, v in LAST.items() if k != "gsi1sk"}
    not_a_string = {**LAST, "sk": {"N": "1"}}
    extra_type = {**LAST, "sk": {"S": "IMAGE", "N": "1"}}
    for key in (wrong_partition, missing_name, not_a_string, extra_type):
        with pytest.raises(InvalidCursor):
            _decode(codec, codec.encode(SCOPE, key))
    signed_list = codec.encode(SCOPE, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidCursor):
        _decode(codec, signed_list)


@given(st.text(max_size=300))
def test_any_text_is_a_cursor_or_invalid_cursor(text: str) -> None:
    with contextlib.suppress(InvalidCursor):
        _decode(CursorCodec(KEY), text)


@given(st.binary(max_size=200), st.binary(max_size=40))
def test_any_well_formed_junk_is_invalid_cursor(body: bytes, mac: bytes) -> None:
    with pytest.raises(InvalidCursor):
        _decode(CursorCodec(KEY), f"{_b64(body)}.{_b64(mac)}")


def test_oversized_and_non_string_cursors_are_refused() -> None:
    codec = CursorCodec(KEY)
    with pytest.raises(InvalidCursor):
        _decode(codec, "a" * 5000)
    with pytest.raises(InvalidCursor):
        _decode(codec, None)  # type: ignore[arg-type]


def test_the_key_must_be_long_enough() -> None:
    with pytest.raises(ValueError):
        CursorCodec(b"short")
    with pytest.raises(ValueError):
        CursorCodec("a string key of enough length")  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_limits_in_range(limit: int) -> None:
    assert validate_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, 101, -5, True, False, 1.0, "5", None])
def test_limits_out_of_range_name_the_field(limit: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_limit(limit)
    assert [e.field for e in caught.value.errors] == ["limit"]
