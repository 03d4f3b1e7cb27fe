"""Thumbnail pipeline: bytes of an upload (or a generated image) in, WebP renditions out.

The input is hostile until proven otherwise, so the order of work matters:

1. the format is recognised from magic bytes only (never from a name or a declared type);
2. the pixel dimensions are read from the container header by hand and checked against
   ``max_pixels`` before Pillow creates any decoder, so a tiny file that claims to be
   30000x30000 costs microseconds and no memory (Pillow's WebP plugin, for one, allocates its
   canvas when the file is opened, so checking after ``Image.open`` would be too late);
3. exactly one decode happens, at reduced size where the codec allows it (JPEG DCT scaling via
   ``Image.draft``), and the thumbnail is derived from the preview, never from a second decode;
4. every Pillow failure becomes :class:`~imagegen.errors.ImageRejected`; nothing else escapes.

This module is a pure function of bytes: no AWS, no I/O, no global Pillow settings changed.
"""

from __future__ import annotations

import functools
import io
import math
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from PIL import Image

from imagegen.errors import ImageRejected

if TYPE_CHECKING:
    from PIL import ImageCms

PREVIEW_MAX_SIDE: Final = 1024
THUMBNAIL_MAX_SIDE: Final = 256
WEBP_QUALITY: Final = 80
# WebP encoder effort (libwebp "method", 0..6). For the 1024 px preview, method 2 takes half the
# time of method 4 (about 30 ms against 65 ms on a 1024x768 photo) for files about 6% larger at
# the same PSNR; methods 3 and 4 cost the same. The 256 px thumbnail is the rendition fetched
# most (grids, lists) and costs a few ms at method 4, so it gets the smaller file.
# Measurements: docs/performance.md ("Thumbnails").
PREVIEW_WEBP_METHOD: Final = 2
THUMBNAIL_WEBP_METHOD: Final = 4
# Box-reduce by the integer part of the ratio, then resample the remaining < 2x with bicubic
# (what libvips does too). On a 4000x3000 PNG that is 28 ms instead of 90 ms, 46.7 dB PSNR from
# a full bicubic resample: no visible difference.
REDUCING_GAP: Final = 1.0
BLURHASH_SIDE: Final = 32

_FORMAT_TO_PIL: Final[dict[str, str]] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range.
_JPEG_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
# Real files have a handful of segments (APPn, DQT, DHT...) before the frame header. The cap keeps
# a hostile chain of 2.6 million empty segments from costing seconds of Python per upload.
_JPEG_MAX_SEGMENTS_BEFORE_FRAME: Final = 1024
_JPEG_FILL: Final = re.compile(rb"\xff+")
# Same idea for PNG chunks (a 10 MiB file with 8 KiB IDAT chunks has ~1300) and for GIF
# extension sub-blocks before the first frame (comments, XMP: a few hundred at most).
_PNG_MAX_CHUNKS: Final = 20_000
_GIF_MAX_BLOCKS_BEFORE_FRAME: Final = 4_096

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

_EXIF_ORIENTATION_TAG: Final = 0x0112
_ORIENTATION_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Rendition:
    name: str
    data: bytes
    width: int
    height: int
    content_type: str = "image/webp"


@dataclass(frozen=True)
class ProcessedImage:
    format: str
    width: int
    height: int
    size_bytes: int
    thumbnail: Rendition
    preview: Rendition
    placeholder: str


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


# --------------------------------------------------------------------------------------------
# Header parsing: dimensions without a decoder.


