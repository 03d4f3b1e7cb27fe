"""Storage fixtures: a fresh S3 bucket on moto, in-process (``mock_aws``) or behind a real HTTP server.

Registered from ``tests/conftest.py`` through ``pytest_plugins``. Every fixture name starts with
``storage_`` so it cannot clash with fixtures of other areas. Each test gets its own bucket name, so no
test sees another's objects, even on the one moto server the whole session shares.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from imagegen import aws
from imagegen.settings import reset_settings
from imagegen.storage import StorageService

# Variables that would point the client somewhere else or change key and URL formulas.
_STORAGE_VARIABLES = (
    "S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "PUBLIC_BASE_URL",
    "BUCKET_NAME",
    "BUCKET_PREFIX",
    "THUMBNAIL_PREFIX",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)


def _forget_cached_state() -> None:
    reset_settings()
    aws.reset_clients()


@pytest.fixture
def storage_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Fake credentials, a unique bucket name and default prefixes. Yields the bucket name."""
    for name in _STORAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No shared config or credentials file of the machine may leak into a test.
    empty = tmp_path_factory.mktemp("aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    bucket = f"test-images-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("BUCKET_NAME", bucket)
    _forget_cached_state()
    yield bucket
    _forget_cached_state()


@pytest.fixture
def storage_moto(storage_env: str) -> Iterator[StorageService]:
    """A StorageService on in-process moto (no endpoint: the AWS code path, virtual-hosted style)."""
    from moto import mock_aws

    with mock_aws():
        service = StorageService()
        service.client.create_bucket(Bucket=service.bucket)
        yield service


@pytest.fixture(scope="session")
def storage_moto_server() -> Iterator[str]:
    """One moto server on a free loopback port for the session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def storage_server(
    storage_env: str, storage_moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageService]:
    """A StorageService on the moto server through ``S3_ENDPOINT_URL`` (the R2 / local-stack code
    path: custom endpoint, path-style), so presigned URLs can be used over real HTTP."""
    monkeypatch.setenv("S3_ENDPOINT_URL", storage_moto_server)
    _forget_cached_state()
    service = StorageService()
    service.client.create_bucket(Bucket=service.bucket)
    yield service
    # The server outlives the test: empty the bucket so a big test does not hold its objects.
    with contextlib.suppress(Exception):  # cleanup only; the bucket name is never reused
        service.delete_prefix(f"{service.settings.bucket_prefix}/")
        service.delete_prefix(f"{service.settings.thumbnail_prefix}/")


@pytest.fixture(params=["mock_aws", "moto_server"])
def storage_service(request: pytest.FixtureRequest) -> StorageService:
    """The same test on both code paths: AWS-style (no endpoint) and endpoint + path-style."""
    name = "storage_moto" if request.param == "mock_aws" else "storage_server"
    service: StorageService = request.getfixturevalue(name)
    return service
