"""Where sign-in secrets come from: Secrets Manager and SSM (on moto) through Powertools, env fallback."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from imagegen.auth.secrets import SecretConfigurationError, SecretsProvider
from imagegen.errors import ServiceUnavailable
from imagegen.settings import Settings
from moto import mock_aws

SESSION_KEY = "a-session-signing-key-of-at-least-32-bytes"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ENDPOINT_URL_SSM",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    # Powertools keeps its providers (and their cached values and boto3 clients) for the process.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    with mock_aws():
        yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def settings(
    *,
    google_client_secret_name: str = "",
    google_client_secret: str = "",
    session_secret_name: str = "",
    session_signing_key: str = "",
) -> Settings:
    """Settings with exactly these secret sources, whatever the test runner's environment holds."""
    return Settings(
        google_client_secret_name=google_client_secret_name,
        google_client_secret=google_client_secret,
        session_secret_name=session_secret_name,
        session_signing_key=session_signing_key,
    )


def test_reads_secrets_manager_and_ssm_secure_string() -> None:
    boto3.client("secretsmanager").create_secret(Name="imagegen/google", SecretString="GOCSPX-from-sm")
    boto3.client("ssm").put_parameter(Name="/imagegen/session-key", Value=SESSION_KEY, Type="SecureString")
    provider = SecretsProvider(
        settings(google_client_secret_name="imagegen/google", session_secret_name="/imagegen/session-key")
    )
    assert provider.google_client_secret() == "GOCSPX-from-sm"
    assert provider.session_signing_key() == SESSION_KEY.encode()


def test_reads_ssm_for_the_client_secret_and_secrets_manager_for_the_key() -> None:
    boto3.client("ssm").put_parameter(Name="/imagegen/google", Value="GOCSPX-from-ssm", Type="SecureString")
    boto3.client("secretsmanager").create_secret(Name="imagegen-session", SecretString=SESSION_KEY + "\n")
    provider = SecretsProvider(
        settings(google_client_secret_name="/imagegen/google", session_secret_name="imagegen-session")
    )
    assert provider.google_client_secret() == "GOCSPX-from-ssm"
    assert provider.session_signing_key() == SESSION_KEY.encode()


def test_values_are_cached_across_invocations() -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="imagegen/google", SecretString="first")
    assert (
        SecretsProvider(settings(google_client_secret_name="imagegen/google")).google_client_secret()
        == "first"
    )
    client.put_secret_value(SecretId="imagegen/google", SecretString="rotated")
    # A new provider (a new request in the same warm container) still gets the cached value.
    assert (
        SecretsProvider(settings(google_client_secret_name="imagegen/google")).google_client_secret()
        == "first"
    )


def test_values_expire_after_max_age() -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="imagegen/google", SecretString="first")
    # max_age=0 stands in for "max_age has passed": each value is stale as soon as it is stored.
    provider = SecretsProvider(settings(google_client_secret_name="imagegen/google"), max_age=0)
    assert provider.google_client_secret() == "first"
    client.put_secret_value(SecretId="imagegen/google", SecretString="rotated")
    assert provider.google_client_secret() == "rotated"


def test_a_secret_name_wins_over_the_plain_value() -> None:
    boto3.client("secretsmanager").create_secret(Name="imagegen/google", SecretString="from-sm")
    provider = SecretsProvider(
        settings(google_client_secret_name="imagegen/google", google_client_secret="plain")
    )
    assert provider.google_client_secret() == "from-sm"


def test_plain_environment_is_the_local_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "local-secret")
    monkeypatch.setenv("SESSION_SIGNING_KEY", SESSION_KEY)
    for name in ("GOOGLE_CLIENT_SECRET_NAME", "SESSION_SECRET_NAME"):
        monkeypatch.delenv(name, raising=False)
    provider = SecretsProvider(Settings())
    assert provider.google_client_secret() == "local-secret"
    assert provider.session_signing_key() == SESSION_KEY.encode()


