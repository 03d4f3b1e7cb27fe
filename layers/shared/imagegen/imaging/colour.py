"""Pixel modes and colour: a mode that resamples correctly, no useless alpha, sRGB."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from PIL import ImageCms


def _to_8bit(im: Image.Image, low: float, high: float) -> Image.Image:
    """Map [low, high] linearly onto 0..255 for the wide single-band modes (I, F)."""
    span = high - low
    if span <= 0:
        return Image.new("L", im.size, 0 if high <= 0 else 255)
    scale = 255.0 / span
    # point() on I and F is an affine transform in C that keeps the mode; L then clips.
    return im.point(lambda v: v * scale - low * scale).convert("L")


def normalise_mode(im: Image.Image) -> Image.Image:
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


def drop_opaque_alpha(im: Image.Image) -> Image.Image:
    """An alpha channel that is 255 everywhere only costs bytes and encoder time."""
    if im.mode not in ("RGBA", "LA"):
        return im
    alpha_min = im.getextrema()[-1][0]  # type: ignore[index]
    if alpha_min == 255:
        return im.convert("RGB" if im.mode == "RGBA" else "L")
    return im


def to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
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
