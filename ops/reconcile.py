"""Reconcile every user's coins and stats with their ledger and their images.

    python -m ops.reconcile [--table NAME]

Walks every user through the repositories (the same reads the API makes, never a request path)
and checks, for each one:

- the balance equals the sum of the ledger and is not negative, unless a ``purchase_reversal`` took back
  coins already spent (the only entry that may take a balance below zero; a credit may leave it there);
- the entries, in sequence order, are numbered 1..n and their ``balanceAfter`` values form an
  unbroken running balance ending at the balance;
- ``totalImages``/``generatedImages``/``uploadedImages`` count the user's existing images;
- ``totalCoinsUsed`` equals the coins charged for images net of refunds, as the ledger says;
- every image charge names its image and is charged once, every refund matches a charge and
  happens at most once, a paid image that FAILED was refunded and no other image was, and each
  existing image's ``coinsUsed`` is what its charge took;
- each collection's ``imageCount`` is its number of members and its completed count the number of
  COMPLETED ones, every member is an existing image of the user, and each image's collection count
  is the number of collections it is in;
- every purchase is credited at most once and reversed at most once, only after its credit, with the
  pack's coins; its status agrees (PAID: credited, REVERSED: credited and reversed, otherwise neither);
  no credited purchase still waits for a reversal; no purchase entry names an unknown purchase.

It prints one line per drifting user and a summary, and exits 1 when any user drifts, 0 when none
does (2 when the table cannot be read). Reads are not one snapshot: a user whose data changed
between two reads may look drifted, so a drifting user is read and checked once more before it is
reported. Run it against a quiet table, or read a report of a live one as "worth a look".
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from imagegen.errors import DomainError
from imagegen.models import (
    Collection,
    Image,
    ImageStatus,
    ImageType,
    LedgerEntry,
    LedgerReason,
    User,
    UserStats,
    negative_balance_allowed,
)
from imagegen.ports import (
    CollectionRepository,
    ImageRepository,
    LedgerRepository,
    PurchaseRepository,
    StoredImage,
    UserRepository,
)
from imagegen.purchases import Purchase, PurchaseStatus

PAGE_SIZE = 100
MAX_MEMBERS = 1_000_000  # members read per collection (all of them, in practice)
IMAGE_CHARGES = frozenset({LedgerReason.IMAGE_GENERATION, LedgerReason.IMAGE_UPLOAD})


@dataclass(frozen=True)
class UserReport:
    user_id: str
    email: str
    problems: tuple[str, ...]

    @property
    def drifting(self) -> bool:
        return bool(self.problems)

    def line(self) -> str:
        return f"DRIFT user {self.user_id} <{self.email}>: " + "; ".join(self.problems)


@dataclass(frozen=True)
class Summary:
    users: int
    drifting: tuple[UserReport, ...]

    @property
    def exit_code(self) -> int:
        return 1 if self.drifting else 0

    def line(self) -> str:
        return f"reconciled {self.users} users: {len(self.drifting)} drifting"


# ---- the checks (pure functions of what was read) --------------------------------------------


def ledger_problems(balance: int, entries: Sequence[LedgerEntry]) -> list[str]:
    """Balance against the sum and the running ``balanceAfter`` chain (entries oldest first)."""
    problems: list[str] = []
    total = sum(e.amount for e in entries)
    if balance < 0 and not any(e.reason is LedgerReason.PURCHASE_REVERSAL for e in entries):
        problems.append(f"balance {balance} is negative without a purchase_reversal")
    for entry in entries:
        if not negative_balance_allowed(entry.amount, entry.balance_after, entry.reason):
            problems.append(f"ledger seq {entry.seq} ({entry.reason.value}) took the balance below zero")
    if balance != total:
        problems.append(f"balance {balance} != ledger sum {total}")
    running = 0
    for position, entry in enumerate(entries, start=1):
        if entry.seq != position:
            problems.append(f"ledger entry {entry.id} has seq {entry.seq}, expected {position}")
            break
        running += entry.amount
        if entry.balance_after != running:
            problems.append(
                f"ledger seq {entry.seq} has balanceAfter {entry.balance_after}, running balance is {running}"
            )
            break
    else:
        if entries and entries[-1].balance_after != balance:
            problems.append(f"last balanceAfter {entries[-1].balance_after} != balance {balance}")
    return problems


def stats_problems(stats: UserStats, images: Sequence[Image], entries: Sequence[LedgerEntry]) -> list[str]:
    """Counters against the existing images, coins used and refunds against the ledger."""
    problems: list[str] = []
    by_type = Counter(image.type for image in images)
    for name, stored, actual in (
        ("totalImages", stats.total_images, len(images)),
        ("generatedImages", stats.generated_images, by_type[ImageType.GENERATED]),
        ("uploadedImages", stats.uploaded_images, by_type[ImageType.UPLOADED]),
    ):
        if stored != actual:
            problems.append(f"{name} {stored} != {actual} existing images")

    charged: dict[str, int] = {}
    refunded: dict[str, int] = {}
    charge_count: Counter[str] = Counter()
    refund_count: Counter[str] = Counter()
    for entry in entries:
        if entry.reason in IMAGE_CHARGES:
            if entry.image_id is None:
                problems.append(f"image charge at seq {entry.seq} names no image")
                continue
            charged[entry.image_id] = charged.get(entry.image_id, 0) - entry.amount
            charge_count[entry.image_id] += 1
        elif entry.reason is LedgerReason.REFUND:
            if entry.image_id is None:
                problems.append(f"refund at seq {entry.seq} names no image")
                continue
            refunded[entry.image_id] = refunded.get(entry.image_id, 0) + entry.amount
            refund_count[entry.image_id] += 1
    net = sum(charged.values()) - sum(refunded.values())
    if stats.total_coins_used != net:
        problems.append(f"totalCoinsUsed {stats.total_coins_used} != {net} charged net of refunds")
    for image_id in sorted(image for image, n in charge_count.items() if n > 1):
        problems.append(f"image {image_id} charged {charge_count[image_id]} times")
    for image_id in sorted(refund_count):
        if refund_count[image_id] > 1:
            problems.append(f"image {image_id} refunded {refund_count[image_id]} times")
        if refunded[image_id] != charged.get(image_id, 0):
            problems.append(
                f"image {image_id} refunded {refunded[image_id]} but charged {charged.get(image_id, 0)}"
            )
    for image in images:
        paid = charged.get(image.id, 0)
        if image.coins_used != paid:
            problems.append(f"image {image.id} has coinsUsed {image.coins_used} but was charged {paid}")
        if image.status is ImageStatus.FAILED and paid and image.id not in refunded:
            problems.append(f"image {image.id} FAILED without its refund")
        if image.status is not ImageStatus.FAILED and image.id in refunded:
            problems.append(f"image {image.id} is {image.status.value} yet was refunded")
    return problems


def collection_problems(
    members: dict[str, tuple[Collection, list[str]]], images: dict[str, StoredImage]
) -> list[str]:
    """Counters of collections and images against the memberships (``members``: collection id ->
    (collection, its image ids); ``images``: the user's images with their collection counts)."""
    problems: list[str] = []
    joined: Counter[str] = Counter()
    for collection, image_ids in members.values():
        joined.update(image_ids)
        if collection.image_count != len(image_ids):
            count = collection.image_count
            problems.append(f"collection {collection.id} has imageCount {count} but {len(image_ids)} members")
        completed = sum(
            1 for i in image_ids if i in images and images[i].image.status is ImageStatus.COMPLETED
        )
        if collection.completed_count != completed:
            problems.append(
                f"collection {collection.id} counts {collection.completed_count} completed, {completed} are"
            )
        for image_id in sorted(set(image_ids) - set(images)):
            problems.append(f"collection {collection.id} holds image {image_id}, which is not the user's")
    for image_id, stored in sorted(images.items()):
        if stored.collection_count != joined[image_id]:
            problems.append(
                f"image {image_id} counts {stored.collection_count} collections, is in {joined[image_id]}"
            )
    return problems


def purchase_problems(purchases: Sequence[Purchase], entries: Sequence[LedgerEntry]) -> list[str]:
    """Each purchase against its ``purchase`` and ``purchase_reversal`` entries."""
    problems: list[str] = []
    credits: dict[str, list[LedgerEntry]] = {}
    reversals: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.reason is LedgerReason.PURCHASE:
            credits.setdefault(entry.purchase_id or "", []).append(entry)
        elif entry.reason is LedgerReason.PURCHASE_REVERSAL:
            reversals.setdefault(entry.purchase_id or "", []).append(entry)
    known = {p.id for p in purchases}
    for purchase_id in sorted((set(credits) | set(reversals)) - known):
        problems.append(f"purchase entries name unknown purchase {purchase_id or '(none)'}")
    for purchase in purchases:
        credited, reversed_ = credits.get(purchase.id, []), reversals.get(purchase.id, [])
        if len(credited) > 1:
            problems.append(f"purchase {purchase.id} credited {len(credited)} times")
        if len(reversed_) > 1:
            problems.append(f"purchase {purchase.id} reversed {len(reversed_)} times")
        if reversed_ and (not credited or reversed_[0].seq < credited[0].seq):
            problems.append(f"purchase {purchase.id} reversed before it was credited")
        if any(e.amount != purchase.coins for e in credited) or any(
            e.amount != -purchase.coins for e in reversed_
        ):
            problems.append(f"purchase {purchase.id} moved other than its {purchase.coins} coins")
        expected = {PurchaseStatus.PAID: (1, 0), PurchaseStatus.REVERSED: (1, 1)}.get(purchase.status, (0, 0))
        if (len(credited), len(reversed_)) != expected:
            problems.append(
                f"purchase {purchase.id} is {purchase.status.value} with {len(credited)} credit(s) "
                f"and {len(reversed_)} reversal(s)"
            )
        if purchase.credited and purchase.reversal_pending and not purchase.reversed:
            problems.append(f"purchase {purchase.id} was credited but its reversal still waits")
    return problems


# ---- reading ---------------------------------------------------------------------------------


class Reconciler:
    def __init__(
        self,
        users: UserRepository,
        images: ImageRepository,
        ledger: LedgerRepository,
        collections: CollectionRepository | None = None,
        purchases: PurchaseRepository | None = None,
    ) -> None:
        self.users = users
        self.images = images
        self.ledger = ledger
        self.collections = collections
        self.purchases = purchases

    def user_collections(self, user_id: str, images: list[Image]) -> list[str]:
        """The collection checks of one user (none without a collection repository)."""
        if self.collections is None:
            return []
        members: dict[str, tuple[Collection, list[str]]] = {}
        cursor: str | None = None
        while True:
            page = self.collections.list_for_user(user_id, PAGE_SIZE, cursor)
            for collection in page.items:
                ids = self.collections.image_ids_in_collection(user_id, collection.id, MAX_MEMBERS)
                members[collection.id] = (collection, ids)
            cursor = page.next_cursor
            if cursor is None:
                break
        stored = self.collections.load_images([image.id for image in images])
        return collection_problems(members, stored)

    def iter_users(self) -> Iterator[User]:
        cursor: str | None = None
        while True:
            page = self.users.find_all(PAGE_SIZE, cursor)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    def user_images(self, user_id: str) -> list[Image]:
        found: list[Image] = []
        cursor: str | None = None
        while True:
            page = self.images.find_by_user_id(user_id, PAGE_SIZE, cursor)
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                return found

    def user_purchases(self, user_id: str) -> list[Purchase]:
        found: list[Purchase] = []
        if self.purchases is None:
            return found
        cursor: str | None = None
        while True:
            page = self.purchases.find_for_user(user_id, PAGE_SIZE, cursor)
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                return found

    def check(self, listed: User) -> UserReport | None:
        """The user's problems, read afresh; None when the user is gone (deleted meanwhile)."""
        user = self.users.find_by_id(listed.id)  # the listing is an index read: take the live balance
        if user is None:
            return None
        entries = self.ledger.all_for_user(user.id)
        try:
            stats = self.users.get_stats(user.id)
        except DomainError:
            return None  # deleted between the two reads
        images = self.user_images(user.id)
        problems = ledger_problems(user.coins, entries) + stats_problems(stats, images, entries)
        if self.purchases is not None:
            problems += purchase_problems(self.user_purchases(user.id), entries)
        problems += self.user_collections(user.id, images)
        return UserReport(user.id, user.email, tuple(problems))

    def run(self, out: TextIO) -> Summary:
        checked = 0
        drifting: list[UserReport] = []
        for listed in self.iter_users():
            report = self.check(listed)
            if report is not None and report.drifting:
                report = self.check(listed)  # once more: it may have been moving while we read
            if report is None:
                continue
            checked += 1
            if report.drifting:
                drifting.append(report)
                print(report.line(), file=out)
        summary = Summary(checked, tuple(drifting))
        print(summary.line(), file=out)
        return summary


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from imagegen.persistence import build_repositories
    from imagegen.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m ops.reconcile",
        description="Check every user's balance, ledger chain and stats; exit 1 on drift.",
    )
    parser.add_argument("--table", help="table name (default: TABLE_NAME, else the settings' default)")
    args = parser.parse_args(argv)
    stream = out if out is not None else sys.stdout
    table = args.table or get_settings().table_name
    # Cursors only live inside this run: a throwaway key signs them.
    repos = build_repositories(table, secrets.token_bytes(32))
    try:
        summary = Reconciler(
            repos.users, repos.images, repos.ledger, collections=repos.collections, purchases=repos.purchases
        ).run(stream)
    except DomainError as exc:
        print(f"error: could not read table {table!r}: {exc.detail}", file=sys.stderr)
        return 2
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
