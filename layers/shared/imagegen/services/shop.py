"""The coin shop's use cases: packs, checkout, a user's purchases, the admin list."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from imagegen.commands import StartCheckout, request_hash
from imagegen.errors import IdempotencyKeyReused, NotFound, ValidationError
from imagegen.observability import logger
from imagegen.ports import CheckoutRequest, Clock, OnceKey, Page, PaymentGateway, PurchaseRepository
from imagegen.purchases import CoinPack, Purchase, PurchaseStatus, new_purchase_id, parse_packs
from imagegen.services.images import client_key
from imagegen.settings import Settings


@dataclass(frozen=True)
class CheckoutStarted:
    purchase: Purchase
    checkout_url: str

    def to_json(self) -> dict[str, Any]:
        return {"purchase": self.purchase.to_json(), "checkoutUrl": self.checkout_url}


class ShopService:
    def __init__(
        self,
        *,
        purchases: PurchaseRepository,
        payments: PaymentGateway,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.purchases = purchases
        self.payments = payments
        self.settings = settings
        self.clock = clock
        # A malformed COIN_PACKS is a settings error: it fails here, never as a half-read list.
        self.packs: tuple[CoinPack, ...] = parse_packs(settings.coin_packs)

    def pack(self, pack_id: str) -> CoinPack:
        for pack in self.packs:
            if pack.id == pack_id:
                return pack
        raise ValidationError.single("packId", "is not one of the packs of GET /shop/packs")

    def checkout(
        self, user_id: str, email: str, command: StartCheckout, idempotency_key: str | None = None
    ) -> CheckoutStarted:
        """A PENDING purchase and the Checkout Session that pays it. With an ``Idempotency-Key``, the same
        key and body answer the first purchase (one session); another body with it is ``409``."""
        pack = self.pack(command.pack_id)
        once = None
        if idempotency_key:
            once = OnceKey(client_key("checkout", idempotency_key), request_hash(command))
            earlier = self._earlier(user_id, once)
            if earlier is not None:
                return earlier
        purchase = Purchase.start(new_purchase_id(self.clock.time()), user_id, pack)
        frontend = self.settings.frontend_url
        session = self.payments.create_checkout(
            _checkout_request(purchase, email, pack, frontend),
        )
        purchase = purchase.with_session(session.id, session.url)
        if once is not None:
            once = OnceKey(once.key, once.request_hash, json.dumps(_record(purchase)))
        created = self.purchases.create(purchase, once=once)
        if created is None:
            # A concurrent request with the same key won: its purchase is the answer, this session unused.
            self.payments.expire_checkout(session.id)
            assert once is not None
            earlier = self._earlier(user_id, once)
            if earlier is None:
                raise NotFound("No such purchase.")
            return earlier
        logger.info("checkout started", extra={"purchase_id": purchase.id, "pack_id": pack.id})
        return CheckoutStarted(purchase, session.url)

    def _earlier(self, user_id: str, once: OnceKey) -> CheckoutStarted | None:
        found = self.purchases.find_recorded(user_id, once.key)
        if found is None:
            return None
        recorded_hash, record = found
        if recorded_hash != once.request_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        assert record is not None
        first = json.loads(record)
        purchase = self.purchases.find(user_id, first["purchase"]["id"]) or Purchase.from_json(
            first["purchase"]
        )
        return CheckoutStarted(purchase, first["checkoutUrl"])

    def get(self, user_id: str, purchase_id: str) -> Purchase:
        purchase = self.purchases.find(user_id, purchase_id)
        if purchase is None:
            raise NotFound("No such purchase.")
        return purchase

    def list_for_user(self, user_id: str, limit: int, cursor: str | None) -> Page[Purchase]:
        return self.purchases.find_for_user(user_id, limit, cursor)

    def list_all(self, status: PurchaseStatus | None, limit: int, cursor: str | None) -> Page[Purchase]:
        return self.purchases.find_all(status, limit, cursor)


def _record(purchase: Purchase) -> dict[str, Any]:
    return {"purchase": purchase.to_json(), "checkoutUrl": purchase.checkout_url}


def _checkout_request(purchase: Purchase, email: str, pack: CoinPack, frontend: str) -> CheckoutRequest:
    return CheckoutRequest(
        purchase_id=purchase.id,
        user_id=purchase.user_id,
        email=email,
        pack_label=pack.label,
        amount_cents=pack.price_cents,
        currency=pack.currency,
        success_url=f"{frontend}/shop/success?purchase={purchase.id}",
        cancel_url=f"{frontend}/shop/cancel",
    )
