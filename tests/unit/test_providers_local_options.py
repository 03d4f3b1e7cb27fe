"""The local provider's options, checked on the pixels (Pillow): determinism per prompt, options and
seed; styles that look clearly different; a seed that changes the picture; variations that derive
from their source, further as the strength grows."""

from __future__ import annotations

import hashlib
import io
import statistics

import pytest
from imagegen.errors import PermanentError
from imagegen.providers import GenerationInput, SourceImage
from imagegen.providers.capabilities import LOCAL_STYLES
from imagegen.providers.local import LocalProvider
from PIL import Image, ImageChops, ImageStat


def picture(request: GenerationInput) -> Image.Image:
    data = LocalProvider().render(request).data
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def distance(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return statistics.mean(ImageStat.Stat(ImageChops.difference(a, b)).mean)


def test_same_prompt_options_and_seed_give_the_same_bytes() -> None:
    request = GenerationInput(
        "a fox", 384, 256, negative_prompt="snow", style="watercolor", seed=99, quality="premium"
    )
    first = LocalProvider().render(request).data
    assert hashlib.sha256(first).digest() == hashlib.sha256(LocalProvider().render(request).data).digest()


def test_the_seed_changes_the_picture_visibly() -> None:
    a = picture(GenerationInput("a fox", 384, 256, seed=1))
    b = picture(GenerationInput("a fox", 384, 256, seed=2))
    assert distance(a, b) > 10


def test_the_negative_prompt_is_part_of_the_picture() -> None:
    a = picture(GenerationInput("a fox", 256, 256, seed=1))
    b = picture(GenerationInput("a fox", 256, 256, seed=1, negative_prompt="trees"))
    assert distance(a, b) > 5


def test_every_style_looks_clearly_different_from_the_others() -> None:
    plain = picture(GenerationInput("a harbour", 384, 256, seed=5))
    styled = {s.id: picture(GenerationInput("a harbour", 384, 256, seed=5, style=s.id)) for s in LOCAL_STYLES}
    for name, image in styled.items():
        assert image.size == (384, 256)
        assert distance(image, plain) > 12, name
    names = list(styled)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert distance(styled[first], styled[second]) > 12, (first, second)


def test_styles_have_their_character() -> None:
    noir = picture(GenerationInput("a street", 256, 256, seed=3, style="noir"))
    r, g, b = (ImageStat.Stat(noir.getchannel(c)).mean[0] for c in "RGB")
    assert max(r, g, b) - min(r, g, b) < 12  # nearly grey
    vivid = picture(GenerationInput("a street", 256, 256, seed=3, style="vivid"))
    pastel = picture(GenerationInput("a street", 256, 256, seed=3, style="pastel"))
    saturation = lambda im: ImageStat.Stat(im.convert("HSV").getchannel("S")).mean[0]  # noqa: E731
    assert saturation(vivid) > saturation(pastel) + 30
    neon = picture(GenerationInput("a street", 256, 256, seed=3, style="neon"))
    assert ImageStat.Stat(neon.convert("L")).median[0] < 60  # dark, with bright lines
    # Pixel art: flat 4 px blocks (256 / 64), so colour jumps fall on the block edges.
    pixel = picture(GenerationInput("a street", 256, 256, seed=3, style="pixel-art"))
    plain = picture(GenerationInput("a street", 256, 256, seed=3))
    assert _jumps_on_block_edges(pixel, 4) > 0.9
    assert _jumps_on_block_edges(plain, 4) < 0.5


def _jumps_on_block_edges(image: Image.Image, block: int) -> float:
    """Of the clear colour jumps between horizontal neighbours (more than the grain's), the share that
    cross a block edge; above the caption."""
    grey = image.convert("L")
    width, height = grey.size
    pixels = grey.load()
    assert pixels is not None
    jumps = [
        x
        for y in range(height * 3 // 4)
        for x in range(width - 1)
        if abs(pixels[x, y] - pixels[x + 1, y]) > 30
    ]
    assert jumps, "no edges at all"
    return sum(1 for x in jumps if (x + 1) % block == 0) / len(jumps)


def test_premium_paints_a_finer_picture_of_the_same_composition() -> None:
    standard = picture(GenerationInput("a garden", 512, 512, seed=8))
    premium = picture(GenerationInput("a garden", 512, 512, seed=8, quality="premium"))
    assert 0 < distance(standard, premium) < 20


@pytest.mark.parametrize(("width", "height"), [(256, 256), (1024, 576), (320, 1024)])
def test_size_is_honoured_with_options(width: int, height: int) -> None:
    assert picture(GenerationInput("sized", width, height, seed=1, style="neon")).size == (width, height)


def _source(width: int = 384, height: int = 256) -> SourceImage:
    data = LocalProvider().render(GenerationInput("a lighthouse on a cliff", width, height, seed=21)).data
    return SourceImage(data, width, height)


def test_a_variation_derives_from_its_source_and_strength_weights_how_far() -> None:
    source = _source()
    original = Image.open(io.BytesIO(source.data)).convert("RGB")
    unrelated = picture(GenerationInput("a bowl of fruit", 384, 256, seed=77))
    near = picture(GenerationInput("a lighthouse", 384, 256, seed=4, source=source, strength=0.1))
    mid = picture(GenerationInput("a lighthouse", 384, 256, seed=4, source=source, strength=0.5))
    far = picture(GenerationInput("a lighthouse", 384, 256, seed=4, source=source, strength=0.9))
    assert distance(near, original) < distance(mid, original) < distance(far, original)
    assert distance(near, original) < distance(near, unrelated) / 2
    assert distance(mid, original) < distance(unrelated, original)
    assert distance(near, original) > 1  # a variation, not a copy


def test_variations_are_deterministic_and_the_seed_and_style_matter() -> None:
    source = _source()
    request = GenerationInput("a lighthouse", 384, 256, seed=4, source=source, strength=0.5)
    assert LocalProvider().render(request).data == LocalProvider().render(request).data
    other_seed = picture(GenerationInput("a lighthouse", 384, 256, seed=5, source=source, strength=0.5))
    assert distance(picture(request), other_seed) > 3
    noir = picture(
        GenerationInput("a lighthouse", 384, 256, seed=4, source=source, strength=0.5, style="noir")
    )
    assert distance(picture(request), noir) > 10


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(PermanentError) as info:
        LocalProvider().render(GenerationInput("x", 64, 64, style="cubism"))
    assert info.value.reason == "provider_rejected"
