"""Object keys: the filename sanitizer (property-tested) and the key formulas of the contract."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from imagegen.settings import Settings
from imagegen.storage import (
    FALLBACK_FILENAME,
    MAX_FILENAME_LENGTH,
    THUMBNAIL_NAMES,
    content_version,
    image_object_keys,
    is_original_key,
    legacy_rendition_keys,
    legacy_thumbnail_key,
    make_key,
    rendition_image_id,
    rendition_key,
    rendition_prefix,
    sanitize_filename,
)

SAFE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ROOT = Path(__file__).resolve().parents[2]
USER = "0b6c3a52-52f1-4c55-9a51-6f0f4b2d6a10"

# Characters that matter to paths and to the rules, mixed with arbitrary text.
tricky = st.text(alphabet=st.sampled_from(list("./\\-_ \t\x00~:aZ9éüß日本\u0301\ufb01")), max_size=300)


def defaults() -> Settings:
    return replace(Settings(), bucket_prefix="images", thumbnail_prefix="thumbnails")


def check_safe(result: str) -> None:
    assert SAFE.match(result), result
    assert ".." not in result
    assert "/" not in result and "\\" not in result
    assert 1 <= len(result) <= MAX_FILENAME_LENGTH


@settings(max_examples=500)
@given(st.one_of(st.text(), tricky))
@example("../../etc/passwd")
@example("..\\..\\x")
@example("")
@example(".")
@example("..")
@example("/")
@example(".bashrc")
@example("café.png")
@example("\u00a0\u2028")
def test_sanitized_names_are_safe_and_stable(name: str) -> None:
    result = sanitize_filename(name)
    check_safe(result)
    assert sanitize_filename(result) == result


@given(st.text(min_size=1, max_size=40), st.sampled_from(["png", "jpg", "jpeg", "webp", "gif"]))
def test_long_names_keep_their_extension(stem: str, extension: str) -> None:
    result = sanitize_filename(stem * 500 + "." + extension)
    check_safe(result)
    assert result.endswith("." + extension)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("café.png", "cafe.png"),
        ("My Photo (1).JPG", "my-photo-1.jpg"),
        ("../../etc/passwd", "etc-passwd"),
        ("a/b/c.png", "a-b-c.png"),
        ("...hidden", "file.hidden"),
        (".png", "file.png"),
        ("日本語.png", "file.png"),
        ("", FALLBACK_FILENAME),
        ("   ", FALLBACK_FILENAME),
        ("___", FALLBACK_FILENAME),
        ("a--b__c..d", "a-b__c.d"),
        ("ﬁle.PNG", "file.png"),
    ],
)
def test_sanitize_examples(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize(
    "name",
    ["a" * 10_000, "a" * 10_000 + ".png", "é" * 10_000, "/" * 10_000, "../" * 3_334, "a." * 5_000 + "png"],
)
def test_ten_thousand_character_names(name: str) -> None:
    result = sanitize_filename(name)
    check_safe(result)
    assert sanitize_filename(result) == result


def test_truncation_preserves_the_extension() -> None:
    result = sanitize_filename("x" * 300 + ".jpeg")
    assert len(result) == MAX_FILENAME_LENGTH
    assert result == "x" * (MAX_FILENAME_LENGTH - 5) + ".jpeg"


def test_make_key_follows_the_contract() -> None:
    key = make_key(USER, "Sunset Over Sea.PNG", now_ms=1_700_000_000_123, settings=defaults())
    assert key == f"images/{USER}/1700000000123-sunset-over-sea.png"
    assert is_original_key(key, settings=defaults())


def test_make_key_uses_the_clock_and_the_configured_prefix() -> None:
    custom = replace(defaults(), bucket_prefix="uploads/v2")
    key = make_key(USER, "a.png", settings=custom)
    match = re.fullmatch(rf"uploads/v2/{USER}/(\d+)-a\.png", key)
    assert match is not None
    assert abs(int(match[1]) - time.time() * 1000) < 60_000
    assert is_original_key(key, settings=custom)


@given(st.text())
def test_any_filename_makes_an_original_key(name: str) -> None:
    key = make_key(USER, name, now_ms=1, settings=defaults())
    assert key.count("/") == 2
    assert is_original_key(key, settings=defaults())


@pytest.mark.parametrize("user_id", ["", "a/b", "..", "x" * 129, "ü", "a b"])
def test_make_key_refuses_unusable_user_ids(user_id: str) -> None:
    with pytest.raises(ValueError):
        make_key(user_id, "a.png", settings=defaults())


@pytest.mark.parametrize("now_ms", [-1, True, 1.5])
def test_make_key_refuses_bad_timestamps(now_ms: object) -> None:
    with pytest.raises(ValueError):
        make_key(USER, "a.png", now_ms=now_ms, settings=defaults())  # type: ignore[arg-type]


IMAGE = "5f1d0c8e-1b7a-4d43-9a6e-0e8f3b1c2d4e"


def test_rendition_keys_name_the_image_and_the_content_version_never_the_owner() -> None:
    version = content_version(b"original bytes")
    key = rendition_key(IMAGE, version, "256", settings=defaults())
    assert key == f"thumbnails/{IMAGE}/{version}-256.webp"
    assert rendition_key(IMAGE, version, 1024, settings=defaults()).endswith(f"/{version}-1024.webp")
    assert USER not in key and rendition_prefix(IMAGE, settings=defaults()) == f"thumbnails/{IMAGE}/"
    assert rendition_image_id(key, settings=defaults()) == IMAGE
    assert not is_original_key(key, settings=defaults())


def test_the_content_version_follows_the_content() -> None:
    first = content_version(b"one")
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert content_version(b"one") == first  # a redelivered event rewrites the same keys
    assert content_version(b"two") != first


@pytest.mark.parametrize(
    "key",
    [
        f"thumbnails/{USER}/1700000000123-cat-256.webp",  # the legacy layout
        f"images/{USER}/1-a.png",
        f"thumbnails/{IMAGE}/abc-256.png",
        f"thumbnails/{IMAGE}/ABC-256.webp",
        f"thumbnails/{IMAGE}/abc-../x.webp",
        f"thumbnails/{IMAGE}/sub/abc-256.webp",
        "thumbnails/abc-256.webp",
        "",
    ],
)
def test_only_current_rendition_keys_name_an_image(key: str) -> None:
    assert rendition_image_id(key, settings=defaults()) is None


@pytest.mark.parametrize(
    ("image_id", "version", "name"),
    [
        ("", "abc", "256"),
        ("a/b", "abc", "256"),
        ("..", "abc", "256"),
        (IMAGE, "", "256"),
        (IMAGE, "a/b", "256"),
        (IMAGE, "ABC", "256"),
        (IMAGE, "abc", "../x"),
    ],
)
def test_rendition_key_parts_are_checked(image_id: str, version: str, name: str) -> None:
    with pytest.raises(ValueError):
        rendition_key(image_id, version, name, settings=defaults())


def test_an_images_object_keys_cover_both_layouts() -> None:
    original = f"images/{USER}/1700000000123-cat.png"
    current = rendition_key(IMAGE, "abc", "256", settings=defaults())
    found = image_object_keys(IMAGE, original, current, None, current, settings=defaults())
    assert found == [original, current, *legacy_rendition_keys(original, settings=defaults())]


def test_thumbnail_keys_mirror_the_original() -> None:
    original = f"images/{USER}/1700000000123-cat.photo.png"
    assert (
        legacy_thumbnail_key(original, "256", settings=defaults())
        == f"thumbnails/{USER}/1700000000123-cat.photo-256.webp"
    )
    assert (
        legacy_thumbnail_key(original, 1024, settings=defaults())
        == f"thumbnails/{USER}/1700000000123-cat.photo-1024.webp"
    )
    assert legacy_rendition_keys(original, settings=defaults()) == [
        legacy_thumbnail_key(original, n, settings=defaults()) for n in THUMBNAIL_NAMES
    ]


def test_thumbnail_of_a_name_without_extension() -> None:
    original = f"images/{USER}/5-noext"
    assert legacy_thumbnail_key(original, "256", settings=defaults()) == f"thumbnails/{USER}/5-noext-256.webp"


@pytest.mark.parametrize(
    "key",
    [
        f"thumbnails/{USER}/1-a-256.webp",
        f"images/{USER}/a.png",  # no timestamp
        f"images/{USER}/1-../x",
        f"images/{USER}/sub/1-a.png",
        f"images/{USER}/1-A.png",  # not something the sanitizer makes
        f"other/{USER}/1-a.png",
        "images/1-a.png",
        "",
        "/images/u/1-a.png",
    ],
)
def test_keys_outside_the_originals_are_refused(key: str) -> None:
    assert not is_original_key(key, settings=defaults())
    assert legacy_rendition_keys(key, settings=defaults()) == []
    with pytest.raises(ValueError):
        legacy_thumbnail_key(key, "256", settings=defaults())


def test_thumbnail_names_are_checked() -> None:
    with pytest.raises(ValueError):
        legacy_thumbnail_key(f"images/{USER}/1-a.png", "../x", settings=defaults())


def test_importing_storage_does_not_import_boto3() -> None:
    code = "import sys, imagegen.storage; sys.exit(1 if {'boto3', 'botocore'} & set(sys.modules) else 0)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