def test_missing_everywhere_is_a_clear_configuration_error() -> None:
    provider = SecretsProvider(settings())
    with pytest.raises(SecretConfigurationError, match=r"GOOGLE_CLIENT_SECRET_NAME.*GOOGLE_CLIENT_SECRET"):
        provider.google_client_secret()
    with pytest.raises(SecretConfigurationError, match=r"SESSION_SECRET_NAME.*SESSION_SIGNING_KEY"):
        provider.session_signing_key()


def test_short_session_key_is_a_configuration_error() -> None:
    with pytest.raises(SecretConfigurationError, match="32 bytes"):
        SecretsProvider(settings(session_signing_key="too-short")).session_signing_key()


def test_empty_secret_value_is_a_configuration_error() -> None:
    boto3.client("secretsmanager").create_secret(Name="imagegen/google", SecretString="   ")
    with pytest.raises(SecretConfigurationError):
        SecretsProvider(settings(google_client_secret_name="imagegen/google")).google_client_secret()


@pytest.mark.parametrize("name", ["imagegen/does-not-exist", "/imagegen/does-not-exist"])
def test_unreadable_secret_is_service_unavailable_and_logs_only_the_name(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ServiceUnavailable):
        SecretsProvider(settings(google_client_secret_name=name)).google_client_secret()
    assert name in caplog.text


def test_secret_values_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="imagegen")
    boto3.client("secretsmanager").create_secret(Name="imagegen/google", SecretString="GOCSPX-do-not-log")
    SecretsProvider(settings(google_client_secret_name="imagegen/google")).google_client_secret()
    assert "GOCSPX-do-not-log" not in caplog.text


def test_constructing_the_provider_fetches_nothing() -> None:
    # No secret exists: construction alone must not fail (handlers build it at import time).
    SecretsProvider(settings(google_client_secret_name="imagegen/missing", session_secret_name="/missing"))


def test_stripe_secrets_come_from_their_secrets_or_the_local_fallback() -> None:
    boto3.client("secretsmanager").create_secret(Name="imagegen/stripe-key", SecretString="sk_live_abc")
    boto3.client("secretsmanager").create_secret(Name="imagegen/stripe-webhook", SecretString=" whsec_abc\n")
    provider = SecretsProvider(
        Settings(
            stripe_secret_key_name="imagegen/stripe-key",
            stripe_secret_key="sk_plain_ignored",
            stripe_webhook_secret_name="imagegen/stripe-webhook",
        )
    )
    assert (provider.stripe_secret_key(), provider.stripe_webhook_secret()) == ("sk_live_abc", "whsec_abc")
    local = SecretsProvider(Settings(stripe_secret_key="sk_test_local", stripe_webhook_secret="whsec_local"))
    assert (local.stripe_secret_key(), local.stripe_webhook_secret()) == ("sk_test_local", "whsec_local")
    with pytest.raises(SecretConfigurationError, match="STRIPE_WEBHOOK_SECRET_NAME"):
        SecretsProvider(
            Settings(stripe_webhook_secret_name="", stripe_webhook_secret="")
        ).stripe_webhook_secret()


def test_an_unreadable_stripe_secret_says_payments_are_unavailable() -> None:
    provider = SecretsProvider(Settings(stripe_webhook_secret_name="imagegen/missing"))
    with pytest.raises(ServiceUnavailable, match="Payments are temporarily unavailable"):
        provider.stripe_webhook_secret()


def test_openai_api_key_comes_from_its_secret_only() -> None:
    boto3.client("secretsmanager").create_secret(Name="openai-key", SecretString=" sk-from-secret \n")
    assert (
        SecretsProvider(Settings(openai_api_key_secret_name="openai-key")).openai_api_key()
        == "sk-from-secret"
    )
    with pytest.raises(SecretConfigurationError, match="OPENAI_API_KEY_SECRET_NAME"):
        SecretsProvider(Settings(openai_api_key_secret_name="")).openai_api_key()
    with pytest.raises(ServiceUnavailable):
        SecretsProvider(Settings(openai_api_key_secret_name="no-such-secret")).openai_api_key()
