"""Offline image provider: a stand-in for a real model, for local runs, tests and demos.

It does not understand the prompt. It hashes it into a seed and paints a deterministic abstract
composition from that seed (a palette, a gradient, soft glows, a few shapes, film grain, and the
prompt's first words in a corner), so that every prompt gets a distinct, stable picture without
a network, a GPU or model weights.

Failure injection, for exercising the retry and refund paths end to end: a prompt containing
``[[fail:transient]]`` raises :class:`~imagegen.errors.TransientError` and one containing
``[[fail:permanent]]`` raises ``PermanentError("provider_rejected")``. Only this provider
honours these markers.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
from typing import TYPE_CHECKING, Final

from imagegen.errors import PermanentError, TransientError
from imagegen.providers import GeneratedImage

if TYPE_CHECKING:
    from PIL import Image

FAIL_TRANSIENT_MARKER: Final = "[[fail:transient]]"
FAIL_PERMANENT_MARKER: Final = "[[fail:permanent]]"
MAX_SIDE: Final = 4096
# The composition is painted small and scaled up: soft edges for free, and the cost stays
# nearly flat in the output size. Only the grain, the caption and the PNG encoder see every pixel.
_SKETCH_SIDE: Final = 384
_CAPTION_WORDS: Final = 6

RGB = tuple[int, int, int]


class LocalProvider:
    name = "local"

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        if FAIL_TRANSIENT_MARKER in prompt:
            raise TransientError("local provider: transient failure requested by the prompt")
        if FAIL_PERMANENT_MARKER in prompt:
            raise PermanentError("provider_rejected", "local provider: failure requested by the prompt")
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise PermanentError("provider_rejected", f"unsupported size {width}x{height}")
        image = paint(prompt, width, height)
        out = io.BytesIO()
        # Level 1: the grain makes deflate work hard for little gain, and speed matters more here.
        image.save(out, "PNG", compress_level=1)
        return GeneratedImage(out.getvalue(), "image/png", "png")


def _palette(rng: random.Random) -> list[RGB]:
    base = rng.random()
    scheme = rng.choice(((0.0, 0.08, 0.5, 0.58), (0.0, 0.33, 0.66, 0.15), (0.0, 0.05, 0.1, 0.55)))
    colours: list[RGB] = []
    for offset in scheme:
        hue = (base + offset + rng.uniform(-0.02, 0.02)) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.55, 0.95), rng.uniform(0.4, 0.98))
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


def _shade(colour: RGB, factor: float) -> RGB:
    r, g, b = (min(255, max(0, round(c * factor))) for c in colour)
    return r, g, b


def paint(prompt: str, width: int, height: int) -> Image.Image:
    """The deterministic picture for ``prompt``: exactly ``width`` x ``height``, mode RGB."""
    from PIL import Image, ImageDraw, ImageFilter, ImageOps

    seed = int.from_bytes(hashlib.sha256(prompt.strip().encode("utf-8")).digest(), "big")
    rng = random.Random(seed)  # noqa: S311 - reproducible art from a seed, not security
    colours = _palette(rng)

    scale = _SKETCH_SIDE / max(width, height)
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))

    # Background: a two-tone gradient at a seeded angle, dark to light through the palette.
    ramp = Image.linear_gradient("L").rotate(rng.uniform(0, 360), Image.Resampling.BILINEAR)
    ramp = ramp.crop((48, 48, 208, 208)).resize((sw, sh), Image.Resampling.BILINEAR)
    canvas = ImageOps.colorize(ramp, _shade(colours[0], 0.35), _shade(colours[1], 1.1), mid=colours[0])

    # Glows: soft discs of light, the radial gradient as their mask.
    glow_source = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(glow_source).ellipse((14, 14, 50, 50), fill=255)
    glow_source = glow_source.filter(ImageFilter.GaussianBlur(9))  # fades to 0 inside its box
    for _ in range(rng.randint(2, 4)):
        size = max(2, round(rng.uniform(0.4, 1.1) * max(sw, sh)))
        mask = glow_source.resize((size, size), Image.Resampling.BILINEAR)
        strength = rng.uniform(0.35, 0.7)
        mask = mask.point([round(v * strength) for v in range(256)])
        x = round(rng.uniform(-0.3, 1.0) * sw)
        y = round(rng.uniform(-0.3, 1.0) * sh)
        canvas.paste(rng.choice(colours[1:]), (x, y, x + size, y + size), mask)

    # Shapes: translucent discs, rings and slabs, blurred a little so they sit in the light.
    overlay = Image.new("RGBA", (sw, sh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(rng.randint(4, 8)):
        colour = rng.choice(colours)
        alpha = rng.randint(70, 170)
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        radius = rng.uniform(0.05, 0.3) * max(sw, sh)
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        kind = rng.random()
        if kind < 0.45:
            draw.ellipse(box, fill=(*colour, alpha))
        elif kind < 0.75:
            draw.ellipse(box, outline=(*_shade(colour, 1.3), alpha), width=max(1, round(radius / 8)))
        else:
            draw.rounded_rectangle(
                (cx - radius, cy - radius / 3, cx + radius, cy + radius / 3),
                radius=radius / 6,
                fill=(*colour, alpha),
            )
    overlay = overlay.filter(ImageFilter.GaussianBlur(max(0.6, max(sw, sh) / 300)))
    canvas = Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")

    image = canvas.resize((width, height), Image.Resampling.BICUBIC)

    # Grain: seeded bytes (effect_noise would use C's unseeded rand()), at half resolution.
    gw, gh = max(1, width // 2), max(1, height // 2)
    grain = Image.frombytes("L", (gw, gh), rng.randbytes(gw * gh)).resize((width, height))
    image = Image.blend(image, Image.merge("RGB", (grain, grain, grain)), 0.05)

    _caption(image, prompt)
    return image


def _caption(image: Image.Image, prompt: str) -> None:
    from PIL import ImageDraw, ImageFont

    words = prompt.split()
    if not words or image.width < 64 or image.height < 32:
        return
    text = " ".join(words[:_CAPTION_WORDS]) + (" ..." if len(words) > _CAPTION_WORDS else "")
    size = max(9, image.height // 56)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    margin = max(4, size // 2)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    max_width = image.width - 4 * margin
    while right - left > max_width and len(text) > 4:
        keep = int(len(text) * max_width / (right - left)) - 3
        text = text[: max(1, keep)].rstrip() + "..."
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = margin * 2, image.height - margin * 2 - (bottom - top)
    draw.text((x + 1, y + 1 - top), text, font=font, fill=(0, 0, 0))
    draw.text((x, y - top), text, font=font, fill=(245, 245, 245))
