"""The one way a balance changes: an optimistic TransactWriteItems per change.

Each attempt reads the profile (balance and ledger sequence, strongly consistent), then writes in
one transaction: the profile with ``coins = :old AND ledger_seq = :seq`` as condition, the ledger
entry at ``seq + 1`` and the idempotency guard ``OP#{key}`` (both ``attribute_not_exists``), and
whatever business items the caller adds (an image, a status change). Because the balance was read,
``balanceAfter`` is exact and entries form an unbroken running balance; because the condition pins
both values, two writers can never both succeed from the same read. The cancellation reasons tell
"already applied" (the guard exists) from "someone else got there first" (retry with jitter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pynamodb.expressions.update import Action

from imagegen.errors import InsufficientCoins, NotFound, ServiceUnavailable, ValidationError
from imagegen.models import LedgerEntry, LedgerReason, User, UserStats, new_id, utc_now
from imagegen.persistence.binding import TableModels
from imagegen.persistence.dynamo import Transaction, TransactionCancelled, backoff, translated
from imagegen.persistence.items import OperationItem, UserItem
from imagegen.persistence.keys import PROFILE, ledger_sk, op_sk, user_pk
from imagegen.ports import OnceKey, Operation

MAX_ATTEMPTS = 30
MAX_KEY_BYTES = 1024  # a sort key's limit
COUNTERS = frozenset({"total_images", "generated_images", "uploaded_images", "total_coins_used"})

USER_LABEL = "user"
ENTRY_LABEL = "entry"
OP_LABEL = "op"


@dataclass(frozen=True)
class ChangeResult:
    """``applied`` False: the idempotency key was used before; ``operation`` is what it recorded."""

    user: User
    entry: LedgerEntry | None
    applied: bool
    operation: OperationItem | None = None


def stats_of(profile: UserItem) -> UserStats:
    """The image counters kept on a profile."""
    return UserStats(
        total_images=int(profile.total_images),
        generated_images=int(profile.generated_images),
        uploaded_images=int(profile.uploaded_images),
        total_coins_used=int(profile.total_coins_used),
    )


class AccountBook:
    """A user's account on the table: the profile (balance, ledger sequence, counters), its ledger
    entries and idempotency guards. Reads them, and changes them in one transaction per change."""

    def __init__(self, table: TableModels) -> None:
        self._table = table

    # ---- reads ---------------------------------------------------------------------------------
    def read_profile(self, user_id: str) -> UserItem | None:
        """The live profile (consistent read); None when absent or being deleted."""
        with translated():
            try:
                item = self._table.user.get(user_pk(user_id), PROFILE, consistent_read=True)
            except self._table.user.DoesNotExist:
                return None
        return None if item.deleting else item

    def read_stats(self, user_id: str) -> UserStats:
        """The counters kept on the profile: one consistent GetItem, never a query over images."""
        profile = self.read_profile(user_id)
        if profile is None:
            raise NotFound("No such user.")
        return stats_of(profile)

    def find_operation(self, user_id: str, key: str) -> OperationItem | None:
        with translated():
            try:
                return self._table.operation.get(user_pk(user_id), op_sk(key), consistent_read=True)
            except self._table.operation.DoesNotExist:
                return None

    def entry_at(self, user_id: str, seq: int) -> LedgerEntry | None:
        with translated():
            try:
                item = self._table.ledger.get(user_pk(user_id), ledger_sk(seq), consistent_read=True)
            except self._table.ledger.DoesNotExist:
                return None
        return item.to_entry()

    def recorded(self, user_id: str, operation: OperationItem) -> Operation:
        """What the operation recorded, as the ports say it."""
        entry = None
        if operation.entry_seq is not None:
            entry = self.entry_at(user_id, int(operation.entry_seq))
        return Operation(
            request_hash=operation.request_hash,
            image_id=operation.image_id,
            entry=entry,
            record=operation.response,
        )

    def replayed(self, user: User, operation: OperationItem) -> ChangeResult:
        """The key was used before: nothing written. The first entry is read only by a caller that
        answers with it (:meth:`recorded`), not by every replay."""
        return ChangeResult(user=user, entry=None, applied=False, operation=operation)

    # ---- the write -----------------------------------------------------------------------------
    def change(
        self,
        user_id: str,
        amount: int,
        *,
        reason: LedgerReason | None,
        once: OnceKey | None,
        image_id: str | None = None,
        note: str | None = None,
        purchase_id: str | None = None,
        counters: Mapping[str, int] | None = None,
        extra: Callable[[Transaction], None] | None = None,
        on_cancel: Callable[[TransactionCancelled], None] | None = None,
        profile: UserItem | None = None,
    ) -> ChangeResult:
        """Apply ``amount`` (signed; 0 for counters only) with its ledger entry, once per ``once.key``.

        ``extra`` adds business items to the transaction; ``on_cancel`` may raise a domain error for
        a cancellation caused by them (it is called after the idempotency guard was ruled out).
        ``profile``: the profile as the caller just read it (consistently), for the first attempt, so
        it is not read twice; the transaction's condition on the ledger sequence catches a stale one.
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError.single("amount", "must be an integer")
        if amount and reason is None:
            raise ValueError("a coin change needs a ledger reason")
        key = once.key if once is not None else None
        if key is not None and (not key or len(key.encode("utf-8")) > MAX_KEY_BYTES):
            raise ValueError("an idempotency key is 1 to 1024 bytes")
        unknown = set(counters or {}) - COUNTERS
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        known = profile
        for attempt in range(MAX_ATTEMPTS):
            profile = known if attempt == 0 and known is not None else self.read_profile(user_id)
            if profile is None:
                raise NotFound("No such user.")
            user = profile.to_user()
            coins, seq = int(profile.coins), int(profile.ledger_seq)
            balance = coins + amount
            # Spending needs coins >= cost; only a purchase_reversal may go below zero (models).
            if balance < 0 and amount <= 0 and reason is not LedgerReason.PURCHASE_REVERSAL:
                # A replay of a debit that was applied earlier must answer as such, not as "too poor".
                operation = self.find_operation(user_id, key) if key else None
                if operation is not None:
                    return self.replayed(user, operation)
                raise InsufficientCoins(required=-amount, available=coins)
            now = utc_now()
            entry = None
            if amount:
                assert reason is not None
                entry = LedgerEntry(
                    id=new_id(),
                    user_id=user_id,
                    amount=amount,
                    balance_after=balance,
                    reason=reason,
                    seq=seq + 1,
                    image_id=image_id,
                    note=note,
                    created_at=now,
                    purchase_id=purchase_id,
                )
            tx = self._transaction(user_id, coins, seq, entry, once, image_id, now, counters or {})
            if extra is not None:
                extra(tx)
            try:
                tx.commit()
            except TransactionCancelled as cancelled:
                if cancelled.failed(OP_LABEL) and key is not None:
                    operation = self.find_operation(user_id, key)
                    if operation is not None:
                        return self.replayed(user, operation)
                if on_cancel is not None:
                    on_cancel(cancelled)
                if cancelled.failed(USER_LABEL) or cancelled.failed(ENTRY_LABEL) or cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
            if entry is not None:
                user = replace(user, coins=balance, updated_at=now)
            return ChangeResult(user=user, entry=entry, applied=True)
        raise ServiceUnavailable("The balance is changing too fast; try again.")

    def _transaction(
        self,
        user_id: str,
        coins: int,
        seq: int,
        entry: LedgerEntry | None,
        once: OnceKey | None,
        image_id: str | None,
        now: str,
        counters: Mapping[str, int],
    ) -> Transaction:
        tx = Transaction(self._table)
        actions: list[Action] = [
            getattr(self._table.user, name).add(delta) for name, delta in counters.items() if delta
        ]
        condition = self._table.user.pk.exists() & self._table.user.deleting.does_not_exist()
        if entry is not None:
            actions += [
                self._table.user.coins.set(entry.balance_after),
                self._table.user.ledger_seq.set(entry.seq),
                self._table.user.updated_at.set(now),
            ]
            condition = condition & (self._table.user.coins == coins) & (self._table.user.ledger_seq == seq)
            tx.put(ENTRY_LABEL, self._table.ledger.from_entry(entry), self._table.ledger.pk.does_not_exist())
        if actions:
            tx.update(USER_LABEL, self._table.user(user_pk(user_id), PROFILE), actions, condition)
        else:
            tx.check(USER_LABEL, self._table.user(user_pk(user_id), PROFILE), condition)
        if once is not None:
            operation = self._table.operation(
                user_pk(user_id),
                op_sk(once.key),
                request_hash=once.request_hash,
                response=once.record,
                entry_seq=entry.seq if entry else None,
                entry_id=entry.id if entry else None,
                image_id=image_id,
                created_at=now,
            )
            tx.put(OP_LABEL, operation, self._table.operation.pk.does_not_exist())
        return tx
