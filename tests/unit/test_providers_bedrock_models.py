"""Bedrock model families through a real botocore client with botocore's Stubber: the request bodies
each family sends and the documented response bodies it reads (docs/providers.md cites the sources),
including content-filtered and throttled answers."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from imagegen import aws
from imagegen.errors import PermanentError, ProviderThrottled, TransientError
from imagegen.providers import GenerationInput, SourceImage
from imagegen.providers.bedrock import THROTTLE_ATTEMPTS, BedrockProvider, bedrock_client
from imagegen.providers.bedrock_models import nova_size, similarity, stability_ratio
from imagegen.providers.capabilities import (
    NOVA_CANVAS_ID,
    SD35_LARGE_ID,
    STABLE_IMAGE_CORE_ID,
    STABLE_IMAGE_ULTRA_ID,
    TITAN_V2_ID,
)
from PIL import Image


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("BEDROCK_MODEL_ID", raising=False)
    monkeypatch.delenv("BEDROCK_REGION", raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


class Stubbed:
    def __init__(self, stubber: Stubber, sent: list[dict[str, Any]]) -> None:
        self.stubber = stubber
        self.sent = sent
        self.sleeps: list[float] = []

    def provider(self, model_id: str) -> BedrockProvider:
        return BedrockProvider(model_id=model_id, sleep=self.sleeps.append)

    def answer(self, model_id: str, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.stubber.add_response(
            "invoke_model",
            {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"},
            {
                "modelId": model_id,
                "body": ANY,
                "contentType": "application/json",
                "accept": "application/json",
            },
        )

    def refuse(self, code: str, message: str, status: int) -> None:
        self.stubber.add_client_error(
            "invoke_model", service_error_code=code, service_message=message, http_status_code=status
        )

    def body(self, index: int = -1) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.sent[index]["body"])
        return loaded


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[Stubbed]:
    client = bedrock_client()
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.InvokeModel", lambda params, **_: sent.append(params)
    )
    with Stubber(client) as stubber:
        yield Stubbed(stubber, sent)
        stubber.assert_no_pending_responses()


def png(width: int, height: int, colour: tuple[int, int, int] = (30, 90, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


# ---- Amazon Nova Canvas (the default) -----------------------------------------------------------


def test_nova_is_the_default_model(aws_env: None) -> None:
    assert BedrockProvider().model == NOVA_CANVAS_ID


def test_nova_text_to_image_with_every_option(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    # Documented response: {"images": [base64], "error": null}.
    stubbed.answer(NOVA_CANVAS_ID, {"images": [b64(png(1024, 768))], "error": None})
    request = GenerationInput(
        "a lighthouse at dusk",
        1024,
        768,
        negative_prompt="fog",
        style="photographic",
        seed=858_993_459,
        quality="premium",
    )
    generated = provider.render(request)
    assert size_of(generated.data) == (1024, 768)
    assert stubbed.body() == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse at dusk", "negativeText": "fog", "style": "PHOTOREALISM"},
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": 1024,
            "height": 768,
            "quality": "premium",
            "seed": 858_993_459,
        },
    }


def test_nova_small_sizes_render_at_its_minimum_and_are_fitted(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    stubbed.answer(NOVA_CANVAS_ID, {"images": [b64(png(320, 640))], "error": None})
    generated = provider.render(GenerationInput("tall", 256, 512, seed=1))
    config = stubbed.body()["imageGenerationConfig"]
    assert (config["width"], config["height"]) == (320, 640)
    assert size_of(generated.data) == (256, 512)
    assert nova_size(1024, 1024) == (1024, 1024) and nova_size(256, 320) == (320, 400)


def test_nova_variation_sends_the_source_and_the_similarity(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    source = png(512, 512, (200, 20, 20))
    stubbed.answer(NOVA_CANVAS_ID, {"images": [b64(png(512, 512))], "error": None})
    provider.render(
        GenerationInput("a red barn", 512, 512, seed=3, source=SourceImage(source, 512, 512), strength=0.3)
    )
    body = stubbed.body()
    assert body["taskType"] == "IMAGE_VARIATION"
    assert body["imageVariationParams"] == {
        "text": "a red barn",
        "images": [b64(source)],
        "similarityStrength": 0.8,
    }
    assert body["imageGenerationConfig"]["seed"] == 3
    assert (similarity(0.1), similarity(0.9), similarity(None)) == (1.0, 0.2, 0.6)


def test_nova_content_filter_refusals(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    # The prompt refused before generation: a ValidationException naming the content filters.
    stubbed.refuse("ValidationException", "This request has been blocked by our content filters.", 400)
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("something refused", 512, 512))
    assert info.value.reason == "content_filtered"
    # The output refused: the response's "error" field.
    stubbed.answer(
        NOVA_CANVAS_ID,
        {"images": [], "error": "The generated image has been blocked by our content filters."},
    )
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("something refused", 512, 512))
    assert info.value.reason == "content_filtered"


def test_throttling_is_retried_with_backoff_then_succeeds(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    stubbed.refuse("ThrottlingException", "Too many requests, please wait before trying again.", 429)
    stubbed.answer(NOVA_CANVAS_ID, {"images": [b64(png(512, 512))], "error": None})
    assert size_of(provider.render(GenerationInput("busy", 512, 512)).data) == (512, 512)
    assert stubbed.sleeps == [2.0]
    assert len(stubbed.sent) == 2


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 429), ("ServiceQuotaExceededException", 400), ("SomethingElse", 429)],
)
def test_throttling_that_persists_raises_provider_throttled(stubbed: Stubbed, code: str, status: int) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    for _ in range(THROTTLE_ATTEMPTS):
        stubbed.refuse(code, "Too many requests, please wait before trying again.", status)
    with pytest.raises(ProviderThrottled):
        provider.render(GenerationInput("busy", 512, 512))
    assert stubbed.sleeps == [2.0, 4.0] and len(stubbed.sent) == THROTTLE_ATTEMPTS


def test_other_transient_errors_are_not_retried_in_the_call(stubbed: Stubbed) -> None:
    provider = stubbed.provider(NOVA_CANVAS_ID)
    stubbed.refuse("ModelTimeoutException", "Model has timed out", 408)
    with pytest.raises(TransientError) as info:
        provider.render(GenerationInput("slow", 512, 512))
    assert not isinstance(info.value, ProviderThrottled)
    assert stubbed.sleeps == [] and len(stubbed.sent) == 1


def test_an_option_the_model_lacks_is_refused_before_any_call(stubbed: Stubbed) -> None:
    provider = stubbed.provider(TITAN_V2_ID)
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("x", 512, 512, style="photographic"))
    assert info.value.reason == "provider_rejected" and stubbed.sent == []


# ---- Amazon Titan Image Generator v2 ------------------------------------------------------------


def test_titan_options_and_variation(stubbed: Stubbed) -> None:
    provider = stubbed.provider(TITAN_V2_ID)
    stubbed.answer(TITAN_V2_ID, {"images": [b64(png(1024, 1024))], "error": None})
    provider.render(
        GenerationInput("a kite", 1024, 1024, negative_prompt="rain", seed=2_147_483_646, quality="premium")
    )
    assert stubbed.body() == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a kite", "negativeText": "rain"},
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": 1024,
            "height": 1024,
            "quality": "premium",
            "seed": 2_147_483_646,
        },
    }
    source = png(1024, 1024, (10, 200, 10))
    stubbed.answer(TITAN_V2_ID, {"images": [b64(png(1024, 1024))], "error": None})
    provider.render(
        GenerationInput("a kite", 1024, 1024, seed=9, source=SourceImage(source, 1024, 1024), strength=0.9)
    )
    body = stubbed.body()
    assert body["taskType"] == "IMAGE_VARIATION"
    assert body["imageVariationParams"]["similarityStrength"] == 0.2
    assert body["imageVariationParams"]["images"] == [b64(source)]


# ---- Stability AI on Bedrock --------------------------------------------------------------------


def test_sd35_large_text_to_image(stubbed: Stubbed) -> None:
    provider = stubbed.provider(SD35_LARGE_ID)
    # Documented response: {"seeds": [...], "finish_reasons": [null], "images": [base64]}.
    stubbed.answer(SD35_LARGE_ID, {"seeds": [8], "finish_reasons": [None], "images": [b64(png(1344, 768))]})
    generated = provider.render(
        GenerationInput("a harbour  at night", 1024, 576, negative_prompt="people", seed=7)
    )
    assert stubbed.body() == {
        "prompt": "a harbour at night",
        "output_format": "png",
        "negative_prompt": "people",
        "seed": 8,  # Stability reads 0 as random: our seeds are shifted by one
        "aspect_ratio": "16:9",
    }
    assert size_of(generated.data) == (1024, 576)


def test_sd35_large_image_to_image(stubbed: Stubbed) -> None:
    provider = stubbed.provider(SD35_LARGE_ID)
    source = png(768, 768)
    stubbed.answer(SD35_LARGE_ID, {"seeds": [1], "finish_reasons": [None], "images": [b64(png(1024, 1024))]})
    generated = provider.render(
        GenerationInput("as a mosaic", 768, 768, seed=0, source=SourceImage(source, 768, 768), strength=0.6)
    )
    assert stubbed.body() == {
        "prompt": "as a mosaic",
        "output_format": "png",
        "seed": 1,
        "mode": "image-to-image",
        "image": b64(source),
        "strength": 0.6,
    }
    assert size_of(generated.data) == (768, 768)


@pytest.mark.parametrize("model_id", [STABLE_IMAGE_CORE_ID, STABLE_IMAGE_ULTRA_ID])
def test_stable_image_core_and_ultra(stubbed: Stubbed, model_id: str) -> None:
    provider = stubbed.provider(model_id)
    stubbed.answer(model_id, {"seeds": [5], "finish_reasons": [None], "images": [b64(png(832, 1216))]})
    generated = provider.render(GenerationInput("a portrait", 512, 768, seed=4))
    assert stubbed.body()["aspect_ratio"] == "2:3"
    assert size_of(generated.data) == (512, 768)
    with pytest.raises(PermanentError) as info:  # no image-to-image for these on Bedrock
        provider.render(GenerationInput("x", 512, 512, source=SourceImage(png(512, 512), 512, 512)))
    assert info.value.reason == "provider_rejected"


@pytest.mark.parametrize(
    "reason", ["Filter reason: prompt", "Filter reason: output image", "Filter reason: input image"]
)
def test_stability_filtered_answers_are_content_filtered(stubbed: Stubbed, reason: str) -> None:
    provider = stubbed.provider(SD35_LARGE_ID)
    stubbed.answer(SD35_LARGE_ID, {"finish_reasons": [reason]})  # documented: no images then
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("refused", 512, 512))
    assert info.value.reason == "content_filtered"


def test_stability_inference_error_is_transient(stubbed: Stubbed) -> None:
    provider = stubbed.provider(SD35_LARGE_ID)
    stubbed.answer(SD35_LARGE_ID, {"seeds": [1], "finish_reasons": ["Inference error"], "images": []})
    with pytest.raises(TransientError):
        provider.render(GenerationInput("unlucky", 512, 512))


def test_stability_aspect_ratios() -> None:
    assert stability_ratio(1024, 1024) == "1:1"
    assert stability_ratio(576, 1024) == "9:16"
    assert stability_ratio(1024, 768) == "5:4"
    assert stability_ratio(1024, 256) == "21:9"


def test_bedrock_region_setting_picks_the_client_region(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDROCK_REGION", "us-west-2")
    assert bedrock_client().meta.region_name == "us-west-2"


def test_an_unknown_model_is_refused_at_construction(aws_env: None) -> None:
    with pytest.raises(ValueError, match="not a supported image model"):
        BedrockProvider(model_id="meta.llama3-8b-instruct-v1:0")
