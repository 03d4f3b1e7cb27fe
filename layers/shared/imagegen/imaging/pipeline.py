"""Thumbnail pipeline: bytes of an upload (or a generated image) in, WebP renditions out.

The input is hostile until proven otherwise, so the order of work matters:

1. the format is recognised from magic bytes only (:mod:`~imagegen.imaging.sniff`);
2. the pixel dimensions are read from the container header by hand and checked against
   ``max_pixels`` before Pillow creates any decoder (:mod:`~imagegen.imaging.headers`);
3. exactly one decode happens, at reduced size where the codec allows it (JPEG DCT scaling via
   ``Image.draft``; still WebP through libwebp's own scaling, :mod:`~imagegen.imaging.webp`), and
   the thumbnail is derived from the preview, never from a second decode;
4. every Pillow failure becomes :class:`~imagegen.errors.ImageRejected`; nothing else escapes.

This is a pure function of bytes: no AWS, no I/O, no global Pillow settings changed.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image

from imagegen.errors import ImageRejected
from imagegen.imaging.blurhash import placeholder
from imagegen.imaging.colour import drop_opaque_alpha, normalise_mode, to_srgb
from imagegen.imaging.encode import PREVIEW_WEBP_METHOD, THUMBNAIL_WEBP_METHOD, encode_webp
from imagegen.imaging.geometry import ORIENTATION_TRANSPOSE, fit, orientation, resize
from imagegen.imaging.headers import HEADER_PARSERS, check_dimensions
from imagegen.imaging.sniff import classify, not_an_image
from imagegen.imaging.webp import decode_scaled

PREVIEW_MAX_SIDE: Final = 1024
THUMBNAIL_MAX_SIDE: Final = 256
FORMAT_TO_PIL: Final[dict[str, str]] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}


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


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image
    size: tuple[int, int]  # of the stored image, before orientation; a JPEG draft is smaller
    box: tuple[float, float, float, float] | None  # the whole picture inside ``image``, if drafted
    orientation: int
    icc_profile: bytes | None


def _decode(data: bytes, fmt: str, max_pixels: int) -> _Decoded:
    """Open and decode once, reduced where the codec allows it."""
    if fmt == "webp":
        # libwebp scales while decoding; Pillow would decode at full size (16 B/px at the peak).
        scaled = decode_scaled(data, PREVIEW_MAX_SIDE, max_pixels)
        if scaled is not None:
            im = scaled.image
            icc = im.info.get("icc_profile")
            icc_bytes = icc if isinstance(icc, bytes) else None
            return _Decoded(normalise_mode(im), scaled.size, None, orientation(im), icc_bytes)
    im = Image.open(io.BytesIO(data), formats=[FORMAT_TO_PIL[fmt]])
    check_dimensions(im.width, im.height, max_pixels)
    size = im.size
    box: tuple[float, float, float, float] | None = None
    if fmt == "jpeg":
        # DCT scaling: decode directly at 1/2, 1/4 or 1/8 while staying >= the preview size.
        drafted = im.draft("RGB", fit(im.width, im.height, PREVIEW_MAX_SIDE))
        if drafted is not None and im.size != size:
            box = drafted[1]
    # GIF: Image.open stays on frame 0, so the first frame is what load() decodes.
    im.load()
    if box is None:
        # A GIF's first frame may be larger than its declared screen; Pillow grows the image.
        size = im.size
        check_dimensions(*size, max_pixels)
    icc = im.info.get("icc_profile")
    return _Decoded(normalise_mode(im), size, box, orientation(im), icc if isinstance(icc, bytes) else None)


def process_image(
    data: bytes, *, max_pixels: int = 50_000_000, max_bytes: int = 10 * 1024 * 1024
) -> ProcessedImage:
    """Validate ``data`` and make its preview, thumbnail and placeholder.

    Raises :class:`ImageRejected` (and nothing else) when the bytes are not an acceptable image.
    """
    fmt = classify(data, max_bytes)
    check_dimensions(*HEADER_PARSERS[fmt](data), max_pixels)

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
            raise not_an_image(f"cannot decode: {type(exc).__name__}") from exc

    width, height = decoded.size
    preview = resize(decoded.image, fit(width, height, PREVIEW_MAX_SIDE), decoded.box)
    preview = drop_opaque_alpha(preview)
    preview = to_srgb(preview, decoded.icc_profile)
    # Transposing the preview rather than the decoded image: same result, a fraction of the work.
    transpose = ORIENTATION_TRANSPOSE.get(decoded.orientation)
    if transpose is not None:
        preview = preview.transpose(transpose)
    preview.info.clear()

    thumbnail = resize(preview, fit(preview.width, preview.height, THUMBNAIL_MAX_SIDE), None)

    if decoded.orientation in (5, 6, 7, 8):
        width, height = height, width
    return ProcessedImage(
        format=fmt,
        width=width,
        height=height,
        size_bytes=len(data),
        thumbnail=Rendition(
            "thumbnail", encode_webp(thumbnail, THUMBNAIL_WEBP_METHOD), thumbnail.width, thumbnail.height
        ),
        preview=Rendition(
            "preview", encode_webp(preview, PREVIEW_WEBP_METHOD), preview.width, preview.height
        ),
        placeholder=placeholder(thumbnail),
    )
