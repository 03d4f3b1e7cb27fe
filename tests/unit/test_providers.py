"""Image providers: the registry, the offline provider and Bedrock (real botocore client, stubbed)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from imagegen import aws
from imagegen.errors import PermanentError, TransientError
from imagegen.providers import GeneratedImage, ImageProvider, get_provider, provider_names
from imagegen.providers.bedrock import (
    MAX_PROMPT_CHARS,
    TITAN_SIZES,
    BedrockProvider,
    bedrock_client,
    native_size,
    shorten_prompt,
)
from imagegen.providers.capabilities import TITAN_V2_ID
from imagegen.providers.local import FAIL_PERMANENT_MARKER, FAIL_TRANSIENT_MARKER, LocalProvider
from PIL import Image, ImageChops, ImageStat

REPO = Path(__file__).resolve().parents[2]


def open_png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    im.load()
    return im


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "layers" / "shared"), **env},
    )
    return result.stdout.strip()


# ---------------------------------------------------------------------------------------------
# registry


def test_get_provider_by_name() -> None:
    assert isinstance(get_provider("local"), LocalProvider)
    assert isinstance(get_provider(" LOCAL "), LocalProvider)
    assert isinstance(get_provider(""), LocalProvider)
    assert isinstance(get_provider(), LocalProvider)
    assert isinstance(get_provider("bedrock"), BedrockProvider)
    assert provider_names() == ["bedrock", "local", "openai"]
    for name in provider_names():
        provider = get_provider(name)
        assert isinstance(provider, ImageProvider)
        assert provider.name == name


def test_unknown_provider_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown image provider 'dalle'"):
        get_provider("dalle")


def test_importing_providers_loads_neither_boto3_nor_pillow() -> None:
    out = run_python(
        "import sys\n"
        "import imagegen.providers as p\n"
        "import imagegen.providers.local, imagegen.providers.bedrock, imagegen.providers.openai\n"
        "p.get_provider('local'); p.get_provider('bedrock'); p.get_provider('openai')\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'PIL') if m in sys.modules))\n"
    )
    assert out == "[]"


# ---------------------------------------------------------------------------------------------
# local provider


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (256, 1024), (1024, 256), (640, 448), (64, 64)])
def test_local_exact_size_png(width: int, height: int) -> None:
    generated = LocalProvider().generate("a lighthouse on a cliff at dusk", width, height)
    assert isinstance(generated, GeneratedImage)
    assert (generated.content_type, generated.extension) == ("image/png", "png")
    im = open_png(generated.data)
    assert im.size == (width, height)
    assert im.mode == "RGB"


def test_local_same_prompt_same_bytes_different_prompt_different_picture() -> None:
    provider = LocalProvider()
    first = provider.generate("a red fox in the snow", 512, 512).data
    again = provider.generate("a red fox in the snow", 512, 512).data
    other = provider.generate("a blue whale in the deep", 512, 512).data
    assert first == again
    assert first != other
    diff = ImageChops.difference(open_png(first), open_png(other))
    # Not a few pixels apart: the pictures differ on average by a visible amount.
    assert statistics.mean(ImageStat.Stat(diff).mean) > 10


def test_local_is_deterministic_across_processes() -> None:
    code = (
        "import hashlib\n"
        "from imagegen.providers.local import LocalProvider\n"
        "data = LocalProvider().generate('tea on a rainy window', 320, 192).data\n"
        "print(hashlib.sha256(data).hexdigest())\n"
    )
    here = hashlib.sha256(LocalProvider().generate("tea on a rainy window", 320, 192).data).hexdigest()
    assert run_python(code, PYTHONHASHSEED="1") == here
    assert run_python(code, PYTHONHASHSEED="2") == here


def test_local_picture_is_not_flat() -> None:
    im = open_png(LocalProvider().generate("mountains", 512, 512).data)
    stat = ImageStat.Stat(im)
    assert min(stat.stddev) > 8
    assert len(im.getcolors(maxcolors=1_000_000) or []) > 1000


def test_local_is_fast_enough() -> None:
    provider = LocalProvider()
    provider.generate("warm-up", 256, 256)
    timings = []
    for i in range(3):
        start = time.perf_counter()
        provider.generate(f"speed test {i}", 1024, 1024)
        timings.append(time.perf_counter() - start)
    # About 0.1 s here; the bound leaves room for a busy CI machine.
    assert statistics.median(timings) < 0.6


def test_local_failure_markers() -> None:
    provider = LocalProvider()
    with pytest.raises(TransientError):
        provider.generate(f"a cat {FAIL_TRANSIENT_MARKER} on a mat", 256, 256)
    with pytest.raises(PermanentError) as info:
        provider.generate(f"{FAIL_PERMANENT_MARKER} a dog", 256, 256)
    assert info.value.reason == "provider_rejected"
    assert FAIL_TRANSIENT_MARKER == "[[fail:transient]]"
    assert FAIL_PERMANENT_MARKER == "[[fail:permanent]]"


@pytest.mark.parametrize(("width", "height"), [(0, 256), (256, -1), (5000, 256)])
def test_local_refuses_impossible_sizes(width: int, height: int) -> None:
    with pytest.raises(PermanentError):
        LocalProvider().generate("x", width, height)


def test_local_handles_odd_prompts() -> None:
    for prompt in ("", "   ", "🦊 " * 300, "a" * 5000, "line\nbreaks\tand tabs"):
        assert open_png(LocalProvider().generate(prompt, 256, 320).data).size == (256, 320)


# ---------------------------------------------------------------------------------------------
# bedrock: pure helpers


def test_native_sizes_pass_through() -> None:
    for size in TITAN_SIZES:
        assert native_size(*size) == size


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ((256, 256), (512, 512)),
        ((640, 1024), (768, 1280)),
        ((1024, 640), (1280, 768)),
        ((960, 960), (1024, 1024)),
    ],
)
def test_native_size_choice(requested: tuple[int, int], expected: tuple[int, int]) -> None:
    assert native_size(*requested) == expected


def test_every_contract_size_maps_to_a_native_size_that_covers_it() -> None:
    for width in range(256, 1025, 64):
        for height in range(256, 1025, 64):
            w, h = native_size(width, height)
            assert (w, h) in TITAN_SIZES
            assert w >= width and h >= height, (width, height, w, h)


def test_shorten_prompt() -> None:
    assert shorten_prompt("  a   cat \n on a mat ") == "a cat on a mat"
    long = "word " * 200
    short = shorten_prompt(long)
    assert len(short) <= MAX_PROMPT_CHARS
    assert short.endswith("word")
    assert len(shorten_prompt("x" * 600)) == MAX_PROMPT_CHARS


# ---------------------------------------------------------------------------------------------
# bedrock: real client, stubbed responses


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("BEDROCK_MODEL_ID", raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[BedrockProvider, Stubber, list[dict[str, Any]]]]:
    client = bedrock_client()
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    client.meta.events.register("provide-client-params.bedrock-runtime.InvokeModel", record)
    with Stubber(client) as stubber:
        yield BedrockProvider(model_id=TITAN_V2_ID, sleep=lambda _: None), stubber, sent
        stubber.assert_no_pending_responses()


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = (20, 120, 200)) -> bytes:
    out = io.BytesIO()
    im = Image.new("RGB", (width, height), colour)
    im.paste((250, 250, 250), (0, 0, width // 4, height))  # a left band, to check the crop
    im.save(out, "PNG")
    return out.getvalue()


def titan_response(document: dict[str, Any] | bytes) -> dict[str, Any]:
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    return {"body": StreamingBody(io.BytesIO(payload), len(payload)), "contentType": "application/json"}


def expected_params(model_id: str = TITAN_V2_ID) -> dict[str, Any]:
    return {"modelId": model_id, "body": ANY, "contentType": "application/json", "accept": "application/json"}


def test_bedrock_success_returns_the_png(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]],
) -> None:
    provider, stubber, sent = stubbed
    original = png_bytes(1024, 1024)
    stubber.add_response(
        "invoke_model", titan_response({"images": [base64.b64encode(original).decode()]}), expected_params()
    )
    generated = provider.generate("a lighthouse", 1024, 1024)
    assert generated == GeneratedImage(original, "image/png", "png")  # native size: untouched
    assert open_png(generated.data).size == (1024, 1024)
    body = json.loads(sent[0]["body"])
    assert body == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a lighthouse"},
        "imageGenerationConfig": {"numberOfImages": 1, "width": 1024, "height": 1024},
    }


def test_bedrock_non_native_size_is_rendered_larger_then_fitted(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]],
) -> None:
    provider, stubber, sent = stubbed
    stubber.add_response(
        "invoke_model",
        titan_response({"images": [base64.b64encode(png_bytes(1280, 768)).decode()], "error": None}),
        expected_params(),
    )
    generated = provider.generate("a wide harbour", 1024, 640)
    im = open_png(generated.data)
    assert im.size == (1024, 640)
    assert json.loads(sent[0]["body"])["imageGenerationConfig"] == {
        "numberOfImages": 1,
        "width": 1280,
        "height": 768,
    }
    # Centre crop from 1280x768 (5:3) to 8:5 trims the sides a little; the white band stays left.
    assert im.getpixel((5, 320)) == (250, 250, 250)
    assert im.getpixel((1000, 320)) == (20, 120, 200)


def test_bedrock_small_size(stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]]) -> None:
    provider, stubber, sent = stubbed
    stubber.add_response(
        "invoke_model",
        titan_response({"images": [base64.b64encode(png_bytes(512, 512)).decode()]}),
        expected_params(),
    )
    assert open_png(provider.generate("tiny", 256, 256).data).size == (256, 256)
    assert json.loads(sent[0]["body"])["imageGenerationConfig"]["width"] == 512


def test_bedrock_model_id_from_env_and_long_prompt(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, stubber, sent = stubbed
    monkeypatch.setenv("BEDROCK_MODEL_ID", "amazon.titan-image-generator-v1")
    provider = BedrockProvider()
    stubber.add_response(
        "invoke_model",
        titan_response({"images": [base64.b64encode(png_bytes(512, 512)).decode()]}),
        expected_params("amazon.titan-image-generator-v1"),
    )
    provider.generate("castle " * 200, 512, 512)
    text = json.loads(sent[0]["body"])["textToImageParams"]["text"]
    assert 0 < len(text) <= MAX_PROMPT_CHARS


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailableException", 503),
        ("ModelTimeoutException", 408),
        ("InternalServerException", 500),
        ("SomethingNew", 502),
    ],
)
def test_bedrock_transient_errors(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]], code: str, status: int
) -> None:
    provider, stubber, _ = stubbed
    stubber.add_client_error(
        "invoke_model", service_error_code=code, service_message="slow down", http_status_code=status
    )
    with pytest.raises(TransientError):
        provider.generate("a cat", 1024, 1024)


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        ("ValidationException", "Malformed input request: width must be one of ...", "provider_rejected"),
        ("ValidationException", "This request has been blocked by our content filters.", "content_filtered"),
        (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            "provider_rejected",
        ),
        ("ResourceNotFoundException", "Could not resolve the foundation model", "provider_rejected"),
    ],
)
def test_bedrock_permanent_errors(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]], code: str, message: str, reason: str
) -> None:
    provider, stubber, _ = stubbed
    stubber.add_client_error(
        "invoke_model", service_error_code=code, service_message=message, http_status_code=400
    )
    with pytest.raises(PermanentError) as info:
        provider.generate("a cat", 1024, 1024)
    assert info.value.reason == reason
    assert not isinstance(info.value, TransientError)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>gateway</html>", "provider_error"),
        (b"[]", "provider_error"),
        (json.dumps({"images": []}).encode(), "provider_error"),
        (
            json.dumps({"images": [], "error": "Image was blocked by content filters"}).encode(),
            "content_filtered",
        ),
        (json.dumps({"images": ["***not base64***"]}).encode(), "provider_error"),
        (json.dumps({"images": [base64.b64encode(b"not a png").decode()]}).encode(), "provider_error"),
    ],
)
def test_bedrock_bad_responses(
    stubbed: tuple[BedrockProvider, Stubber, list[dict[str, Any]]], payload: bytes, reason: str
) -> None:
    provider, stubber, _ = stubbed
    stubber.add_response("invoke_model", titan_response(payload), expected_params())
    with pytest.raises(PermanentError) as info:
        provider.generate("a cat", 1024, 1024)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    ],
)
def test_bedrock_network_failures_are_transient(aws_env: None, error: Exception) -> None:
    import boto3

    # A real client whose HTTP layer fails before anything leaves the machine.
    client = boto3.session.Session().client(
        "bedrock-runtime", region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )

    def fail(**_: Any) -> None:
        raise error

    client.meta.events.register("before-send.bedrock-runtime.InvokeModel", fail)
    with pytest.raises(TransientError):
        BedrockProvider(client=client, model_id=TITAN_V2_ID).generate("a cat", 1024, 1024)


def test_bedrock_client_is_created_once_in_the_configured_region(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    first = bedrock_client()
    assert first is bedrock_client()
    assert first.meta.region_name == "eu-west-1"
    assert BedrockProvider().client is first
