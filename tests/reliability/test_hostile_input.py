"""Hostile input: an upload corpus made in the test, Unicode and control characters in text fields,
oversized and deeply nested JSON, huge headers. Nothing may end in an unhandled error."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps

from tests.api.conftest import Env
from tests.reliability.conftest import (
    CONTRACT_FAILURE_REASONS,
    audit_end_state,
    check_books,
    encode,
    photo,
    png,
    settle,
)

SMALL = {"width": 256, "height": 256}


# ---- the corpus -------------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _raw_png(width: int, height: int, bit_depth: int, colour_type: int, channels: int) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour): a gradient in every channel."""
    sample = bit_depth // 8
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            value = (x * 65535 // max(1, width - 1)) if sample == 2 else (x * 255 // max(1, width - 1))
            for c in range(channels):
                v = value if c % 2 == 0 else (y * 65535 // max(1, height - 1) if sample == 2 else y)
                row += v.to_bytes(sample, "big")
        rows.append(bytes(row))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _with_chunk_before_iend(data: bytes, chunk: bytes) -> bytes:
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk + data[end:]


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(encode(photo(64, 64), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_with_screen(width: int, height: int, frame: PILImage.Image | None = None) -> bytes:
    data = bytearray(encode((frame or photo(32, 32)).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _webp_vp8x_claiming(width: int, height: int) -> bytes:
    payload = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _animated_gif_bomb(frames: int = 20, side: int = 3000) -> bytes:
    """Many large frames that compress to almost nothing: 180 million pixels in a few hundred KB."""
    palette = [c for i in range(256) for c in (i, 255 - i, (i * 7) % 256)]
    images = []
    for i in range(frames):
        frame = PILImage.new("P", (side, side), i)
        frame.putpalette(palette)
        images.append(frame)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], optimize=False, disposal=2)
    return out.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _jpeg_with_app1(payload: bytes, image: PILImage.Image | None = None) -> bytes:
    data = encode(image or photo(120, 80), "JPEG")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def _exif_orientation(value: int) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _icc(name: str) -> bytes:
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile(name)).tobytes()  # type: ignore[arg-type]
    return profile


def _ztxt_bomb() -> bytes:
    """A PNG whose compressed text chunk inflates to 64 MiB."""
    bomb = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (64 * 1024 * 1024), 9))
    return _with_chunk_before_iend(png(40, 30), bomb)


def _bad_crc_png() -> bytes:
    data = bytearray(png(40, 30))
    crc_at = 8 + 8 + 13  # signature, IHDR length+type, IHDR data
    data[crc_at : crc_at + 4] = b"\x00\x00\x00\x00"
    return bytes(data)


def _jpeg_with_junk_after(marker: int, junk: bytes) -> bytes:
    """A real JPEG with ``junk`` after its first ``marker`` segment: libjpeg's marker reader skips
    stray bytes, 0xFF fill and FF 00 between segments, so decoders and browsers show it."""
    data = encode(photo(160, 120), "JPEG")
    i = 2
    while data[i + 1] != marker:
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return data[:end] + junk + data[end:]


@dataclass(frozen=True)
class Case:
    name: str
    content_type: str
    make: Callable[[], bytes]
    # ("COMPLETED", (width, height, format)) or ("FAILED", failureReason)
    expected: tuple[str, Any]


SVG = b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><rect/></svg>"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"

CORPUS = [
    # polyglots
    Case(
        "gif-js-polyglot",
        "image/gif",
        lambda: _gif_with_screen(0x2A2F, 32) + b"*/=alert(document.domain);//",
        ("COMPLETED", (0x2A2F, 32, "gif")),
    ),
    Case(
        "png-zip-polyglot",
        "image/png",
        lambda: png(64, 48) + _zip({"index.html": HTML}),
        ("COMPLETED", (64, 48, "png")),
    ),
    Case("zip-then-png", "image/png", lambda: _zip({"a.png": png()}) + png(), ("FAILED", "not_an_image")),
    Case("png-magic-then-html", "image/png", lambda: b"\x89PNG\r\n\x1a\n" + HTML, ("FAILED", "not_an_image")),
    Case("pdf", "image/png", lambda: b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF", ("FAILED", "not_an_image")),
    # truncated
    Case("truncated-png", "image/png", lambda: png(200, 150)[:300], ("FAILED", "not_an_image")),
    Case(
        "truncated-gif",
        "image/gif",
        lambda: encode(photo(200, 150, "P"), "GIF")[:200],
        ("FAILED", "not_an_image"),
    ),
    Case(
        "truncated-webp",
        "image/webp",
        lambda: encode(photo(200, 150), "WEBP")[:100],
        ("FAILED", "not_an_image"),
    ),
    Case("header-only-png", "image/png", lambda: png()[:33], ("FAILED", "not_an_image")),
    Case("bad-crc-png", "image/png", _bad_crc_png, ("FAILED", "not_an_image")),
    # huge dimensions
    Case(
        "png-100000-square",
        "image/png",
        lambda: _png_claiming(100_000, 100_000),
        ("FAILED", "decompression_bomb"),
    ),
    Case(
        "jpeg-65500-square",
        "image/jpeg",
        lambda: _jpeg_claiming(65_500, 65_500),
        ("FAILED", "decompression_bomb"),
    ),
    Case(
        "gif-65535-screen",
        "image/gif",
        lambda: _gif_with_screen(65_535, 65_535),
        ("FAILED", "decompression_bomb"),
    ),
    Case(
        "webp-16384-square",
        "image/webp",
        lambda: _webp_vp8x_claiming(16_384, 16_384),
        ("FAILED", "decompression_bomb"),
    ),
    Case("png-zero-width", "image/png", lambda: _png_claiming(0, 10), ("FAILED", "not_an_image")),
    Case(
        "sliver-20000x1",
        "image/png",
        lambda: encode(photo(20_000, 1), "PNG"),
        ("COMPLETED", (20_000, 1, "png")),
    ),
    Case("animated-gif-bomb", "image/gif", _animated_gif_bomb, ("COMPLETED", (3000, 3000, "gif"))),
    Case("ztxt-bomb", "image/png", _ztxt_bomb, ("FAILED", "not_an_image")),
    # colour modes and depths
    Case(
        "cmyk-jpeg",
        "image/jpeg",
        lambda: encode(photo(300, 200, "CMYK"), "JPEG"),
        ("COMPLETED", (300, 200, "jpeg")),
    ),
    Case(
        "cmyk-progressive-jpeg",
        "image/jpeg",
        lambda: encode(photo(300, 200, "CMYK"), "JPEG", progressive=True),
        ("COMPLETED", (300, 200, "jpeg")),
    ),
    Case(
        "grey-16-bit-png", "image/png", lambda: _raw_png(120, 90, 16, 0, 1), ("COMPLETED", (120, 90, "png"))
    ),
    Case("rgb-48-bit-png", "image/png", lambda: _raw_png(120, 90, 16, 2, 3), ("COMPLETED", (120, 90, "png"))),
    Case(
        "rgba-64-bit-png", "image/png", lambda: _raw_png(120, 90, 16, 6, 4), ("COMPLETED", (120, 90, "png"))
    ),
    Case(
        "palette-png-transparent",
        "image/png",
        lambda: encode(photo(150, 100, "P"), "PNG", transparency=0),
        ("COMPLETED", (150, 100, "png")),
    ),
    Case(
        "la-png", "image/png", lambda: encode(photo(150, 100, "LA"), "PNG"), ("COMPLETED", (150, 100, "png"))
    ),
    Case(
        "1-bit-png",
        "image/png",
        lambda: encode(photo(150, 100, "1"), "PNG"),
        ("COMPLETED", (150, 100, "png")),
    ),
    Case(
        "animated-webp",
        "image/webp",
        lambda: encode(photo(90, 60), "WEBP", save_all=True, append_images=[photo(90, 60).rotate(180)]),
        ("COMPLETED", (90, 60, "webp")),
    ),
    # EXIF
    Case(
        "exif-bad-ifd-offset",
        "image/jpeg",
        lambda: _jpeg_with_app1(b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xf0"),
        ("COMPLETED", (120, 80, "jpeg")),
    ),
    Case(
        "exif-garbage",
        "image/jpeg",
        lambda: _jpeg_with_app1(b"Exif\x00\x00" + bytes(range(256)) * 4),
        ("COMPLETED", (120, 80, "jpeg")),
    ),
    Case(
        "exif-orientation-9",
        "image/jpeg",
        lambda: encode(photo(120, 80), "JPEG", exif=_exif_orientation(9)),
        ("COMPLETED", (120, 80, "jpeg")),
    ),
    Case(
        "exif-orientation-8",
        "image/jpeg",
        lambda: encode(photo(120, 80), "JPEG", exif=_exif_orientation(8)),
        ("COMPLETED", (80, 120, "jpeg")),
    ),
    # ICC profiles
    Case(
        "icc-srgb-jpeg",
        "image/jpeg",
        lambda: encode(photo(100, 70), "JPEG", icc_profile=_icc("sRGB")),
        ("COMPLETED", (100, 70, "jpeg")),
    ),
    Case(
        "icc-lab-on-rgb-png",
        "image/png",
        lambda: encode(photo(100, 70), "PNG", icc_profile=_icc("LAB")),
        ("COMPLETED", (100, 70, "png")),
    ),
    Case(
        "icc-garbage-jpeg",
        "image/jpeg",
        lambda: encode(photo(100, 70), "JPEG", icc_profile=b"\x00\x00\x01\x00garbage" * 40),
        ("COMPLETED", (100, 70, "jpeg")),
    ),
    Case(
        "icc-on-cmyk-jpeg",
        "image/jpeg",
        lambda: encode(photo(100, 70, "CMYK"), "JPEG", icc_profile=_icc("sRGB")),
        ("COMPLETED", (100, 70, "jpeg")),
    ),
    # damaged but shown by every decoder: stray bytes between segments
    Case(
        "jpeg-stray-bytes-between-segments",
        "image/jpeg",
        lambda: _jpeg_with_junk_after(0xDB, b"\x00\x13\x37junk"),
        ("COMPLETED", (160, 120, "jpeg")),
    ),
    Case(
        "jpeg-ff-fill-and-stuffed-zeros",
        "image/jpeg",
        lambda: _jpeg_with_junk_after(0xDB, b"\xff\x00\xff\x00" + b"\xff" * 6),
        ("COMPLETED", (160, 120, "jpeg")),
    ),
    Case(
        "jpeg-junk-after-app0",
        "image/jpeg",
        lambda: _jpeg_with_junk_after(0xE0, b"\x00" * 16),
        ("COMPLETED", (160, 120, "jpeg")),
    ),
    # not images at all, or not ours
    Case("zero-bytes", "image/png", lambda: b"", ("FAILED", "not_an_image")),
    Case("svg-named-png", "image/png", lambda: SVG, ("FAILED", "not_an_image")),
    Case("html-named-png", "image/png", lambda: HTML, ("FAILED", "not_an_image")),
    Case("bmp", "image/png", lambda: encode(photo(40, 30), "BMP"), ("FAILED", "unsupported_format")),
    Case("tiff", "image/jpeg", lambda: encode(photo(40, 30), "TIFF"), ("FAILED", "unsupported_format")),
    Case("ico", "image/png", lambda: encode(photo(32, 32), "ICO"), ("FAILED", "unsupported_format")),
    Case("pcx", "image/png", lambda: encode(photo(40, 30), "PCX"), ("FAILED", "unsupported_format")),
    Case("xbm", "image/png", lambda: encode(photo(40, 30, "1"), "XBM"), ("FAILED", "unsupported_format")),
    Case(
        "tga-grey", "image/png", lambda: encode(photo(40, 30, "L"), "TGA"), ("FAILED", "unsupported_format")
    ),
    Case("pfm", "image/png", lambda: encode(photo(40, 30, "F"), "PPM"), ("FAILED", "unsupported_format")),
    Case("dib", "image/png", lambda: encode(photo(40, 30), "DIB"), ("FAILED", "unsupported_format")),
    Case(
        "heic-brand",
        "image/jpeg",
        lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        ("FAILED", "unsupported_format"),
    ),
    Case("png-declared-as-gif", "image/gif", lambda: png(33, 44), ("COMPLETED", (33, 44, "png"))),
    Case("too-large", "image/png", lambda: png(8, 8) + b"\x00" * (3 * 1024 * 1024), ("FAILED", "too_large")),
]


def _displayed_size(data: bytes) -> tuple[int, int]:
    """What Pillow says the picture is, after EXIF orientation (an independent reading)."""
    with PILImage.open(io.BytesIO(data)) as image:
        transposed = ImageOps.exif_transpose(image) if image.format == "JPEG" else image
        return transposed.size


def test_upload_corpus_ends_completed_with_true_metadata_or_failed_with_a_contract_reason(
    app: Env, configure: Any
) -> None:
    # The whole corpus is requested before any file is processed: above the default upload limits.
    configure(
        UPLOAD_COST="1",
        MAX_UPLOAD_BYTES=str(3 * 1024 * 1024),
        MAX_PENDING_UPLOADS=str(len(CORPUS)),
        RATE_LIMIT_UPLOAD_PER_MINUTE=str(len(CORPUS)),
    )
    user, token = app.user(coins=len(CORPUS))
    s3 = boto3.client("s3")
    uploaded: dict[str, tuple[Case, bytes, dict[str, Any]]] = {}
    for case in CORPUS:
        data = case.make()
        reply = app.api.call(
            "POST",
            "/images/uploads",
            token=token,
            body={"filename": f"{case.name}.png", "contentType": case.content_type, "size": 1000},
        )
        assert reply.status == 201, reply.raw
        image = reply.json["image"]
        s3.put_object(Bucket=app.bucket, Key=image["storageKey"], Body=data, ContentType=case.content_type)
        uploaded[case.name] = (case, data, image)

    started = time.perf_counter()
    app.pipeline.drain()
    elapsed = time.perf_counter() - started
    failed_records = [i for i in app.pipeline.invocations if i[2]]
    assert failed_records == [], "a record raised (an unhandled error) and was retried"
    assert elapsed < 60, f"the corpus took {elapsed:.1f} s"

    outcomes: dict[str, tuple[str, Any]] = {}
    for name, (_, data, created) in uploaded.items():
        image = app.api.call("GET", f"/images/{created['id']}", token=token).json
        if image["status"] == "COMPLETED":
            meta = image["metadata"]
            outcomes[name] = ("COMPLETED", (meta["width"], meta["height"], meta["format"]))
            assert meta["sizeBytes"] == len(data)
            assert (meta["width"], meta["height"]) == _displayed_size(data), name
            for key, longest in ((image["thumbnailKey"], 256), (meta["previewKey"], 1024)):
                stored = s3.get_object(Bucket=app.bucket, Key=key)
                assert stored["ContentType"] == "image/webp"
                with PILImage.open(io.BytesIO(stored["Body"].read())) as rendition:
                    assert rendition.format == "WEBP" and max(rendition.size) <= longest
                    assert rendition.mode in ("RGB", "RGBA", "L", "LA"), (name, rendition.mode)
                    assert "icc_profile" not in rendition.info and "exif" not in rendition.info
        else:
            outcomes[name] = (image["status"], image["failureReason"])
            assert image["status"] == "FAILED", image
            assert image["failureReason"] in CONTRACT_FAILURE_REASONS, image
            assert app.objects(image["storageKey"]) == []
    assert outcomes == {case.name: case.expected for case in CORPUS}
    settle(app)
    audit_end_state(app)
    books = check_books(app, token)
    assert books.coins == sum(1 for c in CORPUS if c.expected[0] == "FAILED")
    assert user.id  # every object of this user was checked by the audit above


# ---- Unicode and control characters ---------------------------------------------------------------
UNICODE_TEXTS = [
    "مرحبا بالعالم",  # Arabic, right to left
    "שלום עולם 123",  # Hebrew with digits (bidi runs)
    "👩‍👩‍👧‍👦 family 🏳️‍🌈",  # ZWJ sequences, variation selectors
    "e\u0301te\u0301 a\u0308 n\u0303",  # combining marks (NFD, kept as sent)
    "漢字かなカナ 한국어",
    "\U0001d573\U0001d58a\U0001d591\U0001d591\U0001d594 \U00013000 \U0010fffd",  # astral planes
    "left \u202eright\u202c \u2066isolate\u2069 \u200bzero width",  # bidi controls are format chars
    "quotes \" ' ` backslash \\ and <b>markup</b> & {{ template }} ${expr}",
]


MULTILINE = "a tab\there, a new line\nand an RTL \u05e9\u05dc\u05d5\u05dd line"


def test_unicode_round_trips_exactly_through_every_text_field(app: Env, configure: Any) -> None:
    configure(GENERATION_COST="1", RATE_LIMIT_GENERATE_PER_MINUTE="1000")
    _, token = app.user(coins=100)
    ids = []
    for text in UNICODE_TEXTS:
        body = {"prompt": text, "title": text, "description": text, "width": 256, "height": 256}
        reply = app.api.call("POST", "/images/generate", token=token, body=body)
        assert reply.status == 202, reply.raw
        assert (reply.json["prompt"], reply.json["title"], reply.json["description"]) == (text, text, text)
        ids.append(reply.json["id"])
        edited = app.api.call("PATCH", f"/images/{reply.json['id']}", token=token, body={"title": text[::-1]})
        assert edited.status == 200 and edited.json["title"] == text[::-1]
        upload = app.api.call(
            "POST",
            "/images/uploads",
            token=token,
            body={"filename": f"{text}.png", "contentType": "image/png", "size": 10, "description": text},
        )
        assert upload.status == 201, upload.raw
        assert upload.json["image"]["title"] == f"{text}.png"
        assert upload.json["image"]["description"] == text
        key = upload.json["image"]["storageKey"]
        assert key.isascii() and ".." not in key and key.count("/") == 2
        me = app.api.call("PATCH", "/me", token=token, body={"firstName": text[:100], "lastName": text[:100]})
        assert me.status == 200 and me.json["firstName"] == text[:100]
    # Prompts and descriptions may span lines; titles and names may not (see the control tests).
    body = {"prompt": MULTILINE, "title": "multi", "description": MULTILINE, "width": 256, "height": 256}
    multiline = app.api.call("POST", "/images/generate", token=token, body=body)
    assert multiline.status == 202, multiline.raw
    assert (multiline.json["prompt"], multiline.json["description"]) == (MULTILINE, MULTILINE)
    app.pipeline.drain()
    assert app.api.call("GET", f"/images/{multiline.json['id']}", token=token).json["status"] == "COMPLETED"
    for text, image_id in zip(UNICODE_TEXTS, ids, strict=True):
        image = app.api.call("GET", f"/images/{image_id}", token=token).json
        assert (image["prompt"], image["title"], image["description"]) == (text, text[::-1], text)
        assert image["status"] == "COMPLETED", image  # the provider paints the prompt's words
    assert app.pipeline.invocations and not [i for i in app.pipeline.invocations if i[2]]


def test_multiline_prompt_without_a_title_is_accepted(app: Env) -> None:
    """The default title of a multi-line prompt is the prompt on one line."""
    _, token = app.user()
    reply = app.api.call("POST", "/images/generate", token=token, body={"prompt": MULTILINE, **SMALL})
    assert reply.status == 202, reply.raw
    assert reply.json["prompt"] == MULTILINE and "\n" not in reply.json["title"]


C0_CONTROLS = [chr(c) for c in range(32)] + ["\x7f"]
C1_CONTROLS = ["\x80", "\x85", "\x9b", "\x9f"]  # first, NEL, CSI, last


def _control_cases(controls: list[str]) -> list[tuple[str, str, dict[str, Any], str]]:
    """Each control character in every text field; tab, CR and LF only in single-line fields."""
    cases = []
    for char in controls:
        text = f"before{char}after"
        cases += [
            ("POST", "/images/generate", {"prompt": "ok", "title": text}, "title"),
            ("PATCH", "/me", {"firstName": text}, "firstName"),
            ("PATCH", "/me", {"lastName": text}, "lastName"),
        ]
        if char not in "\t\n\r":
            cases += [
                ("POST", "/images/generate", {"prompt": text}, "prompt"),
                ("POST", "/images/generate", {"prompt": "ok", "description": text}, "description"),
            ]
    return cases


def _assert_refused(app: Env, token: str, cases: list[tuple[str, str, dict[str, Any], str]]) -> None:
    accepted = []
    for method, path, body, field in cases:
        reply = app.api.call(method, path, token=token, body=body)
        if reply.status != 422:
            accepted.append((path, field, repr(json.dumps(body)), reply.status))
            continue
        problem = reply.problem(422, "validation_error")
        assert field in [e["field"] for e in problem["errors"]], problem
    assert accepted == []


def test_c0_control_characters_are_refused_with_422(app: Env) -> None:
    _, token = app.user(coins=100)
    _assert_refused(app, token, _control_cases(C0_CONTROLS))
    books = check_books(app, token)
    assert books.coins == 100 and books.images == []


def test_c1_control_characters_are_refused_with_422(app: Env) -> None:
    """C1 controls (U+0080..U+009F, e.g. U+009B, a terminal's CSI) are control characters too."""
    _, token = app.user(coins=1000)
    _assert_refused(app, token, _control_cases(C1_CONTROLS))


def test_lone_surrogates_are_refused_with_422_not_500(app: Env) -> None:
    """A lone surrogate (JSON \\ud800) cannot be stored as UTF-8: refused before anything is written."""
    _, token = app.user(coins=100)
    for raw in (
        '{"prompt": "a\\ud800b"}',
        '{"prompt": "ok", "title": "\\udfff"}',
        '{"prompt": "ok", "description": "x\\udbff"}',
    ):
        reply = app.api.call("POST", "/images/generate", token=token, raw_body=raw)
        reply.problem(422, "validation_error")
    reply = app.api.call("PATCH", "/me", token=token, raw_body='{"firstName": "\\ud83d"}')
    reply.problem(422, "validation_error")
    books = check_books(app, token)
    assert books.coins == 100 and books.images == []


# ---- oversized, nested and odd JSON; huge headers -----------------------------------------------
def test_oversized_bodies_are_413(app: Env) -> None:
    from imagegen.http.api import MAX_JSON_BODY

    _, token = app.user(coins=100)
    padding = MAX_JSON_BODY  # an over-limit body of plain ASCII
    body = json.dumps({"prompt": "x", "description": "d" * padding})
    app.api.call("POST", "/images/generate", token=token, raw_body=body).problem(413, "payload_too_large")
    app.api.call("PATCH", "/me", token=token, raw_body=body).problem(413, "payload_too_large")
    app.api.call("POST", "/images/uploads", token=token, raw_body=" " * (MAX_JSON_BODY + 1)).problem(
        413, "payload_too_large"
    )
    under = json.dumps({"prompt": "x", "description": "d" * 100})
    assert app.api.call("POST", "/images/generate", token=token, raw_body=under).status == 202
    assert check_books(app, token).coins == 50


def test_oversized_body_of_multibyte_characters_is_413(app: Env) -> None:
    """The limit is in bytes: multi-byte characters count as what they weigh."""
    from imagegen.http.api import MAX_JSON_BODY

    _, token = app.user()
    body = json.dumps({"firstName": "é" * (MAX_JSON_BODY // 2 + 100)}, ensure_ascii=False)
    assert len(body) < MAX_JSON_BODY < len(body.encode("utf-8"))
    app.api.call("PATCH", "/me", token=token, raw_body=body).problem(413, "payload_too_large")


def test_nested_and_odd_json_is_400_or_422_never_500(app: Env) -> None:
    _, token = app.user(coins=100)
    cases = [
        "[" * 30_000 + "]" * 30_000,
        '{"prompt": ' + "[" * 5_000 + "]" * 5_000 + "}",
        '{"prompt": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}",
        '{"prompt": "x", "width": ' + "9" * 5_000 + "}",
        '{"prompt": "x", "width": 1e309}',
        '{"prompt": "x", "width": NaN}',
        '{"prompt": "x", "width": -Infinity}',
        '{"prompt": "x", "prompt": ["dup"]}',
        '{"prompt": "x"} trailing',
        '"just a string"',
        "null",
        "\ufeff{}",
        '{"prompt": "\\u0000"}',
    ]
    for raw in cases:
        for method, path in (("POST", "/images/generate"), ("PATCH", "/me"), ("POST", "/images/uploads")):
            reply = app.api.call(method, path, token=token, raw_body=raw)
            assert reply.status in (400, 422), (raw[:60], path, reply.status, reply.raw[:200])
            assert reply.code in ("invalid_json", "validation_error")
    books = check_books(app, token)
    assert books.coins == 100 and books.images == []


def test_huge_headers_and_query_strings(app: Env) -> None:
    _, token = app.user()
    many = {f"x-filler-{i}": "v" * 100 for i in range(300)}
    reply = app.api.call("GET", "/me", token=token, headers={"x-junk": "j" * 32_000, **many})
    assert reply.status == 200
    app.api.call("GET", "/me", headers={"authorization": "Bearer " + "a" * 64_000}).problem(
        401, "unauthorized"
    )
    app.api.call(
        "POST",
        "/images/generate",
        token=token,
        body={"prompt": "x"},
        headers={"Idempotency-Key": "k" * 10_000},
    ).problem(422, "validation_error")
    app.api.call("GET", "/images", token=token, query={"cursor": "c" * 100_000}).problem(
        400, "invalid_cursor"
    )
    app.api.call("GET", "/me/ledger", token=token, query={"cursor": "%00" * 1000}).problem(
        400, "invalid_cursor"
    )
    app.api.call("GET", "/images", token=token, query={"limit": "9" * 400}).problem(422, "validation_error")
    app.api.call("GET", "/images", token=token, query={"status": "P" * 10_000}).problem(
        422, "validation_error"
    )
    assert check_books(app, token).coins == 100
