"""Tests of the thumbnail pipeline, on images made here with Pillow (no binary fixtures)."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagegen.errors import ImageRejected
from imagegen.imaging import (
    ProcessedImage,
    blurhash_encode,
    pipeline,
    process_image,
    sniff_format,
    webp,
)
from imagegen.imaging.colour import normalise_mode
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageFile, ImageStat

REPO = Path(__file__).resolve().parents[2]
BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


# ---------------------------------------------------------------------------------------------
# helpers


def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """Photo-like RGB content: gradients, low-frequency noise and a few shapes (not flat colour)."""
    gradient = Image.linear_gradient("L").resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    noise = Image.effect_noise((max(1, width // 8), max(1, height // 8)), 40 + seed).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    im = Image.merge("RGB", (gradient, radial, noise))
    draw = ImageDraw.Draw(im)
    draw.ellipse((width // 5, height // 5, width // 2, height // 2), fill=(200, 120, 40))
    draw.rectangle((width * 3 // 5, height // 3, width * 4 // 5, height * 4 // 5), fill=(30, 90, 160))
    return im


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decode_webp(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    im.load()
    return im


def rejected(data: bytes, **kwargs: int) -> str:
    with pytest.raises(ImageRejected) as info:
        process_image(data, **kwargs)
    return info.value.reason


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


# ---------------------------------------------------------------------------------------------
# format detection


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"GIF87a\x01\x00\x01\x00", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"BM\x00\x00", None),
        (b"<svg xmlns=", None),
        (b"", None),
        (b"\xff\xd8", None),
    ],
)
def test_sniff_format_reads_magic_bytes_only(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


# ---------------------------------------------------------------------------------------------
# happy paths


def test_jpeg_renditions_have_the_contract_sizes_and_are_webp() -> None:
    data = encode(photo(3000, 2000), "JPEG", quality=85)
    result = process_image(data)
    assert isinstance(result, ProcessedImage)
    assert (result.format, result.width, result.height, result.size_bytes) == ("jpeg", 3000, 2000, len(data))
    assert (result.preview.width, result.preview.height) == (1024, 683)
    assert (result.thumbnail.width, result.thumbnail.height) == (256, 171)
    assert result.preview.name == "preview" and result.thumbnail.name == "thumbnail"
    for rendition in (result.preview, result.thumbnail):
        assert rendition.content_type == "image/webp"
        im = decode_webp(rendition.data)
        assert im.size == (rendition.width, rendition.height)
        assert im.mode == "RGB"


def test_small_images_are_never_upscaled() -> None:
    result = process_image(encode(photo(120, 60), "PNG"))
    assert (result.preview.width, result.preview.height) == (120, 60)
    assert (result.thumbnail.width, result.thumbnail.height) == (120, 60)


def test_portrait_longest_side_is_the_height() -> None:
    result = process_image(encode(photo(600, 1800), "JPEG"))
    assert (result.preview.width, result.preview.height) == (341, 1024)
    assert (result.thumbnail.width, result.thumbnail.height) == (85, 256)


def test_extreme_aspect_ratio_keeps_at_least_one_pixel() -> None:
    result = process_image(encode(Image.new("RGB", (4000, 2), RED), "PNG"))
    assert (result.preview.width, result.preview.height) == (1024, 1)
    assert (result.thumbnail.width, result.thumbnail.height) == (256, 1)


def test_preview_content_matches_the_source() -> None:
    im = Image.new("RGB", (2000, 1000), BLUE)
    ImageDraw.Draw(im).rectangle((0, 0, 999, 999), fill=RED)  # left half red
    result = process_image(encode(im, "JPEG", quality=95))
    preview = decode_webp(result.preview.data).convert("RGB")
    assert close_to(preview.getpixel((100, 250)), RED)  # type: ignore[arg-type]
    assert close_to(preview.getpixel((900, 250)), BLUE)  # type: ignore[arg-type]


# Where the stored image's top-left (red) and top-right (green) corners appear once displayed.
ORIENTATION_CORNERS = {
    1: ("TL", "TR"),
    2: ("TR", "TL"),
    3: ("BR", "BL"),
    4: ("BL", "BR"),
    5: ("TL", "BL"),
    6: ("TR", "BR"),
    7: ("BR", "TR"),
    8: ("BL", "TL"),
}


def corner_colour(im: Image.Image, corner: str) -> tuple[int, ...]:
    x = 5 if corner[1] == "L" else im.width - 6
    y = 5 if corner[0] == "T" else im.height - 6
    value = im.convert("RGB").getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def oriented_jpeg(orientation: int, size: tuple[int, int] = (800, 400)) -> bytes:
    im = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(im)
    w, h = size
    draw.rectangle((0, 0, w // 5, h // 5), fill=RED)
    draw.rectangle((w - w // 5, 0, w, h // 5), fill=GREEN)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", sorted(ORIENTATION_CORNERS))
def test_exif_orientation_is_applied_to_size_and_pixels(orientation: int) -> None:
    result = process_image(oriented_jpeg(orientation))
    swapped = orientation >= 5
    assert (result.width, result.height) == ((400, 800) if swapped else (800, 400))
    assert (result.thumbnail.width, result.thumbnail.height) == ((128, 256) if swapped else (256, 128))
    assert (result.preview.width, result.preview.height) == ((400, 800) if swapped else (800, 400))
    red_at, green_at = ORIENTATION_CORNERS[orientation]
    for rendition in (result.thumbnail, result.preview):
        im = decode_webp(rendition.data)
        assert close_to(corner_colour(im, red_at), RED), (orientation, rendition.name)
        assert close_to(corner_colour(im, green_at), GREEN), (orientation, rendition.name)
        grey_corners = {"TL", "TR", "BL", "BR"} - {red_at, green_at}
        for corner in grey_corners:
            assert close_to(corner_colour(im, corner), (128, 128, 128)), (orientation, corner)


def test_orientation_6_on_a_drafted_jpeg() -> None:
    # Large enough that the JPEG is decoded at 1/4 scale before the rotation.
    result = process_image(oriented_jpeg(6, size=(4800, 2400)))
    assert (result.width, result.height) == (2400, 4800)
    assert (result.preview.width, result.preview.height) == (512, 1024)
    thumb = decode_webp(result.thumbnail.data)
    assert thumb.size == (128, 256)
    assert close_to(corner_colour(thumb, "TR"), RED)
    assert close_to(corner_colour(thumb, "BR"), GREEN)


def test_malformed_exif_is_ignored_not_fatal() -> None:
    data = encode(photo(300, 200), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\xff\xff\xff")
    result = process_image(data)
    assert (result.width, result.height) == (300, 200)


def test_outputs_carry_no_metadata() -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Camera maker"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(photo(1200, 900), "JPEG", exif=exif.tobytes(), icc_profile=srgb)
    assert "exif" in Image.open(io.BytesIO(data)).info
    result = process_image(data)
    for rendition in (result.preview, result.thumbnail):
        out = decode_webp(rendition.data)
        assert "exif" not in out.info
        assert "icc_profile" not in out.info
        assert "xmp" not in out.info
        # The RIFF container has no EXIF/ICCP/XMP chunk at all.
        for chunk in (b"EXIF", b"ICCP", b"XMP "):
            assert chunk not in rendition.data[:64] or chunk not in _riff_chunks(rendition.data)


def _riff_chunks(data: bytes) -> set[bytes]:
    chunks = set()
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        (length,) = struct.unpack("<I", data[i + 4 : i + 8])
        chunks.add(kind)
        i += 8 + length + (length & 1)
    return chunks


def test_non_srgb_profile_is_converted_and_dropped() -> None:
    # A LAB-based profile is not sRGB, so the pixels go through a colour transform; what
    # matters here is that it succeeds and no profile is left in the output.
    im = photo(400, 300)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    icc_not_srgb = icc.replace(b"sRGB", b"Odd!")
    result = process_image(encode(im, "PNG", icc_profile=icc_not_srgb))
    assert "ICCP" not in {c.decode() for c in _riff_chunks(result.preview.data)}


def test_garbage_icc_profile_does_not_reject_the_image() -> None:
    result = process_image(encode(photo(200, 100), "JPEG", icc_profile=b"not a profile at all" * 10))
    assert (result.width, result.height) == (200, 100)


def test_png_rgba_keeps_alpha() -> None:
    im = Image.new("RGBA", (600, 300), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((300, 0, 599, 299), fill=(10, 200, 30, 255))
    result = process_image(encode(im, "PNG"))
    assert result.format == "png"
    for rendition in (result.preview, result.thumbnail):
        out = decode_webp(rendition.data)
        assert out.mode == "RGBA"
        assert out.getpixel((2, out.height // 2))[3] == 0  # type: ignore[index]
        right = out.getpixel((out.width - 3, out.height // 2))
        assert isinstance(right, tuple)
        assert right[3] == 255 and close_to(right[:3], (10, 200, 30))


def test_fully_opaque_alpha_is_dropped() -> None:
    result = process_image(encode(photo(300, 200).convert("RGBA"), "PNG"))
    assert decode_webp(result.preview.data).mode == "RGB"


def test_webp_input() -> None:
    result = process_image(encode(photo(1600, 1200), "WEBP", quality=85))
    assert result.format == "webp"
    assert (result.width, result.height) == (1600, 1200)
    assert (result.preview.width, result.preview.height) == (1024, 768)


def test_webp_rgba_lossless_input_keeps_alpha() -> None:
    im = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((0, 0, 149, 299), fill=(255, 0, 0, 255))
    result = process_image(encode(im, "WEBP", lossless=True))
    out = decode_webp(result.preview.data)
    assert out.getpixel((10, 150))[3] == 255  # type: ignore[index]
    assert out.getpixel((290, 150))[3] == 0  # type: ignore[index]


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline as it is where libwebp cannot be loaded: Pillow decodes every WebP."""
    monkeypatch.setattr(pipeline, "decode_scaled", lambda *args: None)


