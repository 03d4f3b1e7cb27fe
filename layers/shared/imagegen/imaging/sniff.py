"""What the bytes are: the format from magic bytes only, never from a name or a declared type."""

from __future__ import annotations

from typing import Final

from imagegen.errors import ImageRejected

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Image formats we recognise but do not accept. Seeing one means "a real image, wrong format"
# (unsupported_format) rather than "not an image"; no decoder is involved in deciding that.
_OTHER_IMAGE_SIGNATURES: Final[tuple[tuple[int, bytes], ...]] = (
    (0, b"BM"),  # BMP
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


def _looks_like_other_image(head: bytes) -> bool:
    for offset, signature in _OTHER_IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return True
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _ISOBMFF_IMAGE_BRANDS:
        return True
    # Netpbm: "P1".."P7" then whitespace, e.g. "P6\n640 480\n255\n".
    return len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n"


def classify(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes is more than the {max_bytes} allowed")
    if not data:
        raise not_an_image("empty file")
    fmt = sniff_format(data[:16])
    if fmt is not None:
        return fmt
    if _looks_like_other_image(data[:32]):
        raise ImageRejected("unsupported_format", "only JPEG, PNG, WebP and GIF are accepted")
    raise not_an_image("unrecognised content")
