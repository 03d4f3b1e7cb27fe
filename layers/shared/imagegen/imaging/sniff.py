"""What the bytes are: the format from magic bytes only, never from a name or a declared type."""

from __future__ import annotations

import re
import struct
from typing import Final

from imagegen.errors import ImageRejected

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Image formats we recognise but do not accept. Seeing one means "a real image, wrong format"
# (unsupported_format) rather than "not an image"; no decoder is involved in deciding that. The
# rule for what counts: every format Pillow can write and read back, whatever the mode it was
# written in (tests/unit/test_imaging.py walks Pillow's list), plus other well-known ones.
_OTHER_IMAGE_SIGNATURES: Final[tuple[tuple[int, bytes], ...]] = (
    (0, b"BM"),  # BMP
    (0, b"BLP1"),  # Blizzard texture
    (0, b"BLP2"),
    (0, b"DanM"),  # Microsoft Paint (MSP)
    (0, b"LinS"),
    (0, b"%!PS"),  # (Encapsulated) PostScript, which Pillow opens as an image
    (0, b"\xc5\xd0\xd3\xc6"),  # EPS with a DOS binary header
    (0, b"Image type:"),  # IFUNC/PIL "IM"
    (0, b"Image size (x*y):"),
    (0, b"/* XPM */"),
    (0, b"\x59\xa6\x6a\x95"),  # Sun raster
    (0, b"SIMPLE  ="),  # FITS
    (0, b"\xb1\x68\xde\x3a"),  # DCX (multi-page PCX)
    (0, b"FTEX"),  # Independence War texture
    (0, b"\x80\xe8\x00\x00"),  # Pixar
    (0, b"II*\x00"),  # TIFF little-endian
    (0, b"MM\x00*"),  # TIFF big-endian
    (0, b"II+\x00"),  # BigTIFF
    (0, b"MM\x00+"),
    (0, b"\x00\x00\x01\x00"),  # ICO
    (0, b"\x00\x00\x02\x00"),  # CUR
    (0, b"8BPS"),  # Photoshop
    (0, b"qoif"),  # QOI
    (0, b"DDS "),  # DirectDraw surface
    (0, b"icns"),  # Apple icon
    (0, b"\xff\x4f\xff\x51"),  # JPEG 2000 codestream
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n"),  # JPEG 2000 (JP2)
    (0, b"\xff\x0a"),  # JPEG XL codestream
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n"),  # JPEG XL container
    (0, b"\x01\xda"),  # SGI
    (0, b"gimp xcf"),
    (0, b"\x76\x2f\x31\x01"),  # OpenEXR
    (0, b"#?RADIANCE"),
)
# ISO-BMFF brands of image formats (AVIF, HEIC/HEIF), found in the "ftyp" box at offset 4.
_ISOBMFF_IMAGE_BRANDS: Final = frozenset(
    {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
)


# Netpbm: "P1".."P7" (and Pillow's PFM "Pf"), then whitespace, e.g. "P6\n640 480\n255\n".
_NETPBM: Final = re.compile(rb"P[1-7fF][ \t\r\n]")
# X BitMap: C source, "#define name_width 16" then "#define name_height 16" (Pillow's own test).
_XBM: Final = re.compile(
    rb"\s*#define[ \t]+\S*_width[ \t]+[0-9]+[ \t]*[\r\n]+#define[ \t]+\S*_height[ \t]+[0-9]+"
)
# BITMAPINFOHEADER sizes of a headerless BMP ("DIB"), as Pillow accepts them.
_DIB_HEADER_SIZES: Final = frozenset({12, 40, 52, 56, 64, 108, 124})
_TGA_FOOTER: Final = b"TRUEVISION-XFILE.\x00"
_SPIDER_FORMS: Final = frozenset({1, 3, -11, -12, -21, -22})
_SPIDER_INTS: Final = (1, 2, 5, 12, 13, 22, 23)


def not_an_image(detail: str) -> ImageRejected:
    return ImageRejected("not_an_image", detail)


def sniff_format(head: bytes) -> str | None:
    """The accepted format the magic bytes announce ("jpeg", "png", "webp", "gif"), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    return None


def _is_dib(head: bytes) -> bool:
    """A BMP without its file header: a known info-header size, then one colour plane."""
    if len(head) < 16:
        return False
    size = int.from_bytes(head[0:4], "little")
    if size not in _DIB_HEADER_SIZES:
        return False
    planes_at = 8 if size == 12 else 12  # the old OS/2 core header has 16-bit width and height
    return int.from_bytes(head[planes_at : planes_at + 2], "little") == 1


def _is_pcx(head: bytes) -> bool:
    # Manufacturer 10, a known version, RLE (or none), a bit depth PCX has.
    return (
        len(head) >= 4
        and head[0] == 10
        and head[1] in (0, 2, 3, 4, 5)
        and head[2] in (0, 1)
        and head[3] in (1, 2, 4, 8)
    )


def _is_tga(data: bytes) -> bool:
    """TGA has no magic: the version 2 footer, or a header whose fields all hold values TGA has."""
    if data.endswith(_TGA_FOOTER):
        return True
    if len(data) < 18:
        return False
    colormap_type, image_type, depth = data[1], data[2], data[16]
    width, height = struct.unpack("<HH", data[12:16])
    return (
        colormap_type in (0, 1)
        and image_type in (1, 2, 3, 9, 10, 11)
        and depth in (1, 8, 15, 16, 24, 32)
        and width > 0
        and height > 0
        and (colormap_type == 1 or data[3:8] == b"\x00" * 5)
    )


def _is_spider(head: bytes) -> bool:
    """SPIDER (cryo-EM) has no magic: a header of floats with integral, consistent values."""
    if len(head) < 92:
        return False
    for order in (">", "<"):
        h = (0.0, *struct.unpack(order + "23f", head[:92]))  # 1-based, as the format documents it
        integral = (h[i] == h[i] and abs(h[i]) < 2**31 and h[i] == int(h[i]) for i in _SPIDER_INTS)
        if not all(integral):  # NaN and infinities included
            continue
        labrec, labbyt, lenbyt = int(h[13]), int(h[22]), int(h[23])
        if int(h[5]) in _SPIDER_FORMS and labbyt == labrec * lenbyt and labbyt > 0:
            return True
    return False


def _looks_like_other_image(data: bytes) -> bool:
    head = data[:512]
    for offset, signature in _OTHER_IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return True
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _ISOBMFF_IMAGE_BRANDS:
        return True
    if head[20:24] == b"GIMP" and int.from_bytes(head[0:4], "big") >= 20:  # GIMP brush
        return True
    return bool(
        _NETPBM.match(head)
        or _XBM.match(head)
        or _is_dib(head)
        or _is_pcx(head)
        or _is_spider(head)
        or _is_tga(data)
    )


def classify(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes is more than the {max_bytes} allowed")
    if not data:
        raise not_an_image("empty file")
    fmt = sniff_format(data[:16])
    if fmt is not None:
        return fmt
    if _looks_like_other_image(data):
        raise ImageRejected("unsupported_format", "only JPEG, PNG, WebP and GIF are accepted")
    raise not_an_image("unrecognised content")
