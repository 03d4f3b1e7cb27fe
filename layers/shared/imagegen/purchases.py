"""The coin shop's domain: coin packs (from ``COIN_PACKS``) and purchases, with their rules.

A purchase is created ``PENDING`` with the Checkout Session that pays it, and then moves on what Stripe
reports (``docs/payments.md``): ``PAID`` once credited, ``FAILED`` or ``EXPIRED`` when no money came,
``REVERSED`` once a refund or dispute took the coins back. ``credited`` and ``reversed`` are the two
facts the exactly-once rules are written on; ``reversal_pending`` remembers a reversal that arrived
before the credit, so it is applied when the credit lands instead of being lost.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from imagegen.models import utc_now

PACK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CURRENCY = re.compile(r"^[a-z]{3}$")
LABEL_MAX = 60
MAX_PACKS = 20
MAX_PACK_COINS = 1_000_000
MAX_PRICE_CENTS = 99_999_999  # Stripe's limit for an amount in the smallest unit

DEFAULT_COIN_PACKS: tuple[dict[str, Any], ...] = (
    {"id": "small", "coins": 500, "priceCents": 499, "currency": "usd", "label": "500 coins"},
    {"id": "medium", "coins": 1200, "priceCents": 999, "currency": "usd", "label": "1,200 coins"},
    {"id": "large", "coins": 3000, "priceCents": 1999, "currency": "usd", "label": "3,000 coins"},
)


class PurchaseStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    REVERSED = "REVERSED"


class FailureReason(StrEnum):
    PAYMENT_FAILED = "payment_failed"
    AMOUNT_MISMATCH = "amount_mismatch"


class ReversalKind(StrEnum):
    REFUNDED = "refunded"
    DISPUTED = "disputed"


@dataclass(frozen=True)
class CoinPack:
    id: str
    coins: int
    price_cents: int
    currency: str
    label: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "coins": self.coins,
            "priceCents": self.price_cents,
            "currency": self.currency,
            "label": self.label,
        }


def _pack(raw: object, position: int) -> CoinPack:
    where = f"COIN_PACKS[{position}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    pack_id, coins, price, currency = (
        raw.get("id"),
        raw.get("coins"),
        raw.get("priceCents"),
        raw.get("currency"),
    )
    label = raw.get("label")
    if not isinstance(pack_id, str) or not PACK_ID.match(pack_id):
        raise ValueError(f"{where}.id must match {PACK_ID.pattern}")
    for name, value, top in (("coins", coins, MAX_PACK_COINS), ("priceCents", price, MAX_PRICE_CENTS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{where}.{name} must be an integer from 1 to {top}")
    if not isinstance(currency, str) or not CURRENCY.match(currency.lower()):
        raise ValueError(f"{where}.currency must be a three-letter ISO currency code")
    if label is None:
        label = f"{coins} coins"
    if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX:
        raise ValueError(f"{where}.label must be 1 to {LABEL_MAX} characters")
    assert isinstance(coins, int) and isinstance(price, int)
    return CoinPack(pack_id, coins, price, currency.lower(), label.strip())


def parse_packs(raw: str) -> tuple[CoinPack, ...]:
    """The packs of a ``COIN_PACKS`` JSON array; an empty string means the three default packs.
    Anything malformed raises ValueError (a settings error, found at start-up)."""
    if not raw.strip():
        return tuple(_pack(p, i) for i, p in enumerate(DEFAULT_COIN_PACKS))
    try:
        loaded = json.loads(raw)
    except ValueError as exc:
        raise ValueError("COIN_PACKS must be a JSON array of packs") from exc
    if not isinstance(loaded, list) or not 1 <= len(loaded) <= MAX_PACKS:
        raise ValueError(f"COIN_PACKS must be a JSON array of 1 to {MAX_PACKS} packs")
    packs = tuple(_pack(p, i) for i, p in enumerate(loaded))
    if len({p.id for p in packs}) != len(packs):
        raise ValueError("COIN_PACKS ids must be unique")
    return packs


def new_purchase_id(now: float | None = None) -> str:
    """A UUID version 7: the first 48 bits are the creation time in milliseconds, so the ids of a
    user's purchases sort by creation (their sort keys list newest first without an index)."""
    ms = int((time.time() if now is None else now) * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class Purchase:
    id: str
    user_id: str
    pack_id: str
    coins: int
    amount_cents: int
    currency: str
    status: PurchaseStatus = PurchaseStatus.PENDING
    failure_reason: str | None = None
    checkout_session_id: str | None = None
    checkout_url: str | None = None
    payment_intent_id: str | None = None
    created_at: str = ""
    updated_at: str = ""
    paid_at: str | None = None
    credited_at: str | None = None
    reversed_at: str | None = None
    reversal_pending: str | None = None

    @classmethod
    def start(cls, purchase_id: str, user_id: str, pack: CoinPack) -> Purchase:
        now = utc_now()
        return cls(
            id=purchase_id,
            user_id=user_id,
            pack_id=pack.id,
            coins=pack.coins,
            amount_cents=pack.price_cents,
            currency=pack.currency,
            created_at=now,
            updated_at=now,
        )

    @property
    def credited(self) -> bool:
        return self.credited_at is not None

    @property
    def reversed(self) -> bool:
        return self.reversed_at is not None

    def with_session(self, session_id: str, url: str) -> Purchase:
        return replace(self, checkout_session_id=session_id, checkout_url=url)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "packId": self.pack_id,
            "coins": self.coins,
            "amountCents": self.amount_cents,
            "currency": self.currency,
            "status": str(self.status),
            "failureReason": self.failure_reason,
            "checkoutSessionId": self.checkout_session_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "paidAt": self.paid_at,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Purchase:
        """The inverse of :meth:`to_json` (an idempotent checkout's replay answers from its record)."""
        return cls(
            id=body["id"],
            user_id=body["userId"],
            pack_id=body["packId"],
            coins=int(body["coins"]),
            amount_cents=int(body["amountCents"]),
            currency=body["currency"],
            status=PurchaseStatus(body["status"]),
            failure_reason=body.get("failureReason"),
            checkout_session_id=body.get("checkoutSessionId"),
            created_at=body["createdAt"],
            updated_at=body["updatedAt"],
            paid_at=body.get("paidAt"),
        )
