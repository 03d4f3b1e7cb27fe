"""A provider's output at exactly the size asked for: models render their own sizes."""

from __future__ import annotations

import io

from imagegen.errors import PermanentError


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header; None when ``data`` is not a PNG."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def fit_png(data: bytes, width: int, height: int, provider: str) -> bytes:
    """Centre-crop to the requested aspect ratio, resample to the exact size, PNG-encode."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as source:
            source.load()
            image = ImageOps.fit(source.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PermanentError("provider_error", f"{provider} returned bytes that are not an image") from exc
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=3)
    return out.getvalue()


def fit_source(data: bytes, width: int, height: int) -> bytes:
    """A variation's source image, EXIF-oriented, centre-cropped to ``width`` x ``height`` and
    PNG-encoded; ``PermanentError("source_unavailable")`` when it cannot be read."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            oriented = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PermanentError("source_unavailable", "the source image cannot be read") from exc
    fitted = ImageOps.fit(oriented, (width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, "PNG", compress_level=1)
    return out.getvalue()