WEBP_INPUTS = {
    "lossy-rgb": lambda: encode(photo(2304, 1728), "WEBP", quality=85),
    "lossless-rgba": lambda: encode(_with_alpha(photo(1500, 900)), "WEBP", lossless=True),
    "exif-orientation-6": lambda: encode(photo(1600, 1200), "WEBP", exif=_exif(6)),
    "xmp-orientation-8": lambda: encode(photo(1600, 1200), "WEBP", xmp=_xmp_orientation(8)),
    "icc-non-srgb": lambda: encode(photo(1200, 900), "WEBP", icc_profile=_renamed_srgb_profile()),
    "small": lambda: encode(photo(300, 200), "WEBP"),
}


def _with_alpha(im: Image.Image) -> Image.Image:
    im = im.convert("RGBA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    return im


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _xmp_orientation(orientation: int) -> bytes:
    return (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="%d"/>'
        b"</rdf:RDF></x:xmpmeta>" % orientation
    )


def _renamed_srgb_profile() -> bytes:
    # Not named sRGB, so the pipeline converts through it (as test_non_srgb_profile_... does).
    icc: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return icc.replace(b"sRGB", b"Odd!")


@pytest.mark.parametrize("make", WEBP_INPUTS.values(), ids=WEBP_INPUTS.keys())
def test_webp_scaled_decode_gives_what_pillow_gives(
    make: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """libwebp's own scaling must change memory, not the result: same sizes, same orientation
    (EXIF or XMP), same colour handling, pixels within rounding of Pillow's full-size path."""
    data = make()
    assert webp.available()
    scaled = process_image(data)
    with monkeypatch.context() as patch:
        _pillow_only(patch)
        full = process_image(data)
    assert (scaled.width, scaled.height) == (full.width, full.height)
    for ours, reference in ((scaled.preview, full.preview), (scaled.thumbnail, full.thumbnail)):
        assert (ours.width, ours.height) == (reference.width, reference.height)
        a, b = decode_webp(ours.data), decode_webp(reference.data)
        assert a.mode == b.mode
        assert _mean_difference(a, b) < 2.0
    assert blurhash_components(scaled.placeholder)[0] == pytest.approx(
        blurhash_components(full.placeholder)[0], abs=0.02
    )


def test_webp_is_decoded_at_the_preview_scale_by_libwebp() -> None:
    data = encode(photo(4100, 3000), "WEBP", quality=80)
    decoded = webp.decode_scaled(data, 1024, 50_000_000)
    assert decoded is not None
    assert decoded.size == (4100, 3000)
    assert decoded.image.size == (1025, 750)  # a factor of 4: still at least the 1024x749 preview
    assert decoded.image.mode == "RGB"


def test_webp_metadata_reaches_orientation_and_colour_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    icc = _renamed_srgb_profile()
    data = encode(photo(1600, 1200), "WEBP", icc_profile=icc, exif=_exif(6))
    seen: list[bytes | None] = []

    def spy(im: Image.Image, profile: bytes | None) -> Image.Image:
        seen.append(profile)
        return im

    monkeypatch.setattr(pipeline, "to_srgb", spy)
    result = process_image(data)
    assert seen == [icc]
    assert (result.width, result.height) == (1200, 1600)
    assert (result.preview.width, result.preview.height) == (768, 1024)


def test_webp_library_is_pillows_own_never_the_systems() -> None:
    pil = Path(Image.__file__).resolve().parent
    paths = webp._bundled_library_paths()
    assert paths, "Pillow's wheel bundles libwebp on Linux"
    assert all(p.resolve().is_relative_to(pil.parent) for p in paths)


def test_webp_falls_back_to_pillow_when_libwebp_cannot_be_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webp, "_bundled_library_paths", lambda: [Path("/nonexistent/libwebp.so")])
    webp._library.cache_clear()
    try:
        assert not webp.available()
        result = process_image(encode(photo(1600, 1200), "WEBP"))
        assert (result.preview.width, result.preview.height) == (1024, 768)
    finally:
        monkeypatch.undo()
        webp._library.cache_clear()
    assert webp.available()


def test_animated_webp_keeps_the_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in (RED, BLUE, GREEN)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert webp.decode_scaled(data, 1024, 50_000_000) is None  # Pillow composites the first frame
    preview = decode_webp(process_image(data).preview.data).convert("RGB")
    assert close_to(preview.getpixel((100, 50)), RED)  # type: ignore[arg-type]


def test_corrupt_webp_bitstream_is_not_an_image() -> None:
    data = bytearray(encode(photo(640, 480), "WEBP"))
    data[40:200] = bytes(160)  # the VP8 frame header and partitions, zeroed
    assert rejected(bytes(data)) == "not_an_image"


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in (RED, BLUE, GREEN)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    result = process_image(data)
    assert result.format == "gif"
    assert (result.width, result.height) == (200, 100)
    thumb = decode_webp(result.thumbnail.data).convert("RGB")
    assert close_to(thumb.getpixel((100, 50)), RED)  # type: ignore[arg-type]


def test_gif_with_transparency() -> None:
    im = Image.new("P", (100, 100), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    ImageDraw.Draw(im).rectangle((50, 0, 99, 99), fill=1)
    result = process_image(encode(im, "GIF", transparency=0))
    out = decode_webp(result.preview.data)
    assert out.mode == "RGBA"
    assert out.getpixel((10, 50))[3] == 0  # type: ignore[index]
    assert close_to(out.getpixel((90, 50)), (0, 0, 255, 255))  # type: ignore[arg-type]


def test_cmyk_jpeg_becomes_rgb() -> None:
    im = Image.new("CMYK", (400, 200), (0, 255, 255, 0))  # pure red in CMYK
    data = encode(im, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    result = process_image(data)
    out = decode_webp(result.preview.data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((200, 100)), RED)  # type: ignore[arg-type]


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    # Horizontal ramp over the whole 16-bit range.
    ramp = Image.linear_gradient("L").rotate(90, expand=True)  # dark left, bright right
    im16 = ramp.resize((512, 64)).point(lambda v: v * 257, "I").convert("I;16")
    data = encode(im16, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    result = process_image(data)
    out = decode_webp(result.preview.data).convert("L")
    left, middle, right = (out.getpixel((x, 32)) for x in (3, 256, 508))
    assert isinstance(left, int) and isinstance(middle, int) and isinstance(right, int)
    assert left < 20
    assert 100 < middle < 160  # a clipping conversion would make this 255
    assert right > 235


def test_palette_png_with_transparency() -> None:
    im = Image.new("P", (200, 200), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    ImageDraw.Draw(im).rectangle((100, 0, 199, 199), fill=1)
    result = process_image(encode(im, "PNG", transparency=0))
    out = decode_webp(result.preview.data)
    assert out.mode == "RGBA"
    assert out.getpixel((20, 100))[3] == 0  # type: ignore[index]
    assert close_to(out.getpixel((180, 100)), (0, 200, 0, 255))  # type: ignore[arg-type]


def test_palette_png_without_transparency_is_rgb() -> None:
    im = photo(300, 200).convert("P", palette=Image.Palette.ADAPTIVE)
    result = process_image(encode(im, "PNG"))
    assert decode_webp(result.preview.data).mode == "RGB"


def test_la_png_keeps_alpha() -> None:
    im = Image.new("LA", (200, 100), (0, 0))
    ImageDraw.Draw(im).rectangle((100, 0, 199, 99), fill=(220, 255))
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "LA"
    out = decode_webp(process_image(data).preview.data)
    assert out.mode == "RGBA"
    assert out.getpixel((20, 50))[3] == 0  # type: ignore[index]
    assert close_to(out.getpixel((180, 50)), (220, 220, 220, 255))  # type: ignore[arg-type]


def test_bilevel_and_greyscale_png() -> None:
    bilevel = Image.new("1", (64, 64), 0)
    ImageDraw.Draw(bilevel).rectangle((32, 0, 63, 63), fill=1)
    out = decode_webp(process_image(encode(bilevel, "PNG")).preview.data).convert("L")
    assert out.getpixel((5, 30)) == 0 or out.getpixel((5, 30)) < 10  # type: ignore[operator]
    assert out.getpixel((60, 30)) > 245  # type: ignore[operator]
    grey = process_image(encode(photo(200, 100).convert("L"), "JPEG"))
    assert decode_webp(grey.preview.data).mode == "RGB"


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("I", (0, 65535), (0, 255)),  # 16-bit content in a 32-bit mode
        ("I", (0, 255), (0, 255)),
        ("I", (-1000, 1000), (0, 255)),  # unknown range: stretched
        ("F", (0.0, 1.0), (0, 255)),
        ("F", (0.0, 255.0), (0, 255)),
        ("I;16", (0, 65535), (0, 255)),
        ("I;16B", (0, 65535), (0, 255)),
    ],
)
def test_wide_modes_are_mapped_to_eight_bits(
    mode: str, values: tuple[float, float], expected: tuple[int, int]
) -> None:
    im = Image.new(mode, (2, 1))
    im.putpixel((0, 0), values[0])
    im.putpixel((1, 0), values[1])
    out = normalise_mode(im)
    assert out.mode == "L"
    assert (out.getpixel((0, 0)), out.getpixel((1, 0))) == expected


def test_constant_wide_image_does_not_divide_by_zero() -> None:
    out = normalise_mode(Image.new("I", (3, 3), -5))
    assert out.mode == "L" and out.getextrema() == (0, 0)


# ---------------------------------------------------------------------------------------------
# the 48 MP JPEG: decoded at reduced scale, memory far below a full decode

# ru_maxrss survives exec on Linux (it would report this test process's own peak), so the probe
# reads the fresh process's VmHWM, reset just before the call through /proc/self/clear_refs.
_MEMORY_PROBE = """
import json, sys, time
from imagegen.imaging import process_image

def hwm_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

data = open(sys.argv[1], "rb").read()
process_image(open(sys.argv[2], "rb").read())  # warm-up: plugins and codecs loaded
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset the peak to the current resident size
before = hwm_kib()
start = time.perf_counter()
result = process_image(data, max_bytes=64 * 1024 * 1024)
elapsed = time.perf_counter() - start
after = hwm_kib()
print(json.dumps({"before_kib": before, "after_kib": after, "seconds": elapsed,
                  "size": [result.width, result.height],
                  "preview": [result.preview.width, result.preview.height]}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_48_megapixel_jpeg_decodes_reduced(tmp_path: Path) -> None:
    big = photo(8000, 6000)
    path = tmp_path / "big.jpg"
    big.save(path, "JPEG", quality=85)
    del big
    small = tmp_path / "small.jpg"
    photo(200, 100).save(small, "JPEG")

    report = _probe_memory(path, small)
    assert report["size"] == [8000, 6000]
    assert report["preview"] == [1024, 768]
    full_decode_mib = 8000 * 6000 * 4 / 2**20  # Pillow keeps RGB in 4 bytes per pixel: 183 MiB
    growth_mib = (report["after_kib"] - report["before_kib"]) / 1024
    assert growth_mib < full_decode_mib / 4, report
    assert report["seconds"] < 5, report


def _probe_memory(path: Path, small: Path) -> dict[str, Any]:
    """_MEMORY_PROBE in a fresh interpreter: the big image's memory growth after the small one warmed up."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "shared")}
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path), str(small)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_12_megapixel_webp_decodes_reduced(tmp_path: Path) -> None:
    """Pillow decodes WebP at full size with about 16 bytes per pixel at the peak (190 MiB here);
    libwebp's scaled decode needs a fraction of the 4 bytes per pixel of one full-size image."""
    path = tmp_path / "big.webp"
    photo(4000, 3000).save(path, "WEBP", quality=85)
    small = tmp_path / "small.webp"
    photo(200, 100).save(small, "WEBP")

    report = _probe_memory(path, small)
    assert report["size"] == [4000, 3000]
    assert report["preview"] == [1024, 768]
    full_decode_mib = 4000 * 3000 * 4 / 2**20  # one full-size image in Pillow: 46 MiB
    growth_mib = (report["after_kib"] - report["before_kib"]) / 1024
    assert growth_mib < full_decode_mib / 2, report


# ---------------------------------------------------------------------------------------------
# rejections


def test_zero_bytes() -> None:
    assert rejected(b"") == "not_an_image"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file named photo.jpg\n",
        b"<!DOCTYPE html><html><body><img src=x></body></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect/></svg>',
        b"%PDF-1.7\n",
        b"PK\x03\x04zipfile",
        b"\x00" * 64,
    ],
)
def test_not_images(data: bytes) -> None:
    assert rejected(data) == "not_an_image"


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("BMP", {}), ("TIFF", {}), ("ICO", {}), ("PPM", {}), ("QOI", {}), ("JPEG2000", {})],
)
def test_other_real_formats_are_unsupported(fmt: str, params: dict[str, object]) -> None:
    assert rejected(encode(photo(64, 64), fmt, **params)) == "unsupported_format"


