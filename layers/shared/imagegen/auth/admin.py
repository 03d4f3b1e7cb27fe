"""Who gets the ADMIN role at sign-in."""

from __future__ import annotations

from imagegen.settings import Settings


def is_admin_email(email: str, email_verified: bool, settings: Settings) -> bool:
    """True when ``email`` is listed in ``ADMIN_EMAILS`` (case-insensitive) and Google has verified it.

    An unverified address proves nothing about who holds it, so it never grants the role.
    """
    if email_verified is not True or not isinstance(email, str):
        return False
    normalized = email.strip().lower()
    return bool(normalized) and normalized in settings.admin_emails
