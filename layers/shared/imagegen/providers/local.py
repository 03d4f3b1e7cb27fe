"""Offline image provider: a stand-in for a real model, for local runs, tests and demos.

It does not understand the prompt. It hashes it into a seed and paints a deterministic abstract
composition from that seed (a palette, a gradient, soft glows, a few shapes, film grain, and the
prompt's first words in a corner), so that every prompt gets a distinct, stable picture without
a network, a GPU or model weights.

Options are honoured visibly: the seed (with the prompt and the negative prompt) picks the composition,
so the same prompt, options and seed give the same bytes; a style re-renders it in a clearly different
look (vivid, pastel, noir, watercolor, pixel art, neon); ``premium`` paints on a finer sketch. A
variation keeps the source's structure and perturbs it by ``strength``: the source, softened, restyled,
and blended with the seed's own composition (0.1 stays close to the source, 0.9 wanders far).

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
from imagegen.providers import GeneratedImage, GenerationInput
from imagegen.providers.capabilities import LOCAL, Capabilities

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
    model = LOCAL.model

    def capabilities(self) -> Capabilities:
        return LOCAL

    def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        return self.render(GenerationInput(prompt, width, height))

    def render(self, request: GenerationInput) -> GeneratedImage:
        prompt, width, height = request.prompt, request.width, request.height
        if FAIL_TRANSIENT_MARKER in prompt:
            raise TransientError("local provider: transient failure requested by the prompt")
        if FAIL_PERMANENT_MARKER in prompt:
            raise PermanentError("provider_rejected", "local provider: failure requested by the prompt")
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise PermanentError("provider_rejected", f"unsupported size {width}x{height}")
        if request.style is not None and LOCAL.style(request.style) is None:
            raise PermanentError("provider_rejected", f"unknown style {request.style!r}")
        if request.source is not None:
            image = vary(request)
        else:
            image = paint(
                prompt,
                width,
                height,
                seed=request.seed,
                style=request.style,
                negative_prompt=request.negative_prompt,
                premium=request.quality == "premium",
            )
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


def _composition_seed(prompt: str, seed: int | None, negative_prompt: str | None) -> int:
    text = prompt.strip()
    if seed is not None:  # without one: the prompt alone, as before seeds were recorded
        text = f"{text}\x00{seed}\x00{(negative_prompt or '').strip()}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def paint(
    prompt: str,
    width: int,
    height: int,
    *,
    seed: int | None = None,
    style: str | None = None,
    negative_prompt: str | None = None,
    premium: bool = False,
    caption: bool = True,
) -> Image.Image:
    """The deterministic picture for ``prompt`` and the options: exactly ``width`` x ``height``, mode RGB."""
    from PIL import Image, ImageDraw, ImageFilter, ImageOps

    rng = random.Random(_composition_seed(prompt, seed, negative_prompt))  # noqa: S311 - art, not security
    colours = _palette(rng)

    scale = (_SKETCH_SIDE * (2 if premium else 1)) / max(width, height)
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
    if style is not None:
        image = stylize(image, style)
    image = _grain(image, rng)
    if caption:
        _caption(image, prompt)
    return image


def _grain(image: Image.Image, rng: random.Random) -> Image.Image:
    """Seeded bytes (effect_noise would use C's unseeded rand()), at half resolution."""
    from PIL import Image

    width, height = image.size
    gw, gh = max(1, width // 2), max(1, height // 2)
    grain = Image.frombytes("L", (gw, gh), rng.randbytes(gw * gh)).resize((width, height))
    return Image.blend(image, Image.merge("RGB", (grain, grain, grain)), 0.05)


def stylize(image: Image.Image, style: str) -> Image.Image:
    """``image`` re-rendered in one of the local styles (each clearly unlike the others)."""
    from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps

    width, height = image.size
    if style == "vivid":
        image = ImageEnhance.Contrast(ImageEnhance.Color(image).enhance(1.9)).enhance(1.25)
    elif style == "pastel":
        image = ImageEnhance.Color(image).enhance(0.55)
        image = Image.blend(image, Image.new("RGB", image.size, (250, 244, 236)), 0.45)
    elif style == "noir":
        grey = ImageOps.autocontrast(ImageOps.grayscale(image), cutoff=2)
        image = ImageOps.colorize(ImageEnhance.Contrast(grey).enhance(1.6), (8, 8, 12), (236, 232, 222))
    elif style == "watercolor":
        soft = image.filter(ImageFilter.GaussianBlur(max(1.0, max(width, height) / 160)))
        bleed = ImageOps.posterize(soft, 4).filter(ImageFilter.SMOOTH_MORE)
        edges = ImageOps.invert(ImageOps.grayscale(soft.filter(ImageFilter.FIND_EDGES)))
        paper = Image.blend(bleed, Image.new("RGB", image.size, (252, 248, 240)), 0.3)
        image = Image.composite(paper, ImageOps.colorize(edges, (90, 80, 70), (252, 248, 240)), edges)
    elif style == "pixel-art":
        block = max(4, max(width, height) // 64)
        small = image.resize((max(1, width // block), max(1, height // block)), Image.Resampling.BOX)
        small = ImageOps.posterize(ImageEnhance.Color(small).enhance(1.4), 3)
        image = small.resize((width, height), Image.Resampling.NEAREST)
    elif style == "neon":
        lines = ImageOps.posterize(image, 2).filter(ImageFilter.FIND_EDGES).filter(ImageFilter.MaxFilter(3))
        lines = ImageEnhance.Color(ImageOps.autocontrast(lines)).enhance(3.0)
        glow = lines.filter(ImageFilter.GaussianBlur(max(2.0, max(width, height) / 200)))
        dark = ImageEnhance.Brightness(image).enhance(0.2)
        image = ImageChops.add(ImageChops.add(dark, glow), lines)
    else:
        raise ValueError(f"unknown style {style!r}")
    return image


def vary(request: GenerationInput) -> Image.Image:
    """A variation: the source's structure, softened and restyled, blended with the seed's own
    composition; ``strength`` weights how far it moves from the source."""
    from PIL import Image, ImageFilter

    assert request.source is not None
    width, height = request.width, request.height
    with Image.open(io.BytesIO(request.source.data)) as opened:
        opened.load()
        source = opened.convert("RGB")
    if source.size != (width, height):
        source = source.resize((width, height), Image.Resampling.LANCZOS)
    strength = min(0.9, max(0.1, request.strength if request.strength is not None else 0.5))
    structure = source.filter(ImageFilter.GaussianBlur(strength * max(width, height) / 128))
    if request.style is not None:
        structure = stylize(structure, request.style)
    fresh = paint(
        request.prompt,
        width,
        height,
        seed=request.seed if request.seed is not None else 0,
        style=request.style,
        negative_prompt=request.negative_prompt,
        caption=False,
    )
    image = Image.blend(structure, fresh, strength * 0.75)
    rng = random.Random(_composition_seed(request.prompt, request.seed, "variation"))  # noqa: S311
    return _grain(image, rng)


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
