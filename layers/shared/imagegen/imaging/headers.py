"""Pixel dimensions read from the container header by hand, before Pillow creates any decoder.

A tiny file that claims to be 30000x30000 costs microseconds and no memory here (Pillow's WebP plugin,
for one, allocates its canvas when the file is opened, so checking after ``Image.open`` would be too
late). Every walk over segments, chunks or blocks is capped, so hostile files cannot cost seconds.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Final

from imagegen.errors import ImageRejected
from imagegen.imaging.sniff import not_an_image

# SOFn markers carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range.
_JPEG_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
# Real files have a handful of segments (APPn, DQT, DHT...) before the frame header. The cap keeps
# a hostile chain of 2.6 million empty segments from costing seconds of Python per upload.
_JPEG_MAX_SEGMENTS_BEFORE_FRAME: Final = 1024
# Same for the stuffed pairs (FF 00) that libjpeg discards as junk between segments: a file made
# of nothing else would be 5 million turns of the loop below. Real files have none or a few.
_JPEG_MAX_STUFFED_BEFORE_FRAME: Final = 65_536
_JPEG_FILL: Final = re.compile(rb"\xff+")
# Same idea for PNG chunks (a 10 MiB file with 8 KiB IDAT chunks has ~1300) and for GIF
# extension sub-blocks before the first frame (comments, XMP: a few hundred at most).
_PNG_MAX_CHUNKS: Final = 20_000
_GIF_MAX_BLOCKS_BEFORE_FRAME: Final = 4_096


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The frame size from the first SOFn, found the way libjpeg finds markers (``next_marker``
    in jdmarker.c): bytes other than 0xFF between segments are skipped, any run of 0xFF is fill,
    and FF 00 is discarded. Decoders and browsers show such files, so the walk is no stricter;
    it finds the same frame header the decoder will use, so the bomb check still applies."""
    i = 2
    n = len(data)
    segments = stuffed = 0
    while True:
        start = data.find(b"\xff", i)  # skips stray bytes (C speed)
        if start < 0:
            break
        fill = _JPEG_FILL.match(data, start)
        assert fill is not None  # data[start] is 0xFF
        i = fill.end()
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0x00:
            stuffed += 1
            if stuffed > _JPEG_MAX_STUFFED_BEFORE_FRAME:
                raise not_an_image("too much junk between JPEG segments before the frame header")
            continue
        segments += 1
        if segments > _JPEG_MAX_SEGMENTS_BEFORE_FRAME:
            raise not_an_image("too many JPEG segments before the frame header")
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):
            raise not_an_image("JPEG scan or end before any frame header")
        if i + 2 > n:
            break
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise not_an_image("JPEG segment length is invalid")
        if marker in _JPEG_SOF_MARKERS:
            if i + 7 > n:
                break
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            return width, height
        i += length
    raise not_an_image("JPEG ends before its frame header")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise not_an_image("PNG without an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    # Pillow walks the chunk list in Python; a file of 800k empty chunks costs it seconds.
    i, n, chunks = 8, len(data), 0
    while i + 8 <= n:
        chunks += 1
        if chunks > _PNG_MAX_CHUNKS:
            raise not_an_image("too many PNG chunks")
        if data[i + 4 : i + 8] == b"IEND":
            break
        i += 12 + int.from_bytes(data[i : i + 4], "big")
    return int(width), int(height)


def _gif_size(data: bytes) -> tuple[int, int]:
    """The canvas Pillow will allocate: the screen, grown to hold the first frame."""
    if len(data) < 13:
        raise not_an_image("GIF shorter than its header")
    width, height = struct.unpack("<HH", data[6:10])
    flags = data[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # skip the global colour table
    n = len(data)
    budget = _GIF_MAX_BLOCKS_BEFORE_FRAME  # blocks and sub-blocks alike
    while i < n:  # past the end: truncated, and Pillow decides whether anything is left to show
        block = data[i]
        if block == 0x2C:  # image descriptor: left, top, width, height
            if i + 9 > n:
                break
            left, top, frame_w, frame_h = struct.unpack("<HHHH", data[i + 1 : i + 9])
            return max(width, left + frame_w), max(height, top + frame_h)
        if block != 0x21:  # a trailer or junk: Pillow will find no frame to show
            break
        i += 2  # introducer and label, then sub-blocks up to an empty one
        while i < n and data[i] != 0:
            i += 1 + data[i]
            budget -= 1
            if budget < 0:
                raise not_an_image("too many GIF blocks before the first image")
        i += 1
    return int(width), int(height)


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise not_an_image("WebP without a readable VP8/VP8L/VP8X header")


HEADER_PARSERS: Final[dict[str, Callable[[bytes], tuple[int, int]]]] = {
    "jpeg": _jpeg_size,
    "png": _png_size,
    "gif": _gif_size,
    "webp": _webp_size,
}


def check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise not_an_image(f"image claims {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            "decompression_bomb", f"{width}x{height} is more than the {max_pixels} pixels allowed"
        )
