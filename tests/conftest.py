from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from imagegen.models import User
    from imagegen.persistence import Repositories

    from devstack.emulator import SerializedMotoServer

pytest_plugins = ["tests.fixtures_storage"]

# Every index query of the emulator (in this process and in the local stacks the tests start) is checked
# against a scan of the table: devstack.moto_fixes keeps index buckets, and a stale one must fail loudly.
os.environ.setdefault("DEVSTACK_CHECK_INDEXES", "1")


# ---- DynamoDB: the serialized emulator, a fresh table per test, the repositories -----------------
# Repository tests talk HTTP to one moto server per session (the local stack's code path, through
# AWS_ENDPOINT_URL_DYNAMODB), with DynamoDB requests serialized so that conditional writes are
# atomic as on AWS; that is what makes the concurrency tests meaningful. Each test gets its own
# table, created from template.yaml.

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"
CURSOR_KEY = b"tests-cursor-key-0123456789abcdef"


@pytest.fixture(scope="session")
def emulator() -> Iterator[SerializedMotoServer]:
    """One serialized moto server on a free loopback port for the whole session."""
    from devstack.emulator import SerializedMotoServer

    server = SerializedMotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    emulator: SerializedMotoServer,
) -> Iterator[str]:
    """Fake credentials, us-east-1, every AWS endpoint at the emulator. Yields the endpoint URL."""
    from imagegen.settings import reset_settings

    empty = tmp_path_factory.mktemp("aws-config")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", emulator.endpoint_url)
    reset_settings()
    yield emulator.endpoint_url
    reset_settings()


@pytest.fixture
def table(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, uniquely named table built from template.yaml, dropped afterwards. Yields its name."""
    from imagegen.settings import reset_settings

    from devstack.template import delete_table, ensure_table

    name = f"test-{uuid.uuid4().hex}"
    ensure_table(TEMPLATE_PATH, name)
    monkeypatch.setenv("TABLE_NAME", name)
    reset_settings()
    try:
        yield name
    finally:
        delete_table(name)


@pytest.fixture
def repos(table: str) -> Repositories:
    """All repositories on the test's table, with a fixed cursor key."""
    from imagegen.persistence import build_repositories

    return build_repositories(table, CURSOR_KEY)


@pytest.fixture
def table_items(table: str) -> Callable[[], list[dict[str, Any]]]:
    """Scan the test's table (tests only: no request path ever scans) into plain dicts."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    client = boto3.client("dynamodb")
    deserializer = TypeDeserializer()

    def scan() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items += [{k: deserializer.deserialize(v) for k, v in raw.items()} for raw in page["Items"]]
        return items

    return scan


@pytest.fixture
def new_user(repos: Repositories) -> Callable[..., User]:
    """Create a user with a unique email and Google id: ``new_user(coins=100, admin=False)``."""
    from imagegen.models import User, UserRole, new_id

    def create(coins: int = 100, *, admin: bool = False, email: str | None = None) -> User:
        user_id = new_id()
        user = User(
            id=user_id,
            email=email or f"user-{user_id[:8]}@example.com",
            google_id=f"google-{user_id}",
            first_name="Ada",
            last_name="Lovelace",
            roles=[UserRole.USER, UserRole.ADMIN] if admin else [UserRole.USER],
        )
        return repos.users.create(user, signup_bonus=coins)

    return create
