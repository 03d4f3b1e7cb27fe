"""UserRepository on the single table: profiles, uniqueness guards, coins, roles and the cascade."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from pynamodb.expressions.update import Action

from imagegen.errors import AlreadyExists, NotFound, ServiceUnavailable, ValidationError
from imagegen.models import (
    Image,
    ImageType,
    LedgerEntry,
    LedgerReason,
    User,
    UserRole,
    UserStats,
    new_id,
    utc_now,
    validate_coins,
    validate_email,
    validate_language,
    validate_name,
)
from imagegen.persistence.binding import TableModels
from imagegen.persistence.coins import AccountBook, stats_of
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.dynamo import (
    ConditionFailed,
    Transaction,
    TransactionCancelled,
    backoff,
    batch_delete,
    translated,
)
from imagegen.persistence.items import UserItem
from imagegen.persistence.keys import (
    ALIAS,
    DELETING_PARTITION,
    GUARD,
    IMAGE_SK,
    PROFILE,
    PURCHASE_PREFIX,
    SIGNUP_ENTITY,
    SIGNUP_SK,
    USERS_PARTITION,
    created_sk,
    email_pk,
    google_pk,
    image_pk,
    payment_intent_pk,
    signup_pk,
    storage_key_pk,
    user_images_pk,
    user_pk,
)
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.ports import Caller, CoinChange, GoogleProfile, ImageRead, OnceKey, Page

_PROFILE_LABEL = "profile"
_EMAIL_LABEL = "email"
_GOOGLE_LABEL = "google"
_BONUS_LABEL = "bonus"
_SIGNUP_LABEL = "signup"
_OWNER_LABEL = "owner"
_SIGN_IN_ATTEMPTS = 5
_CASCADE_PAGE = 100
_IMAGES_PER_TRANSACTION = 49  # 2 deletions each and the owner's update: 99 of at most 100 items
_CHUNK_ATTEMPTS = 10
_BATCH_GET_ATTEMPTS = 5
_SETTLE_ATTEMPTS = 4  # reads of gsi1 per call while the counter says images are left
_TYPE_COUNTERS = {ImageType.GENERATED.value: "generated_images", ImageType.UPLOADED.value: "uploaded_images"}
log = logging.getLogger(__name__)


def _revoked_sessions(profile: UserItem) -> list[tuple[str, str, int]]:
    """The profile's signed-out sessions as ``(entry, jti, exp)``; an entry is ``"{exp}:{jti}"``."""
    found = []
    for entry in profile.revoked_sessions or ():
        exp, _, jti = entry.partition(":")
        found.append((entry, jti, int(exp) if exp.isdigit() else 0))
    return found


class _BonusSpent(Exception):
    """This Google account had a user before: the new one gets no signup bonus."""


class DynamoUserRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec
        self._book = AccountBook(table)

    # ---- creation ------------------------------------------------------------------------------
    def create(self, user: User, *, signup_bonus: int = 0) -> User:
        """Profile, email guard, Google guard, the Google account's signup tombstone (and the bonus
        entry) in one transaction.

        The balance starts at ``signup_bonus``, written as the user's first ledger entry, so that
        coins always equal the sum of the ledger. The bonus is given once per Google account ever:
        the tombstone ``SIGNUP#{sha256(sub)}`` outlives the account's erasure, and a later user of the
        same Google account is created with no bonus (0 coins, no entry).
        """
        signup_bonus = validate_coins(signup_bonus, "signupBonus")
        if user.coins:
            raise ValidationError.single("coins", "a new user's balance comes only from the signup bonus")
        try:
            return self._create(user, signup_bonus)
        except _BonusSpent:
            return self._create(user, 0)

    def _create(self, user: User, signup_bonus: int) -> User:
        created = replace(user, coins=signup_bonus)
        tx = Transaction(self._table)
        tx.put(
            _PROFILE_LABEL,
            self._table.user.from_user(created, ledger_seq=1 if signup_bonus else 0),
            self._table.user.pk.does_not_exist(),
        )
        tx.put(
            _EMAIL_LABEL,
            self._table.guard.for_email(created.email, created.id),
            self._table.guard.pk.does_not_exist(),
        )
        tx.put(
            _GOOGLE_LABEL,
            self._table.guard.for_google(created.google_id, created.id),
            self._table.guard.pk.does_not_exist(),
        )
        tombstone = self._table.item(signup_pk(created.google_id), SIGNUP_SK, entity=SIGNUP_ENTITY)
        # With a bonus the tombstone must be new (the bonus is once per Google account); without one
        # it is written or rewritten unconditionally (the account has had a user either way).
        tx.put(_SIGNUP_LABEL, tombstone, self._table.item.pk.does_not_exist() if signup_bonus else None)
        if signup_bonus:
            entry = LedgerEntry(
                id=new_id(),
                user_id=created.id,
                amount=signup_bonus,
                balance_after=signup_bonus,
                reason=LedgerReason.SIGNUP_BONUS,
                seq=1,
                created_at=created.created_at,
            )
            tx.put(_BONUS_LABEL, self._table.ledger.from_entry(entry), self._table.ledger.pk.does_not_exist())
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_PROFILE_LABEL):
                raise AlreadyExists("A user with this id already exists.") from None
            if cancelled.failed(_GOOGLE_LABEL):
                raise AlreadyExists("This Google account already has a user.") from None
            if cancelled.failed(_EMAIL_LABEL):
                raise AlreadyExists("This email address already has a user.") from None
            if cancelled.failed(_SIGNUP_LABEL):
                raise _BonusSpent() from None
            raise cancelled.unexpected() from cancelled
        return created

    def find_or_create_by_google(
        self, profile: GoogleProfile, *, signup_bonus: int, admin: bool
    ) -> tuple[User, bool]:
        """The user of this Google account, created on first sign-in.

        Two first sign-ins racing make one user: both transactions put the same Google guard, one
        wins, the loser reads the winner's user. An email already used by another Google account
        raises AlreadyExists (accounts are never linked silently).
        """
        for attempt in range(_SIGN_IN_ATTEMPTS):
            existing = self._signed_in_user(profile.google_id)
            if existing is not None:
                return existing, False
            roles = [UserRole.USER, UserRole.ADMIN] if admin else [UserRole.USER]
            user = User(
                id=new_id(),
                email=profile.email,
                google_id=profile.google_id,
                first_name=profile.first_name,
                last_name=profile.last_name,
                language=profile.language,
                roles=roles,
            )
            try:
                return self.create(user, signup_bonus=signup_bonus), True
            except AlreadyExists:
                winner = self._signed_in_user(profile.google_id)
                if winner is not None:
                    return winner, False
                if self._guard_owner(email_pk(user.email)) is not None:
                    raise AlreadyExists("This email address belongs to another Google account.") from None
            except ServiceUnavailable:
                pass
            backoff(attempt)
        raise ServiceUnavailable("Sign-in is busy; try again.")

    # ---- reads ---------------------------------------------------------------------------------
    def find_by_id(self, user_id: str) -> User | None:
        if not user_id:
            return None
        profile = self._book.read_profile(user_id)
        return profile.to_user() if profile is not None else None

    def find_caller(self, user_id: str, *, image_id: str | None = None) -> Caller | None:
        if not user_id:
            return None
        if image_id:
            profile, image = self._profile_and_image(user_id, image_id)
        else:
            profile, image = self._book.read_profile(user_id), None
        if profile is None:
            return None
        return Caller(
            user=profile.to_user(),
            stats=stats_of(profile),
            revoked_sessions=frozenset(jti for _, jti, _ in _revoked_sessions(profile)),
            image=ImageRead(image_id, image) if image_id else None,
        )

    def _profile_and_image(self, user_id: str, image_id: str) -> tuple[UserItem | None, Image | None]:
        """One consistent BatchGetItem of the profile and the image (unprocessed keys asked again)."""
        table = self._table
        wanted = {
            (user_pk(user_id), PROFILE): "profile",
            (image_pk(image_id), IMAGE_SK): "image",
        }
        found: dict[str, dict[str, Any]] = {}
        keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in wanted]
        for attempt in range(_BATCH_GET_ATTEMPTS):
            with translated():
                answer = table.connection.dispatch(
                    "BatchGetItem",
                    {"RequestItems": {table.table_name: {"Keys": keys, "ConsistentRead": True}}},
                )
            for raw in answer.get("Responses", {}).get(table.table_name, []):
                found[wanted[(raw["pk"]["S"], raw["sk"]["S"])]] = raw
            keys = answer.get("UnprocessedKeys", {}).get(table.table_name, {}).get("Keys", [])
            if not keys:
                break
            backoff(attempt)
        else:
            raise ServiceUnavailable("The data store is busy; try again.")
        profile = table.user.from_raw_data(found["profile"]) if "profile" in found else None
        image = table.image.from_raw_data(found["image"]).to_image() if "image" in found else None
        return (None if profile is None or profile.deleting else profile), image

    def revoke_session(self, user_id: str, jti: str, expires_at: int, *, now: int) -> None:
        profile = self._book.read_profile(user_id)
        if profile is None:
            return
        expired = {entry for entry, _, exp in _revoked_sessions(profile) if exp < now}
        item = self._table.user(user_pk(user_id), PROFILE)
        condition = self._table.user.pk.exists()
        with translated():
            try:
                item.update(
                    actions=[self._table.user.revoked_sessions.add({f"{expires_at}:{jti}"})],
                    condition=condition,
                )
                if expired:  # a second write: DynamoDB refuses ADD and DELETE of one attribute at once
                    item.update(
                        actions=[self._table.user.revoked_sessions.delete(expired)], condition=condition
                    )
            except ConditionFailed:
                return  # the account is gone: so is every session of it

    def find_by_email(self, email: str) -> User | None:
        try:
            normalized = validate_email(email)
        except ValidationError:
            return None
        return self._by_guard(email_pk(normalized))

    def _guard_owner(self, pk: str) -> str | None:
        with translated():
            try:
                return self._table.guard.get(pk, GUARD, consistent_read=True).user_id
            except self._table.guard.DoesNotExist:
                return None

    def _by_guard(self, pk: str) -> User | None:
        owner = self._guard_owner(pk)
        if owner is None:
            return None
        profile = self._book.read_profile(owner)
        return profile.to_user() if profile is not None else None

    def _signed_in_user(self, google_id: str) -> User | None:
        owner = self._guard_owner(google_pk(google_id))
        if owner is None:
            return None
        profile = self._book.read_profile(owner)
        if profile is None:
            # A guard outlives its user only while a cascade delete is under way.
            raise ServiceUnavailable("This account is being deleted; try again shortly.")
        return profile.to_user()

    def find_all(self, limit: int = 20, cursor: str | None = None) -> Page[User]:
        items, next_cursor = query_page(
            self._table.user,
            self._codec,
            PageQuery(
                scope="users:all",
                partition=USERS_PARTITION,
                index="gsi1",
                filter=self._table.user.deleting.does_not_exist(),
            ),
            limit,
            cursor,
        )
        return Page([item.to_user() for item in items], next_cursor)

    def get_stats(self, user_id: str) -> UserStats:
        return self._book.read_stats(user_id)

    # ---- profile changes -----------------------------------------------------------------------
    def update(
        self,
        user_id: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        language: str | None = None,
    ) -> User:
        actions: list[Action] = []
        if first_name is not None:
            actions.append(self._table.user.first_name.set(validate_name(first_name, "firstName")))
        if last_name is not None:
            actions.append(self._table.user.last_name.set(validate_name(last_name, "lastName")))
        if language is not None:
            actions.append(self._table.user.language.set(validate_language(language)))
        if not actions:
            found = self.find_by_id(user_id)
            if found is None:
                raise NotFound("No such user.")
            return found
        actions.append(self._table.user.updated_at.set(utc_now()))
        return self._update_profile(user_id, actions)

    def add_role(self, user_id: str, role: UserRole) -> User:
        role = UserRole(role)
        return self._update_profile(
            user_id, [self._table.user.roles.add({role.value}), self._table.user.updated_at.set(utc_now())]
        )

    def remove_role(self, user_id: str, role: UserRole) -> User:
        role = UserRole(role)
        if role is UserRole.USER:
            raise ValidationError.single("role", "every user keeps the USER role")
        return self._update_profile(
            user_id,
            [self._table.user.roles.delete({role.value}), self._table.user.updated_at.set(utc_now())],
        )

    def _update_profile(self, user_id: str, actions: list[Action]) -> User:
        item = self._table.user(user_pk(user_id), PROFILE)
        try:
            with translated():
                item.update(
                    actions=actions,
                    condition=self._table.user.pk.exists() & self._table.user.deleting.does_not_exist(),
                )
        except ConditionFailed:
            raise NotFound("No such user.") from None
        return item.to_user()

    # ---- coins ---------------------------------------------------------------------------------
    def change_coins(
        self,
        user_id: str,
        amount: int,
        *,
        reason: LedgerReason,
        once: OnceKey,
        image_id: str | None = None,
        note: str | None = None,
    ) -> CoinChange:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise ValueError("a coin change is a non-zero integer")
        result = self._book.change(
            user_id, amount, reason=LedgerReason(reason), once=once, image_id=image_id, note=note
        )
        if result.applied:
            return CoinChange(user=result.user, entry=result.entry, applied=True)
        assert result.operation is not None
        operation = self._book.recorded(user_id, result.operation)
        return CoinChange(user=result.user, entry=operation.entry, applied=False, operation=operation)

    # ---- cascade -------------------------------------------------------------------------------
    def delete(self, user_id: str, *, max_items: int | None = None) -> bool:
        """Delete the user's items, resumable: False when it stopped after ``max_items`` deletions, or
        when images the index has not shown yet are still there.

        Order: mark the profile ``deleting`` (the user vanishes from reads, no coin change or image
        creation can commit any more, and the sparse index ``gsi2 DELETING`` lists the profile for the
        sweeper), release the email and Google guards, delete images with their storage aliases (each
        transaction also takes them off the profile's ``total_images``), until that counter, read
        consistently, is 0; then ledger entries and idempotency guards, and the profile last, so a
        crash or an error at any point leaves a marked profile from which a later call resumes.
        """
        if max_items is not None and (isinstance(max_items, bool) or max_items < 1):
            raise ValueError("max_items must be a positive integer")
        with translated():
            try:
                profile = self._table.user.get(user_pk(user_id), PROFILE, consistent_read=True)
            except self._table.user.DoesNotExist:
                return True
        if not profile.deleting or not profile.gsi2pk:
            marked = profile.deleting or utc_now()
            try:
                with translated():
                    profile.update(
                        actions=[
                            self._table.user.deleting.set(marked),
                            self._table.user.gsi2pk.set(DELETING_PARTITION),
                            self._table.user.gsi2sk.set(created_sk(marked, user_id)),
                        ],
                        condition=self._table.user.pk.exists(),
                    )
            except ConditionFailed:
                return True
        budget = _Budget(max_items)
        self._release_guard(email_pk(profile.email), user_id)
        self._release_guard(google_pk(profile.google_id), user_id)
        if not self._delete_images(user_id, budget):
            return False
        if not self._delete_partition(user_id, budget):
            return False
        try:
            with translated():
                profile.delete(condition=self._table.user.deleting.exists())
        except ConditionFailed:
            pass  # a concurrent cascade finished first
        return True

    def find_deleting(self, older_than: str, limit: int = 100) -> list[str]:
        """Ids of users whose cascade delete began before ``older_than`` and has not finished, oldest
        first: a Query of the sparse index ``gsi2 DELETING`` (only marked profiles carry its keys)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _CASCADE_PAGE * 10:
            raise ValidationError.single("limit", f"must be an integer from 1 to {_CASCADE_PAGE * 10}")
        with translated():
            found = list(
                self._table.user.query(
                    DELETING_PARTITION,
                    range_key_condition=self._table.user.gsi2sk < older_than,
                    index_name="gsi2",
                    scan_index_forward=True,
                    limit=limit,
                    page_size=limit,
                    attributes_to_get=["pk", "sk", "gsi2pk", "gsi2sk", "id"],
                )
            )
        return [item.id for item in found]

    def _release_guard(self, pk: str, user_id: str) -> None:
        try:
            with translated():
                self._table.guard(pk, GUARD).delete(condition=self._table.guard.user_id == user_id)
        except ConditionFailed:
            pass  # already released, or since taken by a new account: not ours to delete

    def _delete_images(self, user_id: str, budget: _Budget) -> bool:
        """Delete the images gsi1 lists, then check the base table: gsi1 is eventually consistent, so an
        image written just before the ``deleting`` mark may not be listed yet. The profile's
        ``total_images`` (changed in the same transactions that create and delete images) says how many
        are left; the index is read again until it is 0, and False lets the caller resume later."""
        for attempt in range(_SETTLE_ATTEMPTS):
            start = None
            while True:
                with translated():
                    result = self._table.image.query(
                        user_images_pk(user_id),
                        index_name="gsi1",
                        # Two deletions per image: the image and its storage alias.
                        page_size=budget.page_size(2 * _IMAGES_PER_TRANSACTION, per_item=2),
                        last_evaluated_key=start,
                        attributes_to_get=["pk", "sk", "gsi1pk", "gsi1sk", "id", "type", "storage_key"],
                    )
                    page = next(result.page_iter)
                rows = [_ImageRow.of(raw) for raw in page.get("Items") or []]
                for first in range(0, len(rows), _IMAGES_PER_TRANSACTION):
                    chunk = rows[first : first + _IMAGES_PER_TRANSACTION]
                    self._delete_image_chunk(user_id, chunk)
                    if budget.spend(2 * len(chunk)):
                        return False
                start = page.get("LastEvaluatedKey")
                if start is None:
                    break
            left = self._images_left(user_id)
            if left <= 0:
                return True
            log.info("cascade: %d image(s) not yet in the index for user %s", left, user_id)
            backoff(attempt)
        return False

    def _images_left(self, user_id: str) -> int:
        with translated():
            try:
                profile = self._table.user.get(
                    user_pk(user_id), PROFILE, consistent_read=True, attributes_to_get=["total_images"]
                )
            except self._table.user.DoesNotExist:
                return 0
        return int(profile.total_images or 0)

    def _delete_image_chunk(self, user_id: str, rows: list[_ImageRow]) -> None:
        """Images, their aliases and the owner's counters in one transaction; images already gone
        (a racing delete, an index that lags a deletion) are left out and the rest written again."""
        pending = list(rows)
        for attempt in range(_CHUNK_ATTEMPTS):
            if not pending:
                return
            tx = Transaction(self._table)
            for i, row in enumerate(pending):
                tx.delete(f"image{i}", self._table.image(row.pk, IMAGE_SK), self._table.image.pk.exists())
                if row.storage_key:
                    tx.delete(
                        f"alias{i}",
                        self._table.alias(storage_key_pk(row.storage_key), ALIAS),
                        self._table.alias.pk.does_not_exist() | (self._table.alias.image_id == row.id),
                    )
            counters = {"total_images": -len(pending)}
            for row in pending:
                name = _TYPE_COUNTERS.get(row.type)
                if name:
                    counters[name] = counters.get(name, 0) - 1
            tx.update(
                _OWNER_LABEL,
                self._table.user(user_pk(user_id), PROFILE),
                [getattr(self._table.user, name).add(delta) for name, delta in counters.items()],
                self._table.user.pk.exists(),
            )
            try:
                tx.commit()
                return
            except TransactionCancelled as cancelled:
                gone = {i for i in range(len(pending)) if cancelled.failed(f"image{i}")}
                moved = {i for i in range(len(pending)) if cancelled.failed(f"alias{i}")}
                if gone or moved:
                    pending = [
                        replace(row, storage_key=None) if i in moved else row
                        for i, row in enumerate(pending)
                        if i not in gone
                    ]
                    continue
                if cancelled.failed(_OWNER_LABEL):
                    return  # the profile is gone: a concurrent cascade finished
                if cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
        raise ServiceUnavailable("The data store is busy; try again.")

    def _delete_partition(self, user_id: str, budget: _Budget) -> bool:
        start = None
        while True:
            with translated():
                result = self._table.item.query(
                    user_pk(user_id),
                    consistent_read=True,
                    page_size=budget.page_size(_CASCADE_PAGE, per_item=1),
                    last_evaluated_key=start,
                    attributes_to_get=["pk", "sk", "payment_intent_id"],
                )
                page = next(result.page_iter)
            rows = page.get("Items") or []
            keys = [(raw["pk"]["S"], raw["sk"]["S"]) for raw in rows]
            keys = [key for key in keys if key[1] != PROFILE]
            # A purchase's PaymentIntent alias (outside the partition, it names the user) goes first:
            # a crash after it leaves the purchase, and a resumed cascade deletes the alias again.
            aliases = [
                (payment_intent_pk(raw["payment_intent_id"]["S"]), ALIAS)
                for raw in rows
                if raw["sk"]["S"].startswith(PURCHASE_PREFIX) and "S" in raw.get("payment_intent_id", {})
            ]
            if aliases:
                batch_delete(self._table, aliases)
            if keys:
                batch_delete(self._table, keys)
                if budget.spend(len(keys)):
                    return False
            start = page.get("LastEvaluatedKey")
            if start is None:
                return True


@dataclass(frozen=True)
class _ImageRow:
    """What the cascade needs of an image listed by gsi1."""

    pk: str
    id: str
    type: str
    storage_key: str | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _ImageRow:
        def text(name: str) -> str:
            return str(raw.get(name, {}).get("S", ""))

        return cls(pk=text("pk"), id=text("id"), type=text("type"), storage_key=text("storage_key") or None)


class _Budget:
    def __init__(self, max_items: int | None) -> None:
        self._left = max_items

    def page_size(self, largest: int, *, per_item: int) -> int:
        """How many items to read next so that their deletions stay within the budget."""
        if self._left is None:
            return largest
        return max(1, min(largest, self._left // per_item))

    def spend(self, count: int) -> bool:
        """Record ``count`` deletions; True when the budget is used up."""
        if self._left is None:
            return False
        self._left -= count
        return self._left <= 0