def _not_an_image(detail: str) -> ImageRejected:
    return ImageRejected("not_an_image", detail)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    n = len(data)
    for _ in range(_JPEG_MAX_SEGMENTS_BEFORE_FRAME):
        fill = _JPEG_FILL.match(data, i)  # any number of 0xFF may pad a marker
        if fill is None:
            if i >= n:
                break
            raise _not_an_image("JPEG marker expected")
        i = fill.end()
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):
            raise _not_an_image("JPEG scan or end before any frame header")
        if i + 2 > n:
            break
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise _not_an_image("JPEG segment length is invalid")
        if marker in _JPEG_SOF_MARKERS:
            if i + 7 > n:
                break
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            return width, height
        i += length
    else:
        raise _not_an_image("too many JPEG segments before the frame header")
    raise _not_an_image("JPEG ends before its frame header")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _not_an_image("PNG without an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    # Pillow walks the chunk list in Python; a file of 800k empty chunks costs it seconds.
    i, n, chunks = 8, len(data), 0
    while i + 8 <= n:
        chunks += 1
        if chunks > _PNG_MAX_CHUNKS:
            raise _not_an_image("too many PNG chunks")
        if data[i + 4 : i + 8] == b"IEND":
            break
        i += 12 + int.from_bytes(data[i : i + 4], "big")
    return int(width), int(height)


def _gif_size(data: bytes) -> tuple[int, int]:
    """The canvas Pillow will allocate: the screen, grown to hold the first frame."""
    if len(data) < 13:
        raise _not_an_image("GIF shorter than its header")
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
                raise _not_an_image("too many GIF blocks before the first image")
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
    raise _not_an_image("WebP without a readable VP8/VP8L/VP8X header")


_HEADER_PARSERS: Final[dict[str, Callable[[bytes], tuple[int, int]]]] = {
    "jpeg": _jpeg_size,
    "png": _png_size,
    "gif": _gif_size,
    "webp": _webp_size,
}


def _check_dimensions(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise _not_an_image(f"image claims {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            "decompression_bomb", f"{width}x{height} is more than the {max_pixels} pixels allowed"
        )


# --------------------------------------------------------------------------------------------
# Geometry and pixel modes.


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size with the longest side at most ``max_side``, same aspect ratio, never upscaled."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    if width >= height:
        return max_side, max(1, round(height * scale))
    return max(1, round(width * scale)), max_side


def _to_8bit(im: Image.Image, low: float, high: float) -> Image.Image:
    """Map [low, high] linearly onto 0..255 for the wide single-band modes (I, F)."""
    span = high - low
    if span <= 0:
        return Image.new("L", im.size, 0 if high <= 0 else 255)
    scale = 255.0 / span
    # point() on I and F is an affine transform in C that keeps the mode; L then clips.
    return im.point(lambda v: v * scale - low * scale).convert("L")


def _normalise_mode(im: Image.Image) -> Image.Image:
    """A mode that resamples correctly: RGB, RGBA, L, LA or CMYK (CMYK waits for its ICC step)."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    if mode in ("P", "PA"):
        # Resampling palette indices is meaningless; expand, keeping tRNS transparency.
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16"):
        # Pillow's plain I;16 -> L conversion clips everything above 255 to white.
        return _to_8bit(im.convert("I"), 0.0, 65535.0)
    if mode in ("I", "F"):
        extrema = im.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        if mode == "F" and low >= 0.0 and high <= 1.0:
            return _to_8bit(im, 0.0, 1.0)
        if low >= 0 and high <= 255:
            return _to_8bit(im, 0.0, 255.0)
        if low >= 0 and high <= 65535:
            return _to_8bit(im, 0.0, 65535.0)
        return _to_8bit(im, low, high)
    if mode == "La":
        return im.convert("LA")
    if mode == "RGBa":
        return im.convert("RGBA")
    return im.convert("RGBA" if im.has_transparency_data else "RGB")


def _drop_opaque_alpha(im: Image.Image) -> Image.Image:
    """An alpha channel that is 255 everywhere only costs bytes and encoder time."""
    if im.mode not in ("RGBA", "LA"):
        return im
    alpha_min = im.getextrema()[-1][0]  # type: ignore[index]
    if alpha_min == 255:
        return im.convert("RGB" if im.mode == "RGBA" else "L")
    return im


def _to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert to sRGB via the embedded profile (then dropped), and CMYK to RGB either way."""
    if icc_profile and im.mode in ("RGB", "RGBA", "CMYK"):
        from PIL import ImageCms  # only images with a profile pay for importing LittleCMS

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            description = ImageCms.getProfileDescription(source) or ""
            if im.mode == "CMYK" or "srgb" not in description.lower():
                out_mode = "RGB" if im.mode == "CMYK" else im.mode
                converted = ImageCms.profileToProfile(im, source, _srgb_profile(), outputMode=out_mode)
                if converted is not None:
                    im = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            # A broken or exotic profile is not a reason to reject the picture; fall back to
            # treating the pixels as sRGB, as browsers do.
            pass
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return im


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must not cost the picture; treat as upright
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _resize(
    im: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None
) -> Image.Image:
    if im.size == size and box is None:
        return im
    return im.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=REDUCING_GAP)


def _encode_webp(im: Image.Image, method: int) -> bytes:
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if im.mode == "LA" else "RGB")
    out = io.BytesIO()
    # Only encoder arguments reach the file: nothing from im.info (EXIF, ICC, XMP) is passed on.
    im.save(out, "WEBP", quality=WEBP_QUALITY, method=method)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# BlurHash (https://blurha.sh): a short string the client turns into a blurred placeholder.

