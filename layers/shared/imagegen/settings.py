"""Typed settings, read from the environment once per process and validated at start-up.

Every name here is set by ``template.yaml`` for the functions that read it (a test checks both ways),
and the local stack takes each from its own environment over the template's defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"setting {name} must be >= {minimum}, got {value}")
    return value


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    value = raw.upper()
    if value not in allowed:
        raise ValueError(f"setting {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _csv(name: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in os.environ.get(name, "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    # Persistence and storage
    table_name: str = field(default_factory=lambda: _str("TABLE_NAME", "imagegen"))
    bucket_name: str = field(default_factory=lambda: _str("BUCKET_NAME", "imagegen-images"))
    bucket_prefix: str = field(default_factory=lambda: _str("BUCKET_PREFIX", "images").strip("/"))
    thumbnail_prefix: str = field(default_factory=lambda: _str("THUMBNAIL_PREFIX", "thumbnails").strip("/"))
    s3_endpoint_url: str = field(default_factory=lambda: _str("S3_ENDPOINT_URL"))
    public_base_url: str = field(default_factory=lambda: _str("PUBLIC_BASE_URL").rstrip("/"))
    generation_queue_url: str = field(default_factory=lambda: _str("GENERATION_QUEUE_URL"))
    ledger_queue_url: str = field(default_factory=lambda: _str("LEDGER_QUEUE_URL"))
    # Prices, limits and bonuses
    generation_cost: int = field(default_factory=lambda: _int("GENERATION_COST", 50))
    upload_cost: int = field(default_factory=lambda: _int("UPLOAD_COST", 0))
    signup_bonus_coins: int = field(default_factory=lambda: _int("SIGNUP_BONUS_COINS", 100))
    rate_limit_generate_per_minute: int = field(
        default_factory=lambda: _int("RATE_LIMIT_GENERATE_PER_MINUTE", 10, minimum=1)
    )
    rate_limit_upload_per_minute: int = field(
        default_factory=lambda: _int("RATE_LIMIT_UPLOAD_PER_MINUTE", 30, minimum=1)
    )
    max_pending_uploads: int = field(default_factory=lambda: _int("MAX_PENDING_UPLOADS", 20, minimum=1))
    max_upload_bytes: int = field(
        default_factory=lambda: _int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1)
    )
    max_image_pixels: int = field(default_factory=lambda: _int("MAX_IMAGE_PIXELS", 50_000_000, minimum=1))
    signed_url_ttl: int = field(default_factory=lambda: _int("SIGNED_URL_TTL", 300, minimum=1))
    upload_url_ttl: int = field(default_factory=lambda: _int("UPLOAD_URL_TTL", 900, minimum=1))
    # How browsers send uploads: "POST" (a form POST policy, S3) or "PUT" (a presigned PUT, Cloudflare R2).
    upload_method: str = field(
        default_factory=lambda: _choice("UPLOAD_METHOD", _str("UPLOAD_METHOD", "POST"), ("POST", "PUT"))
    )
    session_ttl: int = field(default_factory=lambda: _int("SESSION_TTL", 3600, minimum=60))
    stuck_image_minutes: int = field(default_factory=lambda: _int("STUCK_IMAGE_MINUTES", 30, minimum=1))
    # Sign-in
    admin_emails: frozenset[str] = field(default_factory=lambda: _csv("ADMIN_EMAILS"))
    frontend_url: str = field(
        default_factory=lambda: _str("FRONTEND_URL", "http://127.0.0.1:3000").rstrip("/")
    )
    api_base_url: str = field(default_factory=lambda: _str("API_BASE_URL").rstrip("/"))
    google_client_id: str = field(default_factory=lambda: _str("GOOGLE_CLIENT_ID", "local-client-id"))
    google_auth_url: str = field(
        default_factory=lambda: _str("GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")
    )
    google_token_url: str = field(
        default_factory=lambda: _str("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
    )
    google_jwks_url: str = field(
        default_factory=lambda: _str("GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs")
    )
    google_issuers: frozenset[str] = frozenset({"https://accounts.google.com", "accounts.google.com"})
    # Secrets: a Secrets Manager / SSM name on AWS; the plain value only as a local fallback.
    google_client_secret_name: str = field(default_factory=lambda: _str("GOOGLE_CLIENT_SECRET_NAME"))
    google_client_secret: str = field(default_factory=lambda: _str("GOOGLE_CLIENT_SECRET"))
    session_secret_name: str = field(default_factory=lambda: _str("SESSION_SECRET_NAME"))
    session_signing_key: str = field(default_factory=lambda: _str("SESSION_SIGNING_KEY"))
    # Generation
    image_provider: str = field(default_factory=lambda: _str("IMAGE_PROVIDER", "local"))
    # Coin shop (docs/payments.md): packs as a JSON array ("" = the three default packs), Stripe's API
    # base ("" = Stripe itself), its API key and webhook secret (secret names; plain values only locally).
    coin_packs: str = field(default_factory=lambda: _str("COIN_PACKS"))
    stripe_api_base: str = field(default_factory=lambda: _str("STRIPE_API_BASE").rstrip("/"))
    stripe_secret_key_name: str = field(default_factory=lambda: _str("STRIPE_SECRET_KEY_NAME"))
    stripe_secret_key: str = field(default_factory=lambda: _str("STRIPE_SECRET_KEY"))
    stripe_webhook_secret_name: str = field(default_factory=lambda: _str("STRIPE_WEBHOOK_SECRET_NAME"))
    stripe_webhook_secret: str = field(default_factory=lambda: _str("STRIPE_WEBHOOK_SECRET"))
    stripe_webhook_tolerance: int = field(
        default_factory=lambda: _int("STRIPE_WEBHOOK_TOLERANCE", 300, minimum=1)
    )
    # How long a generation the provider throttles may wait in its queue before it fails and refunds.
    provider_throttle_max_wait_seconds: int = field(
        default_factory=lambda: _int("PROVIDER_THROTTLE_MAX_WAIT_SECONDS", 1200, minimum=60)
    )
    # Live updates and the CDN
    websocket_management_url: str = field(
        default_factory=lambda: _str("WEBSOCKET_MANAGEMENT_URL").rstrip("/")
    )
    cdn_distribution_id: str = field(default_factory=lambda: _str("CDN_DISTRIBUTION_ID"))
    # Generation options and providers (docs/providers.md)
    generation_cost_premium: int = field(default_factory=lambda: _int("GENERATION_COST_PREMIUM", 100))
    bedrock_model_id: str = field(default_factory=lambda: _str("BEDROCK_MODEL_ID", "amazon.nova-canvas-v1:0"))
    bedrock_region: str = field(default_factory=lambda: _str("BEDROCK_REGION"))
    openai_base_url: str = field(
        default_factory=lambda: _str("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    )
    openai_image_model: str = field(default_factory=lambda: _str("OPENAI_IMAGE_MODEL", "gpt-image-1"))
    openai_api_key_secret_name: str = field(default_factory=lambda: _str("OPENAI_API_KEY_SECRET_NAME"))

    def image_model(self) -> str:
        """The model of the configured provider, as recorded on the images it makes."""
        provider = self.image_provider.strip().lower()
        if provider == "bedrock":
            return self.bedrock_model_id
        if provider == "openai":
            return self.openai_image_model
        return "local-painter-v2"

    # Exports (batch downloads as one ZIP)
    export_queue_url: str = field(default_factory=lambda: _str("EXPORT_QUEUE_URL"))
    export_ttl_hours: int = field(default_factory=lambda: _int("EXPORT_TTL_HOURS", 24, minimum=1))
    max_active_exports: int = field(default_factory=lambda: _int("MAX_ACTIVE_EXPORTS", 2, minimum=1))


@cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
