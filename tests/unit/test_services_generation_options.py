"""Generation options and variations on in-memory adapters: validation against the configured model,
the premium price, the seed always recorded, variations charged like a generation, and the generator
handing the options and the source image to the provider."""

from __future__ import annotations

import io

import pytest
from imagegen.commands import GenerateImage, StartUpload, VaryImage
from imagegen.errors import (
    IdempotencyKeyReused,
    ImageNotReady,
    InsufficientCoins,
    NotFound,
    ValidationError,
)
from imagegen.models import Generation, ImageStatus, ImageType, LedgerReason
from imagegen.providers.capabilities import NOVA_CANVAS_ID, capabilities_for
from imagegen.queues import GenerationRequest
from imagegen.services.options import options_json, seed_for, variation_size
from PIL import Image as PILImage

from tests.memory import Wiring, wire


def _png(width: int, height: int, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def _fields(caught: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [error.field for error in caught.value.errors]


def _completed(
    w: Wiring, user_id: str, prompt: str = "a lighthouse", size: tuple[int, int] = (512, 384)
) -> str:
    image = w.images().generate(user_id, GenerateImage(prompt=prompt, width=size[0], height=size[1]))
    w.storage.put(image.storage_key, _png(*size), "image/png")
    w.repos.images.update_status(image.id, ImageStatus.COMPLETED)
    return str(image.id)


# ---- options ---------------------------------------------------------------------------------


def test_options_describe_the_configured_provider_and_prices() -> None:
    w = wire(generation_cost=30, generation_cost_premium=80)
    body = options_json(w.settings)
    assert body["provider"] == "local"
    assert body["costs"] == {"standard": 30, "premium": 80}
    assert body["maxPromptLength"] == 1000
    assert {"id": "noir", "label": "Noir"} in body["styles"]
    assert {"width": 1024, "height": 1024} in body["sizes"]
    assert body["supports"] == {
        "negativePrompt": True,
        "seed": True,
        "variations": True,
        "premium": True,
        "strength": True,
    }


def test_options_of_bedrock_models_differ() -> None:
    nova = options_json(wire(image_provider="bedrock", bedrock_model_id=NOVA_CANVAS_ID).settings)
    assert (
        nova["model"] == NOVA_CANVAS_ID and {"id": "photographic", "label": "Photorealism"} in nova["styles"]
    )
    titan = options_json(
        wire(image_provider="bedrock", bedrock_model_id="amazon.titan-image-generator-v2:0").settings
    )
    assert titan["styles"] == [] and titan["maxPromptLength"] == 512
    core = options_json(
        wire(image_provider="bedrock", bedrock_model_id="stability.stable-image-core-v1:1").settings
    )
    assert core["supports"]["variations"] is False and core["supports"]["premium"] is False
    dalle = options_json(wire(image_provider="openai", openai_image_model="dall-e-3").settings)
    assert [s["id"] for s in dalle["styles"]] == ["vivid", "natural"]
    assert dalle["supports"]["seed"] is False


# ---- generate with options -------------------------------------------------------------------


def test_generate_records_the_options_and_charges_the_premium_price() -> None:
    w = wire(generation_cost=50, generation_cost_premium=120)
    user = w.user(coins=200)
    command = GenerateImage(
        prompt="a fox", negative_prompt="fog", style="noir", seed=7, quality="premium", width=512, height=512
    )
    image = w.images().generate(user.id, command)
    assert image.coins_used == 120
    assert image.generation == Generation(
        "local", "local-painter-v2", seed=7, style="noir", negative_prompt="fog", quality="premium"
    )
    assert image.to_json()["generation"]["seed"] == 7
    assert w.repos.users.find_by_id(user.id).coins == 80  # type: ignore[union-attr]
    (entry,) = w.repos.ledger.all_for_user(user.id)[1:]
    assert (entry.reason, entry.amount) == (LedgerReason.IMAGE_GENERATION, -120)
    assert w.repos.images.find_by_id(image.id).generation == image.generation  # type: ignore[union-attr]
    assert w.books_balance(user.id)


def test_premium_without_enough_coins_is_402_and_nothing_happens() -> None:
    w = wire(generation_cost=50, generation_cost_premium=120)
    user = w.user(coins=100)
    with pytest.raises(InsufficientCoins):
        w.images().generate(user.id, GenerateImage(prompt="dear", quality="premium"))
    assert w.repos.images.find_by_user_id(user.id).items == [] and w.publisher.sent == []


def test_a_seed_is_chosen_when_none_is_given_and_a_replay_answers_the_same() -> None:
    w = wire()
    user = w.user(coins=500)
    command = GenerateImage(prompt="seedless")
    first = w.images().generate(user.id, command, "key-1")
    assert first.generation is not None and first.generation.seed is not None
    assert 0 <= first.generation.seed <= 2_147_483_647
    again = w.images().generate(user.id, command, "key-1")
    assert again.id == first.id and again.generation == first.generation
    other = w.images().generate(user.id, command)
    assert other.generation is not None and other.generation.seed != first.generation.seed


def test_the_chosen_seed_stays_within_the_models_range() -> None:
    nova = capabilities_for("bedrock", NOVA_CANVAS_ID)
    seeds = {seed_for(f"image-{i}", nova) for i in range(200)}
    assert all(seed is not None and 0 <= seed <= 858_993_459 for seed in seeds) and len(seeds) == 200
    assert seed_for("x", capabilities_for("openai", "gpt-image-1")) is None


@pytest.mark.parametrize(
    ("settings", "command", "fields"),
    [
        ({}, GenerateImage(prompt="x", style="photographic"), ["style"]),
        (
            {"image_provider": "bedrock", "bedrock_model_id": "amazon.titan-image-generator-v2:0"},
            GenerateImage(prompt="x", style="noir"),
            ["style"],
        ),
        (
            {"image_provider": "bedrock", "bedrock_model_id": NOVA_CANVAS_ID},
            GenerateImage(prompt="x", seed=900_000_000),
            ["seed"],
        ),
        (
            {"image_provider": "bedrock", "bedrock_model_id": "stability.sd3-5-large-v1:0"},
            GenerateImage(prompt="x", quality="premium"),
            ["quality"],
        ),
        (
            {"image_provider": "openai", "openai_image_model": "gpt-image-1"},
            GenerateImage(prompt="x", negative_prompt="dogs", seed=3, style="vivid"),
            ["negativePrompt", "style", "seed"],
        ),
    ],
)
def test_an_option_the_model_lacks_is_422_and_nothing_is_created_or_charged(
    settings: dict[str, str], command: GenerateImage, fields: list[str]
) -> None:
    w = wire(**settings)
    user = w.user(coins=500)
    with pytest.raises(ValidationError) as caught:
        w.images().generate(user.id, command, "key-x")
    assert _fields(caught) == fields
    assert w.repos.images.find_by_user_id(user.id).items == []
    assert w.publisher.sent == [] and w.repos.users.find_by_id(user.id).coins == 500  # type: ignore[union-attr]
    assert w.repos.images.find_created(user.id, "client:generate:key-x") is None


def test_the_same_key_with_other_options_is_refused() -> None:
    w = wire()
    user = w.user(coins=500)
    w.images().generate(user.id, GenerateImage(prompt="p", style="noir"), "k")
    with pytest.raises(IdempotencyKeyReused):
        w.images().generate(user.id, GenerateImage(prompt="p", style="neon"), "k")


# ---- variations ------------------------------------------------------------------------------


def test_a_variation_is_charged_like_a_generation_and_points_at_its_source() -> None:
    w = wire(generation_cost=40, generation_cost_premium=90)
    user = w.user(coins=200)
    source_id = _completed(w, user.id, size=(512, 384))
    w.publisher.sent.clear()
    image = w.images().vary(
        user.id, VaryImage(source_image_id=source_id, strength=0.3, seed=11, style="neon")
    )
    assert image.type is ImageType.GENERATED and image.status is ImageStatus.PENDING
    assert image.source_image_id == source_id and image.to_json()["sourceImageId"] == source_id
    assert image.prompt == "a lighthouse" and image.coins_used == 40
    assert image.dimensions() == {"width": 1024, "height": 768}
    assert image.generation == Generation("local", "local-painter-v2", seed=11, style="neon", strength=0.3)
    entries = w.repos.ledger.all_for_user(user.id)
    assert [(e.reason, e.amount, e.image_id) for e in entries[-1:]] == [
        (LedgerReason.IMAGE_GENERATION, -40, image.id)
    ]
    assert w.publisher.sent == [
        ("queue://generation", GenerationRequest(image.id, user.id, "a lighthouse", 1024, 768))
    ]
    assert w.books_balance(user.id)


def test_a_variation_without_seed_or_strength_gets_a_seed_and_the_default_strength() -> None:
    w = wire()
    user = w.user(coins=500)
    source_id = _completed(w, user.id)
    image = w.images().vary(user.id, VaryImage(source_image_id=source_id, prompt="at night"))
    assert image.prompt == "at night"
    assert image.generation is not None and image.generation.seed is not None
    assert image.generation.strength == 0.5


def test_variation_idempotency() -> None:
    w = wire(generation_cost=10)
    user = w.user(coins=100)
    source_id = _completed(w, user.id)
    command = VaryImage(source_image_id=source_id)
    first = w.images().vary(user.id, command, "v-1")
    again = w.images().vary(user.id, command, "v-1")
    assert again.id == first.id and again.generation == first.generation
    assert w.repos.users.find_by_id(user.id).coins == 80  # type: ignore[union-attr]  # source + one variation
    with pytest.raises(IdempotencyKeyReused):
        w.images().vary(user.id, VaryImage(source_image_id=source_id, strength=0.8), "v-1")


def test_someone_elses_or_a_missing_source_is_not_found() -> None:
    w = wire()
    owner, other = w.user(coins=500), w.user(coins=500)
    source_id = _completed(w, owner.id)
    for user_id, image_id in ((other.id, source_id), (owner.id, "no-such-image")):
        with pytest.raises(NotFound):
            w.images().vary(user_id, VaryImage(source_image_id=image_id))
    assert w.repos.users.find_by_id(other.id).coins == 500  # type: ignore[union-attr]


def test_a_source_not_completed_is_409_image_not_ready() -> None:
    w = wire()
    user = w.user(coins=500)
    pending = w.images().generate(user.id, GenerateImage(prompt="still cooking"))
    coins = w.repos.users.find_by_id(user.id).coins  # type: ignore[union-attr]
    with pytest.raises(ImageNotReady) as caught:
        w.images().vary(user.id, VaryImage(source_image_id=pending.id))
    assert caught.value.status == 409 and caught.value.code == "image_not_ready"
    assert w.repos.users.find_by_id(user.id).coins == coins  # type: ignore[union-attr]
    assert len(w.repos.images.find_by_user_id(user.id).items) == 1


def test_variations_the_model_cannot_make_are_422() -> None:
    w = wire(image_provider="bedrock", bedrock_model_id="stability.stable-image-ultra-v1:1")
    user = w.user(coins=500)
    source_id = _completed(w, user.id)
    with pytest.raises(ValidationError) as caught:
        w.images().vary(user.id, VaryImage(source_image_id=source_id))
    assert _fields(caught) == ["sourceImageId"]
    nova = wire(image_provider="bedrock", bedrock_model_id=NOVA_CANVAS_ID)
    user = nova.user(coins=500)
    source_id = _completed(nova, user.id)
    with pytest.raises(ValidationError) as caught:
        nova.images().vary(user.id, VaryImage(source_image_id=source_id, style="photographic"))
    assert _fields(caught) == ["style"]
    openai = wire(image_provider="openai", openai_image_model="gpt-image-1")
    user = openai.user(coins=500)
    source_id = _completed(openai, user.id)
    with pytest.raises(ValidationError) as caught:
        openai.images().vary(user.id, VaryImage(source_image_id=source_id, strength=0.4))
    assert _fields(caught) == ["strength"]
    assert len(openai.repos.images.find_by_user_id(user.id).items) == 1


def test_an_uploaded_source_needs_a_prompt() -> None:
    w = wire()
    user = w.user(coins=500)
    upload = w.images().create_upload(user.id, StartUpload("photo.png", "image/png", 1000)).image
    w.repos.images.update_status(upload.id, ImageStatus.COMPLETED)
    with pytest.raises(ValidationError) as caught:
        w.images().vary(user.id, VaryImage(source_image_id=upload.id))
    assert _fields(caught) == ["prompt"]
    image = w.images().vary(user.id, VaryImage(source_image_id=upload.id, prompt="as a painting"))
    assert (image.prompt, image.source_image_id) == ("as a painting", upload.id)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((1024, 1024), (1024, 1024)),
        ((4000, 3000), (1024, 768)),
        ((300, 900), (320, 1024)),
        ((None, 5), (1024, 1024)),
    ],
)
def test_variation_size(source: tuple[int | None, int | None], expected: tuple[int, int]) -> None:
    assert variation_size(*source) == expected


