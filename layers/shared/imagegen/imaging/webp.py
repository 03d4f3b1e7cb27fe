"""Still WebP decoded at reduced size, with libwebp's advanced API (``WebPDecode`` with
``options.use_scaling``), through ctypes against the libwebp that Pillow's wheel bundles.

Pillow decodes every WebP at full size through ``WebPAnimDecoder``, which keeps a full-size RGBA
canvas and a copy of it, and then copies the frame again: about four full-size buffers at the
peak (16 B/px). libwebp itself can scale while it decodes (its rescaler averages the source pixels
that fall in each output pixel, row by row), which is what libvips does; the decoded image is then
only as large as the preview needs.

Only the library shipped inside Pillow's wheel is used (``pillow.libs/`` on Linux, ``PIL/.dylibs``
on macOS), never one from the operating system: on Lambda the layer ships the wheel, and its
libwebp is the one Pillow itself was tested with. When it cannot be found or loaded, or an image is
animated, :func:`decode_scaled` returns None and the caller decodes with Pillow as before.
"""

from __future__ import annotations

import ctypes
import functools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image

from imagegen.imaging.geometry import fit
from imagegen.imaging.headers import check_dimensions

# decode.h: WEBP_DECODER_ABI_VERSION 0x0209 (libwebp 1.0 to 1.6). The library accepts any version
# with the same major byte, and the structs below are that major version's layout.
_ABI_VERSION: Final = 0x0209
_MODE_RGB: Final = 0
_MODE_RGBA: Final = 1  # not premultiplied, as Pillow's RGBA
_VP8_STATUS_OK: Final = 0
# Chunks of the RIFF container walked for metadata (a still image has a handful).
_MAX_CHUNKS: Final = 64


class _Features(ctypes.Structure):
    _fields_ = (
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    )


class _RGBABuffer(ctypes.Structure):
    _fields_ = (
        ("rgba", ctypes.c_void_p),
        ("stride", ctypes.c_int),
        ("size", ctypes.c_size_t),
    )


