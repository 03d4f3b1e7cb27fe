"""ADMIN role at sign-in: only for verified emails listed in ADMIN_EMAILS."""

from __future__ import annotations

import pytest
from imagegen.auth.admin import is_admin_email
from imagegen.settings import Settings

SETTINGS = Settings(admin_emails=frozenset({"boss@example.com", "ops@example.org"}))


@pytest.mark.parametrize("email", ["boss@example.com", "Boss@Example.COM", " ops@example.org "])
def test_listed_verified_emails_are_admins(email: str) -> None:
    assert is_admin_email(email, True, SETTINGS)


def test_unverified_email_is_never_admin() -> None:
    assert not is_admin_email("boss@example.com", False, SETTINGS)


@pytest.mark.parametrize("email", ["someone@example.com", "", "boss@example.com.evil.test", "boss@example"])
def test_unlisted_emails_are_not_admins(email: str) -> None:
    assert not is_admin_email(email, True, SETTINGS)


def test_no_admin_emails_configured_means_no_admins() -> None:
    assert not is_admin_email("boss@example.com", True, Settings(admin_emails=frozenset()))


def test_admin_emails_setting_is_read_case_insensitively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_EMAILS", "Boss@Example.com, ,ops@example.org")
    assert is_admin_email("boss@example.com", True, Settings())