# ---- the generator ---------------------------------------------------------------------------


def test_the_generator_passes_the_options_and_the_fitted_source_to_the_provider() -> None:
    w = wire()
    user = w.user(coins=500)
    source_id = _completed(w, user.id, size=(512, 384))
    variation = w.images().vary(user.id, VaryImage(source_image_id=source_id, seed=5, strength=0.7))
    request = next(
        m for _, m in w.publisher.sent if isinstance(m, GenerationRequest) and m.image_id == variation.id
    )
    w.generation().process(request)
    rendered = w.provider.inputs[-1]
    assert (rendered.seed, rendered.strength, rendered.width, rendered.height) == (5, 0.7, 1024, 768)
    assert rendered.source is not None
    fitted = PILImage.open(io.BytesIO(rendered.source.data))
    assert fitted.size == (1024, 768) and fitted.getpixel((10, 10)) == (200, 40, 40)
    assert w.storage.head(variation.storage_key) is not None


def test_a_variation_whose_source_was_deleted_fails_with_its_refund() -> None:
    w = wire(generation_cost=30)
    user = w.user(coins=100)
    source_id = _completed(w, user.id)
    variation = w.images().vary(user.id, VaryImage(source_image_id=source_id))
    w.images().delete(source_id, user.id)
    request = next(
        m for _, m in w.publisher.sent if isinstance(m, GenerationRequest) and m.image_id == variation.id
    )
    w.generation().process(request)
    failed = w.repos.images.find_by_id(variation.id)
    assert failed is not None and (failed.status, failed.failure_reason) == (
        ImageStatus.FAILED,
        "source_unavailable",
    )
    assert w.repos.users.find_by_id(user.id).coins == 70  # type: ignore[union-attr]  # the source's 30 only
    assert w.books_balance(user.id)