_BASE83: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SRGB_TO_LINEAR: Final = tuple(
    (v / 255) / 12.92 if v / 255 <= 0.04045 else (((v / 255) + 0.055) / 1.055) ** 2.4 for v in range(256)
)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def _linear_to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    # int(x + 0.5), not round(): the reference encoder rounds halves up, not to even.
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * math.pow(v, 1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def blurhash_encode(im: Image.Image, x_components: int, y_components: int) -> str:
    """Encode an RGB image (keep it tiny: cost is pixels x components) as a BlurHash string."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("BlurHash takes 1..9 components per axis")
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    width, height = rgb.size
    pixels = rgb.tobytes()
    lut = _SRGB_TO_LINEAR
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(y_components)]

    # Separable sums: rows[i][y] = sum over x of cos_x[i][x] * pixel(x, y), per channel.
    rows: list[list[tuple[float, float, float]]] = [[] for _ in range(x_components)]
    for y in range(height):
        base = y * width * 3
        line = [
            (lut[pixels[base + 3 * x]], lut[pixels[base + 3 * x + 1]], lut[pixels[base + 3 * x + 2]])
            for x in range(width)
        ]
        for i in range(x_components):
            cx = cos_x[i]
            r = g = b = 0.0
            for x, (pr, pg, pb) in enumerate(line):
                c = cx[x]
                r += c * pr
                g += c * pg
                b += c * pb
            rows[i].append((r, g, b))

    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        cy = cos_y[j]
        for i in range(x_components):
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            r = g = b = 0.0
            for y, (sr, sg, sb) in enumerate(rows[i]):
                c = cy[y]
                r += c * sr
                g += c * sg
                b += c * sb
            factors.append((r * scale, g * scale, b * scale))

    dc, ac = factors[0], factors[1:]
    out = [_base83((x_components - 1) + (y_components - 1) * 9, 1)]
    if ac:
        actual_max = max(abs(v) for f in ac for v in f)
        quantised_max = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        maximum = (quantised_max + 1) / 166
        out.append(_base83(quantised_max, 1))
    else:
        maximum = 1.0
        out.append(_base83(0, 1))
    out.append(
        _base83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    )
    for r, g, b in ac:
        q = [max(0, min(18, math.floor(_sign_pow(v / maximum, 0.5) * 9 + 9.5))) for v in (r, g, b)]
        out.append(_base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2))
    return "".join(out)


def _placeholder(thumbnail: Image.Image) -> str:
    tiny = thumbnail.resize(
        _fit(thumbnail.width, thumbnail.height, BLURHASH_SIDE), Image.Resampling.BOX, reducing_gap=None
    )
    if tiny.mode in ("RGBA", "LA"):
        # BlurHash has no alpha; show transparent areas as the white most pages sit on.
        rgba = tiny.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        tiny = Image.alpha_composite(background, rgba)
    portrait = tiny.height > tiny.width
    return blurhash_encode(tiny, 3 if portrait else 4, 4 if portrait else 3)


# --------------------------------------------------------------------------------------------
# The pipeline.


def _classify(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes is more than the {max_bytes} allowed")
    if not data:
        raise _not_an_image("empty file")
    fmt = sniff_format(data[:16])
    if fmt is not None:
        return fmt
    if _looks_like_other_image(data[:32]):
        raise ImageRejected("unsupported_format", "only JPEG, PNG, WebP and GIF are accepted")
    raise _not_an_image("unrecognised content")


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image
    size: tuple[int, int]  # of the stored image, before orientation; a JPEG draft is smaller
    box: tuple[float, float, float, float] | None  # the whole picture inside ``image``, if drafted
    orientation: int
    icc_profile: bytes | None


def _decode(data: bytes, fmt: str, max_pixels: int) -> _Decoded:
    """Open and decode once, reduced where the codec allows it."""
    im = Image.open(io.BytesIO(data), formats=[_FORMAT_TO_PIL[fmt]])
    _check_dimensions(im.width, im.height, max_pixels)
    size = im.size
    box: tuple[float, float, float, float] | None = None
    if fmt == "jpeg":
        # DCT scaling: decode directly at 1/2, 1/4 or 1/8 while staying >= the preview size.
        drafted = im.draft("RGB", _fit(im.width, im.height, PREVIEW_MAX_SIDE))
        if drafted is not None and im.size != size:
            box = drafted[1]
    # GIF: Image.open stays on frame 0, so the first frame is what load() decodes.
    im.load()
    if box is None:
        # A GIF's first frame may be larger than its declared screen; Pillow grows the image.
        size = im.size
        _check_dimensions(*size, max_pixels)
    icc = im.info.get("icc_profile")
    return _Decoded(_normalise_mode(im), size, box, _orientation(im), icc if isinstance(icc, bytes) else None)


def process_image(
    data: bytes, *, max_pixels: int = 50_000_000, max_bytes: int = 10 * 1024 * 1024
) -> ProcessedImage:
    """Validate ``data`` and make its preview, thumbnail and placeholder.

    Raises :class:`ImageRejected` (and nothing else) when the bytes are not an acceptable image.
    """
    fmt = _classify(data, max_bytes)
    _check_dimensions(*_HEADER_PARSERS[fmt](data), max_pixels)

    with warnings.catch_warnings():
        # Pillow's notes on damaged files (corrupt EXIF, ...) are noise for a rejection path.
        warnings.simplefilter("ignore", UserWarning)
        # Pillow's own bomb guard warns below twice its limit; make that a hard rejection too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            decoded = _decode(data, fmt, max_pixels)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("decompression_bomb", str(exc)) from exc
        except MemoryError:
            raise
        except Exception as exc:  # hostile bytes can trip any decoder error type
            raise _not_an_image(f"cannot decode: {type(exc).__name__}") from exc

    width, height = decoded.size
    preview = _resize(decoded.image, _fit(width, height, PREVIEW_MAX_SIDE), decoded.box)
    preview = _drop_opaque_alpha(preview)
    preview = _to_srgb(preview, decoded.icc_profile)
    # Transposing the preview rather than the decoded image: same result, a fraction of the work.
    transpose = _ORIENTATION_TRANSPOSE.get(decoded.orientation)
    if transpose is not None:
        preview = preview.transpose(transpose)
    preview.info.clear()

    thumbnail = _resize(preview, _fit(preview.width, preview.height, THUMBNAIL_MAX_SIDE), None)

    if decoded.orientation in (5, 6, 7, 8):
        width, height = height, width
    return ProcessedImage(
        format=fmt,
        width=width,
        height=height,
        size_bytes=len(data),
        thumbnail=Rendition(
            "thumbnail", _encode_webp(thumbnail, THUMBNAIL_WEBP_METHOD), thumbnail.width, thumbnail.height
        ),
        preview=Rendition(
            "preview", _encode_webp(preview, PREVIEW_WEBP_METHOD), preview.width, preview.height
        ),
        placeholder=_placeholder(thumbnail),
    )
