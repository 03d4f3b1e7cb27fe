"""The download's ``Content-Disposition``: ``attachment``, an ASCII ``filename`` and the exact
``filename*`` (RFC 6266 / RFC 8187), safe for any title."""

from __future__ import annotations

import re
import string
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagegen.storage.presign import (
    MAX_DOWNLOAD_NAME_BYTES,
    MAX_FALLBACK_NAME_LENGTH,
    content_disposition,
)
from werkzeug.http import parse_options_header

# The whole header, strictly: a quoted-string without quotes, backslashes or controls, and an
# ext-value made of RFC 8187 attr-chars and percent escapes only.
_HEADER = re.compile(
    r"attachment; filename=\"(?P<fallback>[ -!#-\[\]-~]+)\"; "
    r"filename\*=UTF-8''(?P<exact>(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+)"
)
_UNSAFE_IN_FALLBACK = set('"\\/:*?<>|%;')


def parts(header: str) -> tuple[str, str]:
    """The fallback and the decoded exact name; fails unless the header has exactly our shape."""
    match = _HEADER.fullmatch(header)
    assert match is not None, header
    return match["fallback"], unquote(match["exact"], errors="strict")


def test_plain_title_keeps_its_name_in_both_forms() -> None:
    header = content_disposition("Sunset over the sea.png")
    assert header == (
        "attachment; filename=\"Sunset over the sea.png\"; filename*=UTF-8''Sunset%20over%20the%20sea.png"
    )
    assert parse_options_header(header) == ("attachment", {"filename": "Sunset over the sea.png"})


def test_non_ascii_title_has_an_ascii_fallback_and_the_exact_utf8_name() -> None:
    fallback, exact = parts(content_disposition("Café «noir» 東京.jpg"))
    assert fallback == "Cafe -noir- -.jpg"
    assert exact == "Café «noir» 東京.jpg"


@pytest.mark.parametrize(
    ("name", "fallback", "exact"),
    [
        ('say "hi".png', "say -hi-.png", 'say "hi".png'),
        ("back\\slash.png", "back-slash.png", "back-slash.png"),
        ("../../etc/passwd.png", "etc-passwd.png", "etc-passwd.png"),
        ("a\r\nSet-Cookie: x=1.png", "a-Set-Cookie- x=1.png", "a-Set-Cookie: x=1.png"),
        ("tab\there\x00\x7f\x85.gif", "tab-here-.gif", "tab-here-.gif"),
        ("right-to-left \u202egnp.exe.png", "right-to-left -gnp.exe.png", "right-to-left -gnp.exe.png"),
        ("100% real; fine.webp", "100- real- fine.webp", "100% real; fine.webp"),
        ("  .hidden  .png", "hidden.png", "hidden.png"),
    ],
)
def test_unsafe_characters_are_replaced(name: str, fallback: str, exact: str) -> None:
    assert parts(content_disposition(name)) == (fallback, exact)


@pytest.mark.parametrize("name", ["///.png", "...png", " .png", "\r\n.png", "\\/\u202e.png"])
def test_a_name_empty_after_cleaning_becomes_image(name: str) -> None:
    assert parts(content_disposition(name)) == ("image.png", "image.png")


def test_a_title_only_in_other_scripts_falls_back_to_image_in_ascii() -> None:
    assert parts(content_disposition("日本の夜.webp")) == ("image.webp", "日本の夜.webp")


def test_without_an_extension_the_name_is_the_title() -> None:
    assert parts(content_disposition("Untitled")) == ("Untitled", "Untitled")
    assert parts(content_disposition("")) == ("image", "image")


def test_very_long_titles_are_cut_before_the_extension() -> None:
    fallback, exact = parts(content_disposition("x" * 50 + "ж" * 300 + ".jpg"))
    assert fallback == "x" * 50 + "-.jpg"
    assert exact == "x" * 50 + "ж" * ((MAX_DOWNLOAD_NAME_BYTES - 54) // 2) + ".jpg"
    fallback, _ = parts(content_disposition("y" * 300 + ".jpg"))
    assert fallback == "y" * (MAX_FALLBACK_NAME_LENGTH - 4) + ".jpg"
    # Cut on a character, never inside a UTF-8 sequence.
    _, exact = parts(content_disposition("東" * 200 + ".png"))
    assert exact == "東" * ((MAX_DOWNLOAD_NAME_BYTES - 4) // 3) + ".png"


_EXTENSIONS = st.sampled_from(["", ".png", ".jpg", ".webp", ".gif"])


@given(title=st.text(max_size=400), extension=_EXTENSIONS)
def test_any_title_gives_one_well_formed_header(title: str, extension: str) -> None:
    header = content_disposition(title + extension)
    # No header injection: printable ASCII only, so no CR, LF or other control character.
    assert all(" " <= c <= "~" for c in header)
    fallback, exact = parts(header)
    assert not set(fallback) & _UNSAFE_IN_FALLBACK
    assert fallback.strip(" .") == fallback and fallback[0] not in "-."
    assert len(fallback) <= MAX_FALLBACK_NAME_LENGTH
    assert "/" not in exact and "\\" not in exact and exact.strip(" .") == exact
    assert not any(c < " " or "\x7f" <= c <= "\x9f" for c in exact)
    assert len(exact.encode()) <= MAX_DOWNLOAD_NAME_BYTES
    if extension:
        assert fallback.endswith(extension) and exact.endswith(extension)
    # What a browser-grade parser reads is the exact name.
    assert parse_options_header(header) == ("attachment", {"filename": exact})


@given(title=st.text(alphabet=string.ascii_letters + string.digits + " _-()", min_size=1, max_size=80))
def test_safe_ascii_titles_survive_unchanged(title: str) -> None:
    cleaned = title.strip(" .")
    if not cleaned or cleaned[0] in "-":
        return
    assert parts(content_disposition(cleaned + ".png")) == (cleaned + ".png", cleaned + ".png")


def test_emoji_sequences_keep_their_joiners() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert parts(content_disposition(f"{family} at home.png")) == ("at home.png", f"{family} at home.png")
