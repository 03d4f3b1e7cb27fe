"""The composition root: the real adapters, built on first use and reused while the process is warm, and
the services wired from them.

Each function's ``app.py`` says which services it uses (the HTTP functions through
:class:`HttpServices`); nothing else constructs an adapter. Tests wire the same services with in-memory
adapters (``tests/memory.py``) or call :func:`reset_adapters` after changing the environment.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import TYPE_CHECKING

from imagegen.ports import Clock, IdSource, RandomIds, SystemClock
from imagegen.settings import Settings, get_settings

if TYPE_CHECKING:
    from imagegen.auth.oauth import GoogleSignIn
    from imagegen.auth.secrets import SecretsProvider
    from imagegen.auth.sessions import SessionTokens
    from imagegen.payments.stripe import StripeGateway, StripeWebhookVerifier
    from imagegen.persistence import Repositories
    from imagegen.ports import ArchiveStore, ObjectStore, Publisher
    from imagegen.providers import ImageProvider
    from imagegen.services.accounts import AccountService
    from imagegen.services.admin import AdminService
    from imagegen.services.batch import BatchService
    from imagegen.services.collections import CollectionService
    from imagegen.services.exporter import Exporter
    from imagegen.services.exports import ExportService
    from imagegen.services.generation import GenerationService
    from imagegen.services.images import ImageService
    from imagegen.services.ledger import LedgerService
    from imagegen.services.live import Decoder, LiveService
    from imagegen.services.payments import PaymentEvents
    from imagegen.services.shop import ShopService
    from imagegen.services.sign_in import SignInService
    from imagegen.services.sweeper import Sweeper
    from imagegen.services.thumbnails import ThumbnailService


class Adapters:
    """One of each adapter per process. Every attribute is lazy: a function builds only what it uses."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.clock: Clock = SystemClock()
        self.ids: IdSource = RandomIds()

    @cached_property
    def secrets(self) -> SecretsProvider:
        from imagegen.auth.secrets import SecretsProvider

        return SecretsProvider(self.settings)

    @cached_property
    def signing_key(self) -> bytes:
        return self.secrets.session_signing_key()

    @cached_property
    def repos(self) -> Repositories:
        from imagegen.persistence import build_repositories

        # Cursors are signed with a key derived from the session key, never the key itself.
        cursor_key = hashlib.sha256(b"imagegen-cursor\x00" + self.signing_key).digest()
        return build_repositories(self.settings.table_name, cursor_key)

    @cached_property
    def storage(self) -> ObjectStore:
        from imagegen.storage import StorageService

        return StorageService(self.settings)

    @cached_property
    def publisher(self) -> Publisher:
        from imagegen.queues import SqsPublisher

        return SqsPublisher()

    @cached_property
    def sessions(self) -> SessionTokens:
        from imagegen.auth.sessions import SessionTokens

        return SessionTokens(self.signing_key, self.settings.session_ttl)

    @cached_property
    def google(self) -> GoogleSignIn:
        from imagegen.auth.oauth import GoogleSignIn

        return GoogleSignIn(self.settings, self.repos.ephemeral, self.secrets)

    @cached_property
    def provider(self) -> ImageProvider:
        from imagegen.providers import get_provider

        return get_provider(self.settings.image_provider)

    # The coin shop's adapters: ``stripe`` is imported on the first call that needs it, never here.
    @cached_property
    def payments(self) -> StripeGateway:
        from imagegen.payments.stripe import StripeGateway

        return StripeGateway(self.secrets.stripe_secret_key, self.settings.stripe_api_base)

    @cached_property
    def webhook_verifier(self) -> StripeWebhookVerifier:
        from imagegen.payments.stripe import StripeWebhookVerifier

        return StripeWebhookVerifier(
            self.secrets.stripe_webhook_secret, self.settings.stripe_webhook_tolerance
        )

    @cached_property
    def delayed_publisher(self) -> DelayedPublisher:
        from imagegen.queues import SqsDelayedPublisher

        return SqsDelayedPublisher()

    @cached_property
    def archives(self) -> ArchiveStore:
        from imagegen.storage.archives import S3ArchiveStore

        return S3ArchiveStore(self.settings)


# ---- the services, wired from adapters ---------------------------------------------------------
def account_service(a: Adapters) -> AccountService:
    from imagegen.services.accounts import AccountService

    return AccountService(
        users=a.repos.users,
        images=a.repos.images,
        collections=a.repos.collections,
        ledger=a.repos.ledger,
        sessions=a.sessions,
        storage=a.storage,
        publisher=a.publisher,
        settings=a.settings,
        clock=a.clock,
        ids=a.ids,
    )


def sign_in_service(a: Adapters) -> SignInService:
    from imagegen.services.sign_in import SignInService

    return SignInService(
        users=a.repos.users,
        google=a.google,
        sessions=a.sessions,
        states=a.repos.ephemeral,
        settings=a.settings,
    )


def admin_service(a: Adapters) -> AdminService:
    from imagegen.services.admin import AdminService

    return AdminService(users=a.repos.users, ids=a.ids)


def image_service(a: Adapters) -> ImageService:
    from imagegen.services.images import ImageService

    return ImageService(
        images=a.repos.images,
        collections=a.repos.collections,
        rate_limits=a.repos.ephemeral,
        storage=a.storage,
        publisher=a.publisher,
        settings=a.settings,
        clock=a.clock,
        ids=a.ids,
    )


def generation_service(a: Adapters) -> GenerationService:
    from imagegen.services.generation import GenerationService

    return GenerationService(images=a.repos.images, storage=a.storage, provider=a.provider)


