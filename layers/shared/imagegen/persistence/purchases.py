"""PurchaseRepository: coin purchases in their user's partition, and the writes that settle them.

Every settlement is ONE TransactWriteItems (``docs/payments.md``):

- credit: the balance and its ``purchase`` ledger entry (through :class:`AccountBook`, guarded by the
  once-key ``server:purchase-credit:{id}``), the purchase ``PAID`` on the version it was read at,
  the Stripe event's record, and the PaymentIntent's alias;
- reversal: the same with a ``purchase_reversal`` entry (the only entry allowed to take a balance below
  zero), the purchase ``REVERSED``, the once-key ``server:purchase-reversal:{id}``;
- a status change without money (failed, expired, a reversal noted before its credit): the purchase on
  its version and the event's record.

A version that moved (another delivery got there first) cancels the transaction with nothing written:
:class:`PurchaseMoved` tells the caller to read again and decide again. An event record that exists
already: :class:`EventSeen`, nothing written.
"""

from __future__ import annotations

import time

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from imagegen.errors import NotFound
from imagegen.models import LedgerReason, utc_now
from imagegen.persistence.binding import TableModels
from imagegen.persistence.coins import AccountBook
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.dynamo import Transaction, TransactionCancelled, translated
from imagegen.persistence.items import PurchaseItem
from imagegen.persistence.keys import (
    ALIAS,
    PAYMENT_EVENT_SK,
    PROFILE,
    PURCHASE_PREFIX,
    PURCHASES_PARTITION,
    op_sk,
    payment_event_pk,
    payment_intent_pk,
    purchase_sk,
    purchase_status_pk,
    user_pk,
)
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.ports import CoinChange, EventSeen, OnceKey, Page, PaymentEvent, PurchaseMoved, PurchaseRef
from imagegen.purchases import Purchase, PurchaseStatus

EVENT_TTL_SECONDS = 90 * 24 * 3600
_PURCHASE = "purchase"
_USER = "user"
_OP = "op"
_EVENT = "event"
_INTENT = "intent"


def credit_key(purchase_id: str) -> str:
    return f"server:purchase-credit:{purchase_id}"


def reversal_key(purchase_id: str) -> str:
    return f"server:purchase-reversal:{purchase_id}"


class DynamoPurchaseRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec
        self._book = AccountBook(table)

    # ---- creation --------------------------------------------------------------------------------
    def create(self, purchase: Purchase, *, once: OnceKey | None = None) -> Purchase | None:
        """The new purchase with ``once``'s guard in one transaction; None when the key was used before
        (nothing written: the caller answers with what the key recorded)."""

        # Not through AccountBook.change: no coins move, and a balance below zero may still buy.
        tx = Transaction(self._table)
        profile = self._table.user(user_pk(purchase.user_id), PROFILE)
        tx.check(_USER, profile, self._table.user.pk.exists() & self._table.user.deleting.does_not_exist())
        tx.put(
            _PURCHASE, self._table.purchase.from_purchase(purchase), self._table.purchase.pk.does_not_exist()
        )
        if once is not None:
            operation = self._table.operation(
                user_pk(purchase.user_id),
                op_sk(once.key),
                request_hash=once.request_hash,
                response=once.record,
                created_at=purchase.created_at,
            )
            tx.put(_OP, operation, self._table.operation.pk.does_not_exist())
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_OP):
                return None
            if cancelled.failed(_USER):
                raise NotFound("No such user.") from cancelled
            raise cancelled.unexpected() from cancelled
        return purchase

    def find_recorded(self, user_id: str, key: str) -> tuple[str | None, str | None] | None:
        """``(request_hash, record)`` of an idempotency key, None when it was never used."""
        operation = self._book.find_operation(user_id, key)
        return None if operation is None else (operation.request_hash, operation.response)

    # ---- reads -------------------------------------------------------------------------------------
    def find(self, user_id: str, purchase_id: str) -> Purchase | None:
        item = self._item(user_id, purchase_id)
        return item.to_purchase() if item is not None else None

    def _item(self, user_id: str, purchase_id: str) -> PurchaseItem | None:
        if not user_id or not purchase_id:
            return None
        with translated():
            try:
                return self._table.purchase.get(
                    user_pk(user_id), purchase_sk(purchase_id), consistent_read=True
                )
            except self._table.purchase.DoesNotExist:
                return None

    def find_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Purchase]:
        """Newest first from the user's partition (UUIDv7 ids sort by creation); consistent."""
        query = PageQuery(
            scope=f"purchases:user:{user_id}",
            partition=user_pk(user_id),
            range_condition=self._table.purchase.sk.startswith(PURCHASE_PREFIX),
            consistent=True,
        )
        items, next_cursor = query_page(self._table.purchase, self._codec, query, limit, cursor)
        return Page([item.to_purchase() for item in items], next_cursor)

    def find_all(
        self, status: PurchaseStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page[Purchase]:
        if status is None:
            query = PageQuery(scope="purchases:all", partition=PURCHASES_PARTITION, index="gsi1")
        else:
            query = PageQuery(
                scope=f"purchases:status:{status.value}",
                partition=purchase_status_pk(status.value),
                index="gsi2",
            )
        items, next_cursor = query_page(self._table.purchase, self._codec, query, limit, cursor)
        return Page([item.to_purchase() for item in items], next_cursor)

    def find_by_payment_intent(self, payment_intent_id: str) -> PurchaseRef | None:
        with translated():
            try:
                alias = self._table.payment_intent.get(
                    payment_intent_pk(payment_intent_id), ALIAS, consistent_read=True
                )
            except self._table.payment_intent.DoesNotExist:
                return None
        return PurchaseRef(user_id=alias.user_id, purchase_id=alias.purchase_id)

    def event_seen(self, event_id: str) -> bool:
        with translated():
            try:
                self._table.payment_event.get(
                    payment_event_pk(event_id), PAYMENT_EVENT_SK, consistent_read=True
                )
            except self._table.payment_event.DoesNotExist:
                return False
        return True

    def find_versioned(self, user_id: str, purchase_id: str) -> tuple[Purchase, int] | None:
        """The purchase and the version a settlement of it must be conditioned on."""
        item = self._item(user_id, purchase_id)
        return (item.to_purchase(), int(item.version)) if item is not None else None

    # ---- settlements ---------------------------------------------------------------------------------
    def credit(self, purchase: Purchase, version: int, event: PaymentEvent) -> CoinChange | None:
        """Credit the pack's coins and mark the purchase PAID; None when it was credited before."""
        now = utc_now()
        actions = [
            *self._status_actions(PurchaseStatus.PAID, now),
            self._table.purchase.paid_at.set(now),
            self._table.purchase.credited_at.set(now),
            self._table.purchase.failure_reason.remove(),
        ]
        if event.payment_intent_id:
            actions.append(self._table.purchase.payment_intent_id.set(event.payment_intent_id))
        condition = self._table.purchase.credited_at.does_not_exist()
        return self._money(
            purchase,
            version,
            event,
            amount=purchase.coins,
            reason=LedgerReason.PURCHASE,
            key=credit_key(purchase.id),
            actions=actions,
            extra_condition=condition,
            note=None,
        )

    def reverse(
        self, purchase: Purchase, version: int, event: PaymentEvent | None, kind: str
    ) -> CoinChange | None:
        """Take the pack's coins back (the balance may go below zero) and mark the purchase REVERSED;
        None when it was reversed before."""
        now = utc_now()
        actions = [
            *self._status_actions(PurchaseStatus.REVERSED, now),
            self._table.purchase.reversed_at.set(now),
            self._table.purchase.reversal_pending.remove(),
        ]
        condition = (
            self._table.purchase.credited_at.exists() & self._table.purchase.reversed_at.does_not_exist()
        )
        return self._money(
            purchase,
            version,
            event,
            amount=-purchase.coins,
            reason=LedgerReason.PURCHASE_REVERSAL,
            key=reversal_key(purchase.id),
            actions=actions,
            extra_condition=condition,
            note=kind,
        )

    def mark(
        self,
        purchase: Purchase,
        version: int,
        event: PaymentEvent,
        *,
        status: PurchaseStatus | None = None,
        failure_reason: str | None = None,
        reversal_pending: str | None = None,
    ) -> None:
        """A change without money: a new status (with its reason), a reversal noted before the credit,
        or only the PaymentIntent learned; always with the event's record."""
        now = utc_now()
        actions: list[Action] = [self._table.purchase.updated_at.set(now)]
        if status is not None:
            actions += self._status_actions(status, now)[1:]
        if failure_reason is not None:
            actions.append(self._table.purchase.failure_reason.set(failure_reason))
        if reversal_pending is not None:
            actions.append(self._table.purchase.reversal_pending.set(reversal_pending))
        if event.payment_intent_id and not purchase.payment_intent_id:
            actions.append(self._table.purchase.payment_intent_id.set(event.payment_intent_id))
        tx = Transaction(self._table)
        self._update_purchase(tx, purchase, version, actions)
        self._record(tx, event, purchase)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            self._explain(cancelled)
            raise cancelled.unexpected() from cancelled

    def record(self, event: PaymentEvent, purchase: Purchase | None = None) -> bool:
        """Record an event that changes nothing (a late or repeated one); False when it was recorded."""
        tx = Transaction(self._table)
        self._record(tx, event, purchase)
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_EVENT):
                return False
            raise cancelled.unexpected() from cancelled
        return True

    # ---- the pieces --------------------------------------------------------------------------------
    def _status_actions(self, status: PurchaseStatus, now: str) -> list[Action]:
        return [
            self._table.purchase.updated_at.set(now),
            self._table.purchase.status.set(status.value),
            self._table.purchase.gsi2pk.set(purchase_status_pk(status.value)),
        ]

    def _update_purchase(
        self, tx: Transaction, purchase: Purchase, version: int, actions: list[Action]
    ) -> None:
        item = self._table.purchase(user_pk(purchase.user_id), purchase_sk(purchase.id))
        tx.update(
            _PURCHASE,
            item,
            [*actions, self._table.purchase.version.set(version + 1)],
            self._table.purchase.version == version,
        )

    def _record(self, tx: Transaction, event: PaymentEvent | None, purchase: Purchase | None) -> None:
        if event is None:
            return
        record = self._table.payment_event(
            payment_event_pk(event.id),
            PAYMENT_EVENT_SK,
            event_type=event.type,
            purchase_id=purchase.id if purchase is not None else None,
            created_at=utc_now(),
            expires_at=int(time.time()) + EVENT_TTL_SECONDS,
        )
        tx.put(_EVENT, record, self._table.payment_event.pk.does_not_exist())
        if purchase is not None and event.payment_intent_id and not purchase.payment_intent_id:
            alias = self._table.payment_intent(
                payment_intent_pk(event.payment_intent_id),
                ALIAS,
                user_id=purchase.user_id,
                purchase_id=purchase.id,
            )
            tx.put(_INTENT, alias)

    @staticmethod
    def _explain(cancelled: TransactionCancelled) -> None:
        if cancelled.failed(_EVENT):
            raise EventSeen()
        if cancelled.failed(_PURCHASE):
            raise PurchaseMoved()

    def _money(
        self,
        purchase: Purchase,
        version: int,
        event: PaymentEvent | None,
        *,
        amount: int,
        reason: LedgerReason,
        key: str,
        actions: list[Action],
        extra_condition: Condition,
        note: str | None,
    ) -> CoinChange | None:
        def settle(tx: Transaction) -> None:
            item = self._table.purchase(user_pk(purchase.user_id), purchase_sk(purchase.id))
            tx.update(
                _PURCHASE,
                item,
                [*actions, self._table.purchase.version.set(version + 1)],
                (self._table.purchase.version == version) & extra_condition,
            )
            self._record(tx, event, purchase)

        result = self._book.change(
            purchase.user_id,
            amount,
            reason=reason,
            once=OnceKey(key),
            purchase_id=purchase.id,
            note=note,
            extra=settle,
            on_cancel=self._explain,
        )
        if not result.applied:
            return None
        return CoinChange(user=result.user, entry=result.entry, applied=True)


__all__ = ["DynamoPurchaseRepository"]