class _YUVABuffer(ctypes.Structure):
    _fields_ = (
        ("y", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("a", ctypes.c_void_p),
        ("y_stride", ctypes.c_int),
        ("u_stride", ctypes.c_int),
        ("v_stride", ctypes.c_int),
        ("a_stride", ctypes.c_int),
        ("y_size", ctypes.c_size_t),
        ("u_size", ctypes.c_size_t),
        ("v_size", ctypes.c_size_t),
        ("a_size", ctypes.c_size_t),
    )


class _BufferUnion(ctypes.Union):
    _fields_ = (("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer))


class _DecBuffer(ctypes.Structure):
    _fields_ = (
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _BufferUnion),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    )


class _Options(ctypes.Structure):
    _fields_ = (
        ("bypass_filtering", ctypes.c_int),
        ("no_fancy_upsampling", ctypes.c_int),
        ("use_cropping", ctypes.c_int),
        ("crop_left", ctypes.c_int),
        ("crop_top", ctypes.c_int),
        ("crop_width", ctypes.c_int),
        ("crop_height", ctypes.c_int),
        ("use_scaling", ctypes.c_int),
        ("scaled_width", ctypes.c_int),
        ("scaled_height", ctypes.c_int),
        ("use_threads", ctypes.c_int),
        ("dithering_strength", ctypes.c_int),
        ("flip", ctypes.c_int),
        ("alpha_dithering_strength", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    )


class _Config(ctypes.Structure):
    _fields_ = (
        ("input", _Features),
        ("output", _DecBuffer),
        ("options", _Options),
        # Slack after the struct: a later minor version that grew it cannot write past our memory.
        ("slack", ctypes.c_uint8 * 256),
    )


def _bundled_library_paths() -> list[Path]:
    """libwebp as Pillow's wheel ships it (auditwheel/delocate give it a hashed name)."""
    pil = Path(Image.__file__).resolve().parent
    found = sorted((pil.parent / "pillow.libs").glob("libwebp-*.so*"))
    found += sorted((pil / ".dylibs").glob("libwebp.*dylib"))
    return found


@functools.cache
def _library() -> ctypes.CDLL | None:
    for path in _bundled_library_paths():
        try:
            lib = ctypes.CDLL(str(path))
            if lib.WebPGetDecoderVersion() >> 16 != 1:  # 0x010600 is 1.6.0
                continue
            lib.WebPInitDecoderConfigInternal.argtypes = (ctypes.POINTER(_Config), ctypes.c_int)
            lib.WebPInitDecoderConfigInternal.restype = ctypes.c_int
            lib.WebPGetFeaturesInternal.argtypes = (
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.POINTER(_Features),
                ctypes.c_int,
            )
            lib.WebPGetFeaturesInternal.restype = ctypes.c_int
            lib.WebPDecode.argtypes = (ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config))
            lib.WebPDecode.restype = ctypes.c_int
            lib.WebPFreeDecBuffer.argtypes = (ctypes.POINTER(_DecBuffer),)
            lib.WebPFreeDecBuffer.restype = None
        except (OSError, AttributeError):  # not loadable, or not the libwebp we know
            continue
        return lib
    return None


def available() -> bool:
    return _library() is not None


class WebPDecodeError(ValueError):
    """libwebp refused the bitstream (a VP8StatusCode other than OK)."""


def _metadata(data: bytes) -> dict[str, bytes]:
    """The first ICCP, EXIF and XMP chunks, under the ``info`` keys Pillow's WebP plugin uses."""
    keys = {b"ICCP": "icc_profile", b"EXIF": "exif", b"XMP ": "xmp"}
    info: dict[str, bytes] = {}
    if data[12:16] != b"VP8X":  # only the extended format carries metadata
        return info
    i, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    for _ in range(_MAX_CHUNKS):
        if i + 8 > end:
            break
        fourcc = data[i : i + 4]
        (size,) = struct.unpack("<I", data[i + 4 : i + 8])
        key = keys.get(fourcc)
        if key is not None and key not in info and size:
            info[key] = data[i + 8 : i + 8 + size]
        i += 8 + size + (size & 1)
    return info


@dataclass(frozen=True)
class ScaledWebP:
    image: Image.Image  # RGB or RGBA, at most the stored size; ``info`` holds ICC, EXIF, XMP
    size: tuple[int, int]  # of the stored image


def decode_scaled(data: bytes, max_side: int, max_pixels: int) -> ScaledWebP | None:
    """Decode a still WebP at the largest integer reduction that keeps it at least as large as
    its ``max_side`` box (the preview's), or None when libwebp is not available or the image is
    animated. The size libwebp reads is checked against ``max_pixels`` before decoding.

    Raises :class:`WebPDecodeError` when libwebp cannot decode the bitstream."""
    lib = _library()
    if lib is None:
        return None
    config = _Config()
    if not lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
        return None
    status = lib.WebPGetFeaturesInternal(data, len(data), ctypes.byref(config.input), _ABI_VERSION)
    if status != _VP8_STATUS_OK:
        raise WebPDecodeError(f"WebP features: status {status}")
    features = config.input
    if features.has_animation:
        return None  # Pillow's first frame, composited as before
    width, height = features.width, features.height
    check_dimensions(width, height, max_pixels)
    target = fit(width, height, max_side)
    # The integer factor keeps the reduction a plain average of whole source pixels (as a JPEG
    # draft or Pillow's box reduce would), and the rest is resampled like every other format.
    factor = max(1, min(width // max(1, target[0]), height // max(1, target[1])))
    out_w, out_h = max(1, width // factor), max(1, height // factor)
    alpha = bool(features.has_alpha)
    config.output.colorspace = _MODE_RGBA if alpha else _MODE_RGB
    if (out_w, out_h) != (width, height):
        config.options.use_scaling = 1
        config.options.scaled_width = out_w
        config.options.scaled_height = out_h
    status = lib.WebPDecode(data, len(data), ctypes.byref(config))
    try:
        if status != _VP8_STATUS_OK:
            raise WebPDecodeError(f"WebP decode: status {status}")
        out = config.output
        rgba = out.u.RGBA
        channels = 4 if alpha else 3
        if (
            (out.width, out.height) != (out_w, out_h)
            or rgba.stride < out_w * channels
            or rgba.size < rgba.stride * out_h
            or not rgba.rgba
        ):
            raise WebPDecodeError("WebP decode: unexpected output buffer")
        stride = int(rgba.stride)
        pixels = ctypes.string_at(rgba.rgba, stride * out_h)
    finally:
        lib.WebPFreeDecBuffer(ctypes.byref(config.output))
    mode = "RGBA" if alpha else "RGB"
    image = Image.frombuffer(mode, (out_w, out_h), pixels, "raw", mode, stride, 1)
    image.info.update(_metadata(data))
    return ScaledWebP(image, (width, height))