def thumbnail_service(a: Adapters) -> ThumbnailService:
    from imagegen.services.thumbnails import ThumbnailService

    return ThumbnailService(
        images=a.repos.images, collections=a.repos.collections, storage=a.storage, settings=a.settings
    )


def ledger_service(a: Adapters) -> LedgerService:
    from imagegen.services.ledger import LedgerService

    return LedgerService(
        users=a.repos.users,
        images=a.repos.images,
        storage=a.storage,
        # Raise on an error: the message is delivered again (and the sweeper resumes what is left).
        erase_account=lambda user_id: account_service(a).delete_account(user_id, requeue_on_error=False),
    )


def sweeper(a: Adapters) -> Sweeper:
    from imagegen.services.sweeper import Sweeper

    return Sweeper(
        images=a.repos.images,
        users=a.repos.users,
        bookmarks=a.repos.ephemeral,
        storage=a.storage,
        ledger=ledger_service(a),
        erase_account=lambda user_id: account_service(a).delete_account(user_id, requeue_on_error=False),
        settings=a.settings,
    )


def live_service(a: Adapters) -> LiveService:
    from imagegen.live_adapters import ApiGatewayPusher, CloudFrontInvalidator
    from imagegen.services.live import LiveService

    settings = a.settings
    return LiveService(
        accounts=account_service(a),
        connections=a.repos.connections,
        pusher=ApiGatewayPusher(settings.websocket_management_url),
        clock=a.clock,
        cdn=CloudFrontInvalidator(settings.cdn_distribution_id) if settings.cdn_distribution_id else None,
        render_export=lambda export: export_service(a).to_json(export),
    )


def stream_decoder(a: Adapters) -> Decoder:
    """Stream records -> changes, with the entity classes of this table."""
    from imagegen.persistence.changes import decode_changes

    models = a.repos.models
    return lambda records: decode_changes(models, records)


def export_service(a: Adapters) -> ExportService:
    from imagegen.services.exports import ExportService

    return ExportService(
        exports=a.repos.exports,
        collections=a.repos.collections,
        storage=a.storage,
        archives=a.archives,
        publisher=a.publisher,
        settings=a.settings,
        clock=a.clock,
        ids=a.ids,
    )


def exporter(a: Adapters) -> Exporter:
    from imagegen.services.exporter import Exporter

    return Exporter(
        exports=a.repos.exports,
        images=a.repos.images,
        archives=a.archives,
        settings=a.settings,
        clock=a.clock,
    )


def shop_service(a: Adapters) -> ShopService:
    from imagegen.services.shop import ShopService

    return ShopService(purchases=a.repos.purchases, payments=a.payments, settings=a.settings, clock=a.clock)


def payment_events(a: Adapters) -> PaymentEvents:
    from imagegen.services.payments import PaymentEvents

    return PaymentEvents(purchases=a.repos.purchases, payments=a.payments, verifier=a.webhook_verifier)


class HttpServices:
    """The services of the HTTP functions, built on first use within one invocation."""

    def __init__(self, adapters: Adapters) -> None:
        self.adapters = adapters

    @property
    def settings(self) -> Settings:
        return self.adapters.settings

    @cached_property
    def accounts(self) -> AccountService:
        return account_service(self.adapters)

    @cached_property
    def sign_in(self) -> SignInService:
        return sign_in_service(self.adapters)

    @cached_property
    def admin(self) -> AdminService:
        return admin_service(self.adapters)

    @cached_property
    def images(self) -> ImageService:
        return image_service(self.adapters)

    @cached_property
    def shop(self) -> ShopService:
        return shop_service(self.adapters)

    @cached_property
    def payment_events(self) -> PaymentEvents:
        return payment_events(self.adapters)

    @cached_property
    def exports(self) -> ExportService:
        return export_service(self.adapters)

    @cached_property
    def collections(self) -> CollectionService:
        return collection_service(self.adapters)

    @cached_property
    def batch(self) -> BatchService:
        return batch_service(self.adapters)


def collection_service(a: Adapters) -> CollectionService:
    from imagegen.services.collections import CollectionService

    return CollectionService(collections=a.repos.collections, settings=a.settings, ids=a.ids)


def batch_service(a: Adapters) -> BatchService:
    from imagegen.services.batch import BatchService

    return BatchService(
        images=a.repos.images, collections=a.repos.collections, storage=a.storage, settings=a.settings
    )


# ---- one set of adapters per warm process ------------------------------------------------------
_adapters: Adapters | None = None


def get_adapters() -> Adapters:
    global _adapters  # noqa: PLW0603 - one set per warm process is the point
    if _adapters is None:
        _adapters = Adapters()
    return _adapters


def http_services() -> HttpServices:
    return HttpServices(get_adapters())


def reset_adapters() -> None:
    """Forget settings, clients and adapters (tests and the local stack change the environment)."""
    global _adapters  # noqa: PLW0603
    from imagegen import aws
    from imagegen.settings import reset_settings

    reset_settings()
    aws.reset_clients()
    _adapters = None


# ---- provider throttling as backpressure (services/backpressure.py) -----------------------------
if TYPE_CHECKING:
    from imagegen.ports import DelayedPublisher
    from imagegen.services.backpressure import ThrottleBackpressure


def throttle_backpressure(a: Adapters) -> ThrottleBackpressure:
    from imagegen.services.backpressure import ThrottleBackpressure

    return ThrottleBackpressure(
        images=a.repos.images,
        publisher=a.delayed_publisher,
        queue_url=a.settings.generation_queue_url,
        max_wait_seconds=a.settings.provider_throttle_max_wait_seconds,
        clock=a.clock,
    )
