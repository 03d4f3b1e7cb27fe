"""Where the sign-in secrets come from: the Google OAuth client secret and the session signing key.

Order of resolution, per secret:

1. ``*_NAME`` set (``GOOGLE_CLIENT_SECRET_NAME``, ``SESSION_SECRET_NAME``): read through the Powertools
   parameters utility, which caches the value in the process for ``max_age`` seconds, so warm
   invocations do not call AWS. A name starting with ``/`` is an SSM ``SecureString`` parameter
   (decrypted); any other name is a Secrets Manager secret whose ``SecretString`` is the value itself.
2. The plain value (``GOOGLE_CLIENT_SECRET``, ``SESSION_SIGNING_KEY``): a local-development fallback.
3. Neither: :class:`SecretConfigurationError`. There is deliberately no built-in default, so a
   deployment that forgot its secret fails loudly instead of signing sessions with a known key.

Secret values are never logged; only secret names are.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from imagegen.errors import ServiceUnavailable
from imagegen.settings import Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_SECONDS = 300
MIN_SESSION_KEY_BYTES = 32


# Module level so the warning appears once per container, not once per request.
_warned_plain: set[str] = set()


class SecretConfigurationError(RuntimeError):
    """A secret is not configured, or its value is unusable. An operator problem, not a client's."""


@dataclass(frozen=True)
class _Source:
    secret_name: str
    plain_value: str
    name_setting: str
    value_setting: str
    unavailable: str = "Sign-in is temporarily unavailable."  # what a client learns when AWS fails


_PAYMENTS_UNAVAILABLE = "Payments are temporarily unavailable; try again."


class SecretsProvider:
    """Reads the sign-in secrets. Cheap to construct: nothing is fetched until a value is asked for."""

    def __init__(self, settings: Settings | None = None, *, max_age: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        self._settings = settings or get_settings()
        self._max_age = max_age

    def google_client_secret(self) -> str:
        s = self._settings
        return self._resolve(
            _Source(
                s.google_client_secret_name,
                s.google_client_secret,
                "GOOGLE_CLIENT_SECRET_NAME",
                "GOOGLE_CLIENT_SECRET",
            )
        )

    def session_signing_key(self) -> bytes:
        s = self._settings
        value = self._resolve(
            _Source(
                s.session_secret_name, s.session_signing_key, "SESSION_SECRET_NAME", "SESSION_SIGNING_KEY"
            )
        )
        key = value.encode("utf-8")
        if len(key) < MIN_SESSION_KEY_BYTES:
            # HS256 with a short key can be brute-forced offline from any one token.
            raise SecretConfigurationError(
                f"the session signing key must be at least {MIN_SESSION_KEY_BYTES} bytes"
            )
        return key

    def openai_api_key(self) -> str:
        """The OpenAI Images API key (``OPENAI_API_KEY_SECRET_NAME``); no plain-value fallback: the local
        stack keeps it in its emulated Secrets Manager like on AWS."""
        s = self._settings
        return self._resolve(
            _Source(
                s.openai_api_key_secret_name, "", "OPENAI_API_KEY_SECRET_NAME", "OPENAI_API_KEY_SECRET_NAME"
            )
        )

    def stripe_secret_key(self) -> str:
        s = self._settings
        return self._resolve(
            _Source(
                s.stripe_secret_key_name,
                s.stripe_secret_key,
                "STRIPE_SECRET_KEY_NAME",
                "STRIPE_SECRET_KEY",
                _PAYMENTS_UNAVAILABLE,
            )
        )

    def stripe_webhook_secret(self) -> str:
        s = self._settings
        return self._resolve(
            _Source(
                s.stripe_webhook_secret_name,
                s.stripe_webhook_secret,
                "STRIPE_WEBHOOK_SECRET_NAME",
                "STRIPE_WEBHOOK_SECRET",
                _PAYMENTS_UNAVAILABLE,
            )
        )

    def _resolve(self, source: _Source) -> str:
        if source.secret_name:
            value = self._fetch(source.secret_name, source.unavailable)
        elif source.plain_value:
            self._warn_plain_on_lambda(source.value_setting)
            value = source.plain_value
        else:
            raise SecretConfigurationError(
                f"neither {source.name_setting} (a Secrets Manager secret, or an SSM parameter "
                f"starting with '/') nor {source.value_setting} is set"
            )
        value = value.strip()
        if not value:
            where = f"secret {source.secret_name}" if source.secret_name else source.value_setting
            raise SecretConfigurationError(f"the {where} is empty")
        return value

    def _fetch(self, name: str, unavailable: str) -> str:
        # Imported here: boto3 and the parameters utility cost cold-start time that functions which
        # never sign anyone in should not pay.
        from aws_lambda_powertools.utilities import parameters

        try:
            raw: str | bytes
            if name.startswith("/"):
                raw = parameters.get_parameter(name, decrypt=True, max_age=self._max_age)
            else:
                raw = parameters.get_secret(name, max_age=self._max_age)
        except parameters.GetParameterError as exc:
            # Throttling and missing permissions look alike from here; the log carries the name and
            # the SDK's reason for the operator, the client only learns to retry.
            log.error("could not read secret %s: %s", name, exc)
            raise ServiceUnavailable(unavailable) from exc
        if isinstance(raw, bytes):
            return raw.decode("utf-8")
        return str(raw)

    @staticmethod
    def _warn_plain_on_lambda(setting: str) -> None:
        on_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not os.environ.get("AWS_SAM_LOCAL")
        if on_lambda and setting not in _warned_plain:
            _warned_plain.add(setting)
            log.warning("%s is read from a plain environment variable; use a secret name on AWS", setting)
