"""The OpenAI provider over real HTTP against the local stand-in of the Images API (devstack), which
answers in the API's shapes: generations, edits (multipart), and its error answers (content policy,
rate limit, quota, server error, bad key)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from imagegen.errors import PermanentError, ProviderThrottled, TransientError
from imagegen.providers import GenerationInput, SourceImage
from imagegen.providers.openai import THROTTLE_ATTEMPTS, OpenAIProvider, render_size
from PIL import Image

from devstack.stack.apigw import HttpRequest
from devstack.stack.openai import OpenAIStandIn


class Server:
    def __init__(self) -> None:
        self.standin = OpenAIStandIn(base_path="/_local/openai", api_key="sk-test-key")
        self.status_override: list[tuple[int, bytes]] = []
        standin, overrides = self.standin, self.status_override

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if overrides:
                    status, payload = overrides.pop(0)
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                path, _, query = self.path.partition("?")
                request = HttpRequest("POST", path, query, list(self.headers.items()), body)
                response = standin.handle(request)
                self.send_response(response.status)
                for key, value in response.headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/_local/openai/v1"

    def provider(
        self, model: str = "gpt-image-1", key: str = "sk-test-key"
    ) -> tuple[OpenAIProvider, list[float]]:
        sleeps: list[float] = []
        provider = OpenAIProvider(
            base_url=self.base_url, model=model, api_key=lambda: key, sleep=sleeps.append
        )
        return provider, sleeps

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def size_of(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def test_generation_renders_the_model_size_and_fits_it(server: Server) -> None:
    provider, _ = server.provider("gpt-image-1")
    generated = provider.render(GenerationInput("a lighthouse", 1024, 576, quality="premium"))
    assert size_of(generated.data) == (1024, 576)
    (asked,) = server.standin.requests
    assert asked == {
        "endpoint": "generations",
        "prompt": "a lighthouse",
        "model": "gpt-image-1",
        "n": "1",
        "size": "1536x1024",
        "quality": "high",
        "image": False,
    }


def test_dall_e_3_style_quality_and_b64(server: Server) -> None:
    provider, _ = server.provider("dall-e-3")
    provider.render(GenerationInput("a city", 1024, 1024, style="natural"))
    (asked,) = server.standin.requests
    assert (asked["style"], asked["quality"], asked["response_format"], asked["size"]) == (
        "natural",
        "standard",
        "b64_json",
        "1024x1024",
    )


def test_a_variation_goes_to_edits_as_multipart(server: Server) -> None:
    provider, _ = server.provider("gpt-image-1")
    out = io.BytesIO()
    Image.new("RGB", (512, 512), (250, 10, 10)).save(out, "PNG")
    generated = provider.render(
        GenerationInput("as a poster", 512, 512, source=SourceImage(out.getvalue(), 512, 512))
    )
    assert size_of(generated.data) == (512, 512)
    (asked,) = server.standin.requests
    assert (asked["endpoint"], asked["image"], asked["size"], asked["prompt"]) == (
        "edits",
        True,
        "1024x1024",
        "as a poster",
    )
    red = Image.open(io.BytesIO(generated.data)).convert("RGB").getpixel((256, 100))
    assert isinstance(red, tuple) and red[0] > red[2]  # derived from the red source


def test_content_policy_refusal_is_content_filtered(server: Server) -> None:
    provider, _ = server.provider()
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("[[openai:content_policy]] something", 1024, 1024))
    assert info.value.reason == "content_filtered"


def test_rate_limit_is_retried_then_provider_throttled(server: Server) -> None:
    provider, sleeps = server.provider()
    with pytest.raises(ProviderThrottled):
        provider.render(GenerationInput("[[openai:rate_limit]] busy", 1024, 1024))
    assert len(server.standin.requests) == THROTTLE_ATTEMPTS
    assert sleeps == [2.0, 4.0]  # the backoff wins over the shorter Retry-After: 1


def test_quota_exhausted_is_not_throttling(server: Server) -> None:
    provider, sleeps = server.provider()
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("[[openai:quota]] x", 1024, 1024))
    assert info.value.reason == "provider_rejected" and sleeps == []


def test_server_errors_are_transient(server: Server) -> None:
    provider, _ = server.provider()
    with pytest.raises(TransientError) as info:
        provider.render(GenerationInput("[[openai:server_error]] x", 1024, 1024))
    assert not isinstance(info.value, ProviderThrottled)
    server.status_override.append((502, b"<html>bad gateway</html>"))
    with pytest.raises(TransientError):
        provider.render(GenerationInput("fine", 1024, 1024))


def test_a_wrong_key_is_rejected_for_good(server: Server) -> None:
    provider, _ = server.provider(key="sk-wrong")
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("x", 1024, 1024))
    assert info.value.reason == "provider_rejected"


def test_an_unreachable_server_is_transient() -> None:
    provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1", model="gpt-image-1", api_key=lambda: "k")
    with pytest.raises(TransientError):
        provider.render(GenerationInput("x", 1024, 1024))


def test_a_body_that_is_not_an_image_answer(server: Server) -> None:
    provider, _ = server.provider()
    server.status_override.append((200, json.dumps({"created": 1, "data": [{"url": "https://x"}]}).encode()))
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("x", 1024, 1024))
    assert info.value.reason == "provider_error"


def test_options_openai_cannot_take_are_refused_before_any_call(server: Server) -> None:
    provider, _ = server.provider("gpt-image-1")
    with pytest.raises(PermanentError):
        provider.render(GenerationInput("x", 1024, 1024, seed=4))
    dalle3, _ = server.provider("dall-e-3")
    with pytest.raises(PermanentError):
        dalle3.render(GenerationInput("x", 512, 512, source=SourceImage(b"", 512, 512)))
    assert server.standin.requests == []


def test_render_sizes() -> None:
    assert render_size("gpt-image-1", 576, 1024) == (1024, 1536)
    assert render_size("dall-e-3", 1024, 576) == (1792, 1024)
    assert render_size("dall-e-2", 256, 256) == (256, 256)
    assert render_size("my-local-model", 1024, 576) == (1024, 1024)


def test_without_a_configured_key_the_image_fails_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagegen.settings import reset_settings

    monkeypatch.setenv("OPENAI_API_KEY_SECRET_NAME", "")
    reset_settings()
    provider = OpenAIProvider(base_url="http://127.0.0.1:9/v1", model="gpt-image-1")
    with pytest.raises(PermanentError) as info:
        provider.render(GenerationInput("x", 1024, 1024))
    assert info.value.reason == "provider_rejected"
    reset_settings()