def _pillow_writes_and_reads() -> list[tuple[str, str, str | None]]:
    """(format, mode, what Pillow reads it back as) for every format and mode Pillow can write."""
    Image.init()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IM and others are deprecated formats: still real images
        return _write_and_read_back()


def _write_and_read_back() -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    for fmt in sorted(Image.SAVE):
        for mode in ("RGB", "RGBA", "L", "LA", "1", "P", "I;16", "I", "F", "CMYK"):
            try:
                data = encode(photo(48, 32).convert(mode), fmt)
            except Exception:  # this format cannot write this mode, or needs an outside program
                continue
            try:
                with Image.open(io.BytesIO(data)) as back:
                    read_as: str | None = back.format
            except Exception:
                read_as = None  # written, but not an image Pillow can open (PDF, Palm)
            found.append((fmt, mode, read_as))
    return found


ACCEPTED_AS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


@pytest.mark.parametrize(
    ("fmt", "mode", "read_as"), _pillow_writes_and_reads(), ids=lambda v: str(v).replace(";", "")
)
def test_every_format_pillow_writes_ends_the_same_way_whatever_the_mode(
    fmt: str, mode: str, read_as: str | None
) -> None:
    """A real image in a format we do not take is always unsupported_format, never sometimes
    not_an_image (a TGA once passed as a CUR icon in RGB and as garbage in L); what Pillow
    cannot open back (PDF, Palm) is not an image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = encode(photo(48, 32).convert(mode), fmt)
    if read_as in ACCEPTED_AS:
        assert process_image(data).format == ACCEPTED_AS[read_as]
    elif read_as is None:
        assert rejected(data) == "not_an_image"
    else:
        assert rejected(data) == "unsupported_format"


@pytest.mark.parametrize(
    "data",
    [
        b"P7 332\n#XVVERSION:Version_2.28\n",  # XV thumbnail
        b"/* XPM */\nstatic char *x[] = {",
        b"\x59\xa6\x6a\x95" + b"\x00" * 28,  # Sun raster
        b"SIMPLE  =                    T" + b" " * 50,  # FITS
        b"8BPS\x00\x01" + b"\x00" * 26,  # Photoshop
    ],
    ids=["xv", "xpm", "sun", "fits", "psd"],
)
def test_formats_pillow_only_reads_are_unsupported(data: bytes) -> None:
    assert rejected(data) == "unsupported_format"


def test_polyglot_png_followed_by_html_is_a_png() -> None:
    data = encode(photo(64, 48), "PNG") + b"<!doctype html><script>alert(1)</script>"
    assert process_image(data).format == "png"


def test_heic_container_is_unsupported_not_garbage() -> None:
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert rejected(head + b"\x00" * 100) == "unsupported_format"


def test_too_large_is_checked_first() -> None:
    data = encode(photo(64, 64), "PNG")
    assert rejected(data, max_bytes=len(data) - 1) == "too_large"
    assert process_image(data, max_bytes=len(data)).size_bytes == len(data)
    assert rejected(b"x" * 101, max_bytes=100) == "too_large"


def test_truncated_jpeg() -> None:
    data = encode(photo(640, 480), "JPEG")
    assert rejected(data[: len(data) // 2]) == "not_an_image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_and_webp_and_gif() -> None:
    for fmt in ("PNG", "WEBP", "GIF"):
        data = encode(photo(640, 480), fmt)
        assert rejected(data[: len(data) // 2]) == "not_an_image", fmt


def test_corrupt_png_crc() -> None:
    data = bytearray(encode(photo(64, 64), "PNG"))
    data[40] ^= 0xFF  # inside the first IDAT (or the chunk after IHDR)
    assert rejected(bytes(data)) == "not_an_image"


def test_jpeg_header_without_frame() -> None:
    assert rejected(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xda") == (
        "not_an_image"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8" + b"\xff\xe1\x00\x02" * (2 * 1024 * 1024),  # millions of empty segments
        b"\xff\xd8" + b"\xff" * (8 * 1024 * 1024),  # nothing but fill bytes
        b"\xff\xd8" + b"\xff\x00" * (4 * 1024 * 1024),  # nothing but stuffed zeros (junk)
        b"\xff\xd8" + b"\x00" * (8 * 1024 * 1024),  # nothing but stray bytes
    ],
    ids=["empty-segments", "fill-bytes", "stuffed-zeros", "stray-bytes"],
)
def test_hostile_jpeg_marker_chains_are_cheap(data: bytes) -> None:
    start = time.perf_counter()
    assert rejected(data) == "not_an_image"
    assert time.perf_counter() - start < 0.25  # a Python walk of the whole chain takes seconds


def _png_chunk_flood() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 25 * 8)
    flood = png_chunk(b"abCd", b"") * (700 * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + flood
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def _gif_comment_flood() -> bytes:
    screen = b"GIF89a" + struct.pack("<HH", 8, 8) + b"\x00\x00\x00"
    comments = b"\x21\xfe" + b"\x01a" * (2 * 1024 * 1024) + b"\x00"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, 8, 8) + b"\x00\x02\x02\x44\x01\x00\x3b"
    return screen + comments + frame


@pytest.mark.parametrize("make", [_png_chunk_flood, _gif_comment_flood], ids=["png-chunks", "gif-sub-blocks"])
def test_hostile_chunk_floods_are_refused_cheaply(make: Callable[[], bytes]) -> None:
    data = make()
    assert len(data) < 10 * 1024 * 1024
    start = time.perf_counter()
    assert rejected(data) == "not_an_image"
    # Left to Pillow, these cost it seconds of Python per upload.
    assert time.perf_counter() - start < 0.5


def test_gif_with_comment_and_loop_extensions_is_accepted() -> None:
    frames = [Image.new("RGB", (40, 20), colour) for colour in (RED, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0, comment=b"x" * 2000)
    assert process_image(data).width == 40


def _jpeg_segment_ends(data: bytes) -> dict[int, int]:
    """marker -> offset just past the first segment with that marker (up to the scan)."""
    ends: dict[int, int] = {}
    i = 2
    while data[i + 1] != 0xDA:
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        ends.setdefault(data[i + 1], end)
        i = end
    ends[0xDA] = i  # the start of the scan
    return ends


def _jpeg_with(insert_after: int, junk: bytes, size: tuple[int, int] = (300, 200)) -> bytes:
    data = encode(photo(*size), "JPEG", quality=85)
    at = _jpeg_segment_ends(data)[insert_after]
    return data[:at] + junk + data[at:]


# Files libjpeg (and so Pillow and every browser) shows: its marker reader skips any bytes up to
# the next 0xFF, takes any run of 0xFF as fill and discards FF 00 (jdmarker.c, next_marker).
LENIENT_JPEGS = {
    # stray bytes between two segments (a quantisation table and the frame header)
    "stray-bytes-between-segments": lambda: _jpeg_with(0xDB, b"\x00\x13\x37 junk"),
    # padding after the JFIF APP0 segment, as some camera firmware leaves it
    "junk-after-app0": lambda: _jpeg_with(0xE0, b"\x00" * 16),
    # 0xFF fill bytes and stuffed FF 00 pairs between segments
    "ff-fill-and-stuffed-zeros": lambda: _jpeg_with(0xDB, b"\xff\x00" * 3 + b"\xff" * 5),
    # plain 0xFF fill (accepted before too)
    "ff-fill": lambda: _jpeg_with(0xC0, b"\xff" * 7),
    # junk right before the scan
    "junk-before-sos": lambda: _jpeg_with(0xDA, b"padding\x00\x00"),
}


@pytest.mark.parametrize("make", LENIENT_JPEGS.values(), ids=LENIENT_JPEGS.keys())
def test_jpegs_the_decoder_reads_are_accepted(make: Callable[[], bytes]) -> None:
    data = make()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.size == (300, 200)
    out = process_image(data)
    assert (out.format, out.width, out.height) == ("jpeg", 300, 200)
    assert decode_webp(out.preview.data).size == (300, 200)


def test_jpeg_bomb_behind_stray_bytes_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(_jpeg_with(0xDB, b"\x00junk\xff\x00", size=(64, 64)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)

    def no_decoder(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decoder was created for a bomb")

    monkeypatch.setattr(Image, "open", no_decoder)
    assert rejected(bytes(data)) == "decompression_bomb"


def test_jpeg_with_many_app_segments_is_still_accepted() -> None:
    data = encode(photo(64, 48), "JPEG")
    padded = data[:2] + b"\xff\xe9\x00\x06pad!" * 200 + data[2:]
    assert process_image(padded).width == 64


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def test_png_header_claiming_30000_squared_is_refused_quickly() -> None:
    data = _png_claiming(30000, 30000)
    assert len(data) < 100
    start = time.perf_counter()
    assert rejected(data) == "decompression_bomb"
    assert time.perf_counter() - start < 0.1


def test_bomb_below_pillows_own_limit_is_still_refused() -> None:
    # 60 MP is under Pillow's default warning threshold (~89 MP) but over our 50 MP default.
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS > 60_000_000
    assert rejected(_png_claiming(10000, 6000)) == "decompression_bomb"


def test_max_pixels_parameter() -> None:
    data = encode(photo(100, 100), "PNG")
    assert rejected(data, max_pixels=9_999) == "decompression_bomb"
    assert process_image(data, max_pixels=10_000).width == 100


def test_webp_vp8x_bomb_is_refused_before_pillow_allocates() -> None:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    start = time.perf_counter()
    assert rejected(data) == "decompression_bomb"
    assert time.perf_counter() - start < 0.1


def test_jpeg_sof_bomb() -> None:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65000, 65000, 1) + b"\x01\x11\x00"
    data = b"\xff\xd8" + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + b"\xff\xd9"
    assert rejected(data) == "decompression_bomb"


def test_gif_screen_bomb() -> None:
    data = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b"\x3b"
    assert rejected(data) == "decompression_bomb"


def test_gif_first_frame_larger_than_screen_is_checked() -> None:
    # A 1x1 logical screen whose first image descriptor claims 60000x60000.
    descriptor = b"\x2c" + struct.pack("<HHHH", 0, 0, 60000, 60000) + b"\x00"
    data = b"GIF89a" + struct.pack("<HH", 1, 1) + b"\x00\x00\x00" + descriptor + b"\x02\x02\x44\x01\x00\x3b"
    assert rejected(data) == "decompression_bomb"


def test_pillows_own_bomb_warning_becomes_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(photo(40, 40), "PNG")  # 1600 px
    filters_before = list(warnings.filters)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 > limit: Pillow only warns
    assert rejected(data) == "decompression_bomb"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1600 > 2 x limit: Pillow raises
    assert rejected(data) == "decompression_bomb"
    assert warnings.filters == filters_before  # nothing leaked into the process's filters


def test_zero_dimension_header() -> None:
    assert rejected(_png_claiming(0, 10)) == "not_an_image"


# ---------------------------------------------------------------------------------------------
# BlurHash


def decode_base83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + BASE83.index(char)
    return value


def blurhash_shape(placeholder: str) -> tuple[int, int]:
    assert placeholder and set(placeholder) <= set(BASE83)
    flag = decode_base83(placeholder[0])
    nx, ny = flag % 9 + 1, flag // 9 + 1
    assert len(placeholder) == 4 + 2 * nx * ny
    return nx, ny


def blurhash_components(placeholder: str) -> list[tuple[float, float, float]]:
    nx, ny = blurhash_shape(placeholder)
    maximum = (decode_base83(placeholder[1]) + 1) / 166
    dc = decode_base83(placeholder[2:6])

    def linear(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    out = [(linear(dc >> 16), linear((dc >> 8) & 255), linear(dc & 255))]
    for k in range(1, nx * ny):
        value = decode_base83(placeholder[4 + 2 * k : 6 + 2 * k])
        quantised = (value // 361, (value // 19) % 19, value % 19)
        r, g, b = (math.copysign(((q - 9) / 9) ** 2, q - 9) * maximum for q in quantised)
        out.append((r, g, b))
    return out


def test_placeholder_shape_landscape_and_portrait() -> None:
    assert blurhash_shape(process_image(encode(photo(400, 300), "JPEG")).placeholder) == (4, 3)
    assert blurhash_shape(process_image(encode(photo(300, 400), "JPEG")).placeholder) == (3, 4)


def test_blurhash_of_flat_colour_is_that_colour() -> None:
    text = blurhash_encode(Image.new("RGB", (32, 24), (200, 100, 50)), 4, 3)
    dc = decode_base83(text[2:6])
    assert (dc >> 16, (dc >> 8) & 255, dc & 255) == (200, 100, 50)
    # The discrete cosine sums of the reference algorithm leak a little into AC; only a little.
    assert all(abs(v) < 0.06 for comp in blurhash_components(text)[1:] for v in comp)


def test_blurhash_horizontal_edge_shows_in_the_first_ac_component() -> None:
    im = Image.new("RGB", (32, 24), (0, 0, 0))
    ImageDraw.Draw(im).rectangle((16, 0, 31, 23), fill=(255, 255, 255))
    comps = blurhash_components(blurhash_encode(im, 4, 3))
    first_horizontal = comps[1]  # i=1, j=0
    assert all(v < -0.2 for v in first_horizontal)  # dark left, bright right
    first_vertical = comps[4]  # i=0, j=1
    assert all(abs(v) < abs(h) / 5 for v, h in zip(first_vertical, first_horizontal, strict=True))


def test_blurhash_rejects_bad_component_counts() -> None:
    with pytest.raises(ValueError):
        blurhash_encode(Image.new("RGB", (4, 4)), 0, 3)
    with pytest.raises(ValueError):
        blurhash_encode(Image.new("RGB", (4, 4)), 4, 10)


def test_placeholder_of_transparent_image_uses_white() -> None:
    result = process_image(encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG"))
    dc = decode_base83(result.placeholder[2:6])
    assert (dc >> 16, (dc >> 8) & 255, dc & 255) == (255, 255, 255)


# ---------------------------------------------------------------------------------------------
# property tests: hostile bytes only ever give a ProcessedImage or an ImageRejected

SAMPLES = {
    fmt: encode(photo(96, 64), fmt, **params)
    for fmt, params in {
        "JPEG": {
            "quality": 80,
            "exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03"
            b"\x00\x00\x00\x01\x00\x06\x00\x00",
        },
        "PNG": {},
        "WEBP": {},
        "GIF": {},
    }.items()
}
SAMPLES["PNG_RGBA"] = encode(photo(64, 48).convert("RGBA"), "PNG")
SAMPLES["JPEG_PROGRESSIVE"] = encode(photo(96, 64), "JPEG", progressive=True)


def only_processed_or_rejected(data: bytes) -> None:
    try:
        result = process_image(data)
    except ImageRejected as exc:
        assert exc.reason in ImageRejected.REASONS
    else:
        assert isinstance(result, ProcessedImage)
        assert result.preview.data[:4] == b"RIFF"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    only_processed_or_rejected(data)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.binary(max_size=512))
def test_valid_magic_then_random_bytes(fmt: str, tail: bytes) -> None:
    sample = SAMPLES[fmt]
    only_processed_or_rejected(sample[:16] + tail)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_random_prefixes_of_valid_images(fmt: str, data: st.DataObject) -> None:
    sample = SAMPLES[fmt]
    cut = data.draw(st.integers(min_value=0, max_value=len(sample)))
    only_processed_or_rejected(sample[:cut])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_random_corruption_of_valid_images(fmt: str, data: st.DataObject) -> None:
    sample = bytearray(SAMPLES[fmt])
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(sample) - 1), st.integers(0, 255)), max_size=8))
    for index, value in flips:
        sample[index] = value
    only_processed_or_rejected(bytes(sample))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
