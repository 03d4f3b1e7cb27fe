"""BlurHash (https://blurha.sh): a short string the client turns into a blurred placeholder."""

from __future__ import annotations

import math
from typing import Final

from PIL import Image

from imagegen.imaging.geometry import fit

BLURHASH_SIDE: Final = 32
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


def placeholder(thumbnail: Image.Image) -> str:
    tiny = thumbnail.resize(
        fit(thumbnail.width, thumbnail.height, BLURHASH_SIDE), Image.Resampling.BOX, reducing_gap=None
    )
    if tiny.mode in ("RGBA", "LA"):
        # BlurHash has no alpha; show transparent areas as the white most pages sit on.
        rgba = tiny.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        tiny = Image.alpha_composite(background, rgba)
    portrait = tiny.height > tiny.width
    return blurhash_encode(tiny, 3 if portrait else 4, 4 if portrait else 3)
