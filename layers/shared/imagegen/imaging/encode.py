"""WebP encoding of the renditions: only encoder arguments reach the file, no metadata."""

from __future__ import annotations

import io
from typing import Final

from PIL import Image

WEBP_QUALITY: Final = 80
# WebP encoder effort (libwebp "method", 0..6). For the 1024 px preview, method 2 takes half the
# time of method 4 (about 30 ms against 65 ms on a 1024x768 photo) for files about 6% larger at
# the same PSNR; methods 3 and 4 cost the same. The 256 px thumbnail is the rendition fetched
# most (grids, lists) and costs a few ms at method 4, so it gets the smaller file.
# Measurements: docs/performance.md ("Thumbnails").
PREVIEW_WEBP_METHOD: Final = 2
THUMBNAIL_WEBP_METHOD: Final = 4


def encode_webp(im: Image.Image, method: int) -> bytes:
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if im.mode == "LA" else "RGB")
    out = io.BytesIO()
    # Only encoder arguments reach the file: nothing from im.info (EXIF, ICC, XMP) is passed on.
    im.save(out, "WEBP", quality=WEBP_QUALITY, method=method)
    return out.getvalue()
