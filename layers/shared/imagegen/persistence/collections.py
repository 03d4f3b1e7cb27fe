"""CollectionRepository on the single table: collections, memberships and share tokens.

Key design and access patterns: ``docs/data-model.md``, "Collections". In short:

- ``USER#{uid}`` / ``COLLECTION#{cid}``: the collection (gsi1 ``USER#{uid}#COLLECTIONS`` lists them);
- ``COLLECTION#{cid}`` / ``MEMBER#{imageId}``: a membership (gsi1 ``COLLECTION#{cid}#ADDED`` lists a
  collection's images most recently added first, gsi2 ``IMAGE#{imageId}#COLLECTIONS`` an image's
  collections);
- ``SHARE#{token}`` / ``SHARE``: what a share link opens;
- the image item's ``collection_count``: how many collections it is in.

Every membership change is one TransactWriteItems over the membership, the collection's counters and
the image's count, each with its condition, so ``imageCount`` is exact whatever runs concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from imagegen.errors import NotFound, ServiceUnavailable
from imagegen.models import (
    MAX_COLLECTIONS_PER_IMAGE,
    BatchStatus,
    Collection,
    Image,
    ImageStatus,
    utc_now,
    validate_description,
)
from imagegen.persistence.binding import TableModels
from imagegen.persistence.cursor import CursorCodec
from imagegen.persistence.dynamo import (
    ConditionFailed,
    Transaction,
    TransactionCancelled,
    backoff,
    batch_delete,
    translated,
)
from imagegen.persistence.items import CollectionItem, MembershipItem
from imagegen.persistence.keys import (
    COLLECTION_PREFIX,
    IMAGE_SK,
    PROFILE,
    SHARE_SK,
    collection_added_pk,
    collection_sk,
    image_collections_pk,
    image_pk,
    member_sk,
    members_pk,
    share_pk,
    user_collections_pk,
    user_pk,
)
from imagegen.persistence.paging import PageQuery, query_page
from imagegen.ports import Page, StoredImage

log = logging.getLogger(__name__)

_MEMBER = "member"
_COLLECTION = "collection"
_IMAGE = "image"
_PROFILE = "profile"
_TOKEN = "token"  # noqa: S105 - a transaction label
_OLD_TOKEN = "old_token"  # noqa: S105 - a transaction label
_ATTEMPTS = 8
_BATCH_GET = 100  # BatchGetItem's limit
_DETACH_PER_TRANSACTION = 40  # memberships (each with its image's count) per transaction
_SETTLE_READS = 4


def _chunks[T](items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DynamoCollectionRepository:
    def __init__(self, table: TableModels, codec: CursorCodec) -> None:
        self._table = table
        self._codec = codec

    # ---- the collection --------------------------------------------------------------------------
    def create(self, collection: Collection) -> Collection:
        """TransactWriteItems of 2: Put the collection (``attribute_not_exists``) and ConditionCheck the
        owner's profile (exists, not being deleted), so nothing is created behind an erasure."""
        tx = Transaction(self._table)
        tx.put(
            _COLLECTION,
            self._table.collection.from_collection(collection),
            self._table.collection.pk.does_not_exist(),
        )
        tx.check(
            _PROFILE,
            self._table.user(user_pk(collection.user_id), PROFILE),
            self._table.user.pk.exists() & self._table.user.deleting.does_not_exist(),
        )
        try:
            tx.commit()
        except TransactionCancelled as cancelled:
            if cancelled.failed(_PROFILE):
                raise NotFound("No such user.") from None
            raise cancelled.unexpected() from cancelled
        return collection

    def _get(self, user_id: str, collection_id: str) -> CollectionItem | None:
        if not user_id or not collection_id:
            return None
        with translated():
            try:
                item = self._table.collection.get(
                    user_pk(user_id), collection_sk(collection_id), consistent_read=True
                )
            except self._table.collection.DoesNotExist:
                return None
        return None if item.deleting else item

    def _require(self, user_id: str, collection_id: str) -> CollectionItem:
        item = self._get(user_id, collection_id)
        if item is None:
            raise NotFound("No such collection.")
        return item

    def find(self, user_id: str, collection_id: str) -> Collection | None:
        """GetItem ``USER#{uid}`` / ``COLLECTION#{cid}`` (consistent)."""
        item = self._get(user_id, collection_id)
        return item.to_collection() if item is not None else None

    def list_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> Page[Collection]:
        """Query gsi1 ``USER#{uid}#COLLECTIONS``, newest first (collections being deleted filtered out)."""
        query = PageQuery(
            scope=f"collections:user:{user_id}",
            partition=user_collections_pk(user_id),
            index="gsi1",
            filter=self._table.collection.deleting.does_not_exist(),
        )
        items, next_cursor = query_page(self._table.collection, self._codec, query, limit, cursor)
        return Page([item.to_collection() for item in items], next_cursor)

    def _alive(self) -> Condition:
        alive: Condition = (
            self._table.collection.pk.exists() & self._table.collection.deleting.does_not_exist()
        )
        return alive

    def update(
        self,
        user_id: str,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> Collection:
        """UpdateItem with condition: exists and not being deleted."""
        model = self._table.collection
        actions: list[Action] = []
        if title is not None:
            actions.append(model.title.set(Collection(id="x", user_id="x", title=title).title))
        cleaned = validate_description(description) if description is not None else None
        if cleaned is not None:
            actions.append(model.description.set(cleaned))
        elif clear_description or description is not None:
            actions.append(model.description.remove())
        if not actions:
            return self._require(user_id, collection_id).to_collection()
        actions.append(model.updated_at.set(utc_now()))
        item = model(user_pk(user_id), collection_sk(collection_id))
        try:
            with translated():
                item.update(actions=actions, condition=self._alive())
        except ConditionFailed:
            raise NotFound("No such collection.") from None
        return item.to_collection()

    def delete(self, user_id: str, collection_id: str) -> bool:
        """UpdateItem (mark ``deleting``: no image can join from then on), DeleteItem of its share token,
        then its memberships a partition page at a time (Query ``COLLECTION#{cid}``, consistent), each
        transaction deleting up to 40 memberships and taking 1 off each image's collection count, then
        the collection. A call that stops half-way (an error) is resumed by the next DELETE."""
        model = self._table.collection
        item = model(user_pk(user_id), collection_sk(collection_id))
        try:
            with translated():
                item.update(
                    actions=[model.deleting.set(utc_now())],
                    condition=model.pk.exists(),
                )  # the item now holds what is stored (ALL_NEW): its share token included
        except ConditionFailed:
            return False
        if item.share_token:
            self._delete_token(item.share_token, collection_id)
        self._drop_members(collection_id, count_images=True, budget=None)
        try:
            with translated():
                item.delete(condition=model.deleting.exists())
        except ConditionFailed:
            pass  # a concurrent delete finished first
        return True

    def _delete_token(self, token: str, collection_id: str) -> None:
        try:
            with translated():
                self._table.share(share_pk(token), SHARE_SK).delete(
                    condition=self._table.share.collection_id == collection_id
                )
        except ConditionFailed:
            pass  # already gone

    def _drop_members(self, collection_id: str, *, count_images: bool, budget: list[int] | None) -> bool:
        """Delete every membership of a collection being deleted (nothing can join it any more).

        With ``count_images`` each image's collection count goes down in the same transaction (the
        image stays); without (account erasure: the images go too) a BatchWriteItem suffices.
        False when ``budget`` (a one-element list of deletions left) ran out."""
        start = None
        while True:
            with translated():
                result = self._table.membership.query(
                    members_pk(collection_id),
                    consistent_read=True,
                    page_size=_DETACH_PER_TRANSACTION * 5,
                    last_evaluated_key=start,
                    attributes_to_get=["pk", "sk", "image_id"],
                )
                page = next(result.page_iter)
            rows = [(raw["pk"]["S"], raw["sk"]["S"], raw["image_id"]["S"]) for raw in page.get("Items") or []]
            if count_images:
                for chunk in _chunks(rows, _DETACH_PER_TRANSACTION):
                    self._drop_member_chunk(chunk)
            elif rows:
                batch_delete(self._table, [(pk, sk) for pk, sk, _ in rows])
            if budget is not None:
                budget[0] -= len(rows)
                if budget[0] <= 0 and page.get("LastEvaluatedKey") is not None:
                    return False
            start = page.get("LastEvaluatedKey")
            if start is None:
                return True

    def _drop_member_chunk(self, rows: list[tuple[str, str, str]]) -> None:
        pending = list(rows)
        for attempt in range(_ATTEMPTS):
            if not pending:
                return
            tx = Transaction(self._table)
            for i, (pk, sk, image_id) in enumerate(pending):
                tx.delete(f"m{i}", self._table.membership(pk, sk), self._table.membership.pk.exists())
                tx.update(
                    f"i{i}",
                    self._table.image(image_pk(image_id), IMAGE_SK),
                    [self._table.image.collection_count.add(-1)],
                    self._table.image.pk.exists(),
                )
            try:
                tx.commit()
                return
            except TransactionCancelled as cancelled:
                gone = {i for i in range(len(pending)) if cancelled.failed(f"m{i}")}
                if gone:  # removed concurrently (its image's count with it)
                    pending = [row for i, row in enumerate(pending) if i not in gone]
                    continue
                orphaned = [i for i in range(len(pending)) if cancelled.failed(f"i{i}")]
                if orphaned:  # the image is gone: only the membership is left to delete
                    batch_delete(self._table, [pending[i][:2] for i in orphaned])
                    pending = [row for i, row in enumerate(pending) if i not in set(orphaned)]
                    continue
                if cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
        raise ServiceUnavailable("The data store is busy; try again.")

    # ---- membership ------------------------------------------------------------------------------
    def load_images(self, image_ids: list[str]) -> dict[str, StoredImage]:
        """BatchGetItem (consistent) of ``IMAGE#{id}`` / ``IMAGE``, 100 keys a call."""
        found: dict[str, StoredImage] = {}
        unique = list(dict.fromkeys(i for i in image_ids if i))
        for chunk in _chunks(unique, _BATCH_GET):
            with translated():
                for item in self._table.image.batch_get(
                    [(image_pk(i), IMAGE_SK) for i in chunk], consistent_read=True
                ):
                    found[item.id] = StoredImage(item.to_image(), int(item.collection_count or 0))
        return found

    def members_among(self, collection_id: str, image_ids: list[str]) -> set[str]:
        """BatchGetItem (consistent) of ``COLLECTION#{cid}`` / ``MEMBER#{imageId}``."""
        found: set[str] = set()
        unique = list(dict.fromkeys(i for i in image_ids if i))
        for chunk in _chunks(unique, _BATCH_GET):
            with translated():
                for item in self._table.membership.batch_get(
                    [(members_pk(collection_id), member_sk(i)) for i in chunk],
                    consistent_read=True,
                    attributes_to_get=["pk", "sk", "image_id"],
                ):
                    found.add(item.image_id)
        return found

    def add_image(self, user_id: str, collection_id: str, image: StoredImage) -> BatchStatus:
        """TransactWriteItems of 3: Put the membership (``attribute_not_exists``), Update the collection
        (``imageCount + 1``, the completed count and cover when the image is COMPLETED; condition: exists,
        not being deleted) and Update the image (collection count + 1; condition: the user's, in the
        status that was read, in fewer than 100 collections). A status that moved meanwhile is read
        again and the transaction retried."""
        current: Image | None = image.image
        for attempt in range(_ATTEMPTS):
            if current is None or current.user_id != user_id:
                return BatchStatus.NOT_FOUND
            completed = current.status is ImageStatus.COMPLETED
            tx = Transaction(self._table)
            now = utc_now()
            tx.put(
                _MEMBER,
                self._table.membership.of(user_id, collection_id, current.id, now, completed),
                self._table.membership.pk.does_not_exist(),
            )
            model = self._table.collection
            actions: list[Action] = [model.image_count.add(1), model.updated_at.set(now)]
            if completed:
                actions.append(model.completed_count.add(1))
                if current.thumbnail_url:  # the cover is the most recently added completed image
                    actions += [
                        model.cover_image_id.set(current.id),
                        model.cover_thumbnail_url.set(current.thumbnail_url),
                    ]
            tx.update(
                _COLLECTION, model(user_pk(user_id), collection_sk(collection_id)), actions, self._alive()
            )
            images = self._table.image
            tx.update(
                _IMAGE,
                images(image_pk(current.id), IMAGE_SK),
                [images.collection_count.add(1)],
                images.pk.exists()
                & (images.user_id == user_id)
                & (images.status == current.status.value)
                & (
                    images.collection_count.does_not_exist()
                    | (images.collection_count < MAX_COLLECTIONS_PER_IMAGE)
                ),
            )
            try:
                tx.commit()
                return BatchStatus.OK
            except TransactionCancelled as cancelled:
                if cancelled.failed(_MEMBER):
                    return BatchStatus.ALREADY_PRESENT
                if cancelled.failed(_COLLECTION):
                    raise NotFound("No such collection.") from None
                if cancelled.failed(_IMAGE):
                    fresh = self.load_images([current.id]).get(current.id)
                    if fresh is not None and fresh.collection_count >= MAX_COLLECTIONS_PER_IMAGE:
                        return BatchStatus.LIMIT_REACHED
                    current = fresh.image if fresh is not None else None
                    continue
                if cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
        raise ServiceUnavailable("The data store is busy; try again.")

    def remove_image(self, user_id: str, collection_id: str, image_id: str) -> BatchStatus:
        """GetItem of the membership (its ``completed`` flag), then TransactWriteItems of 3: Delete the
        membership (condition: exists, flag as read), Update the collection (``imageCount - 1``, the
        completed count with the flag; condition: exists), Update the image (count - 1; left out when the
        image is gone). When the cover left, the next cover is read (Query gsi1, one membership) and
        set with an UpdateItem conditional on the cover still being the one that left."""
        collection = self._require(user_id, collection_id)
        with_image = True
        for attempt in range(_ATTEMPTS):
            member = self._member(collection_id, image_id)
            if member is None:
                return BatchStatus.NOT_PRESENT
            completed = bool(member.completed)
            tx = Transaction(self._table)
            tx.delete(
                _MEMBER,
                member,
                self._table.membership.pk.exists() & (self._table.membership.completed == completed),
            )
            model = self._table.collection
            actions: list[Action] = [model.image_count.add(-1), model.updated_at.set(utc_now())]
            if completed:
                actions.append(model.completed_count.add(-1))
            tx.update(
                _COLLECTION, model(user_pk(user_id), collection_sk(collection_id)), actions, model.pk.exists()
            )
            if with_image:
                tx.update(
                    _IMAGE,
                    self._table.image(image_pk(image_id), IMAGE_SK),
                    [self._table.image.collection_count.add(-1)],
                    self._table.image.pk.exists(),
                )
            try:
                tx.commit()
            except TransactionCancelled as cancelled:
                if cancelled.failed(_MEMBER):
                    continue  # removed meanwhile, or its flag changed: read it again
                if cancelled.failed(_COLLECTION):
                    raise NotFound("No such collection.") from None
                if cancelled.failed(_IMAGE):
                    with_image = False
                    continue
                if cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
            if collection.cover_image_id == image_id:
                self._refresh_cover(user_id, collection_id, image_id)
            return BatchStatus.OK
        raise ServiceUnavailable("The data store is busy; try again.")

    def _member(self, collection_id: str, image_id: str) -> MembershipItem | None:
        with translated():
            try:
                return self._table.membership.get(
                    members_pk(collection_id), member_sk(image_id), consistent_read=True
                )
            except self._table.membership.DoesNotExist:
                return None

    def _refresh_cover(self, user_id: str, collection_id: str, leaving: str) -> None:
        """The newest completed member becomes the cover (none: no cover), if the cover is still
        ``leaving``."""
        cover: Image | None = None
        with translated():
            for member in self._table.membership.query(
                collection_added_pk(collection_id),
                index_name="gsi1",
                scan_index_forward=False,
                filter_condition=self._table.membership.completed == True,  # noqa: E712 - an expression
                page_size=25,
            ):
                if member.image_id == leaving:
                    continue
                found = self.load_images([member.image_id]).get(member.image_id)
                if found is not None and found.image.thumbnail_url:
                    cover = found.image
                    break
        model = self._table.collection
        actions: list[Action]
        if cover is not None:
            actions = [
                model.cover_image_id.set(cover.id),
                model.cover_thumbnail_url.set(cover.thumbnail_url or ""),
            ]
        else:
            actions = [model.cover_image_id.remove(), model.cover_thumbnail_url.remove()]
        try:
            with translated():
                model(user_pk(user_id), collection_sk(collection_id)).update(
                    actions=actions, condition=model.pk.exists() & (model.cover_image_id == leaving)
                )
        except ConditionFailed:
            pass  # another image became the cover meanwhile, or the collection went

    def _memberships_of(self, image_id: str) -> list[MembershipItem]:
        with translated():
            return list(self._table.membership.query(image_collections_pk(image_id), index_name="gsi2"))

    def _collection_count(self, image_id: str) -> int:
        """The image's own count of its collections (GetItem, consistent, that attribute only)."""
        with translated():
            try:
                item = self._table.image.get(
                    image_pk(image_id), IMAGE_SK, consistent_read=True, attributes_to_get=["collection_count"]
                )
            except self._table.image.DoesNotExist:
                return 0
        return int(item.collection_count or 0)

    def _settled_memberships(self, image_id: str) -> list[MembershipItem]:
        """The image's memberships by gsi2, read again (with backoff) while the index shows fewer than
        the image's own count says (gsi2 is eventually consistent; the count is base-table truth). An
        image in no collection costs that one GetItem and no Query."""
        expected = self._collection_count(image_id)
        members: list[MembershipItem] = []
        for attempt in range(_SETTLE_READS):
            if expected <= 0:
                return []
            members = self._memberships_of(image_id)
            if len(members) >= expected:
                return members
            backoff(attempt, base=0.02, cap=0.5)
            expected = self._collection_count(image_id)
        return members

    def detach_image(self, image_id: str) -> int:
        """Remove the image from each collection gsi2 lists, one transaction per membership (the
        collection's counters and the image's count move with it)."""
        left = 0
        for member in self._settled_memberships(image_id):
            if self.remove_image(member.user_id, member.collection_id, image_id) is BatchStatus.OK:
                left += 1
        return left

    def sync_image(self, image: Image) -> None:
        """For each membership whose ``completed`` flag differs from the image's status: one
        TransactWriteItems of 2 (Update the flag, conditional on its old value; Update the collection's
        completed count, and its cover if it has none)."""
        completed = image.status is ImageStatus.COMPLETED
        for member in self._settled_memberships(image.id):
            if bool(member.completed) == completed:
                continue
            tx = Transaction(self._table)
            tx.update(
                _MEMBER,
                member,
                [self._table.membership.completed.set(completed)],
                self._table.membership.pk.exists() & (self._table.membership.completed == (not completed)),
            )
            model = self._table.collection
            actions: list[Action] = [model.completed_count.add(1 if completed else -1)]
            if completed and image.thumbnail_url:
                actions += [
                    model.cover_image_id.set(model.cover_image_id | image.id),
                    model.cover_thumbnail_url.set(model.cover_thumbnail_url | image.thumbnail_url),
                ]
            tx.update(
                _COLLECTION,
                model(user_pk(member.user_id), collection_sk(member.collection_id)),
                actions,
                model.pk.exists(),
            )
            try:
                tx.commit()
            except TransactionCancelled as cancelled:
                if cancelled.failed(_MEMBER) or cancelled.failed(_COLLECTION):
                    continue  # removed or already in step
                raise cancelled.unexpected() from cancelled
            if not completed:
                collection = self._get(member.user_id, member.collection_id)
                if collection is not None and collection.cover_image_id == image.id:
                    self._refresh_cover(member.user_id, member.collection_id, image.id)

    # ---- reading a collection's images -----------------------------------------------------------
    def image_ids_in_collection(self, user_id: str, collection_id: str, limit: int) -> list[str]:
        """GetItem of the collection, then Query gsi1 ``COLLECTION#{cid}#ADDED``, newest first, keys
        only, until ``limit`` ids."""
        self._require(user_id, collection_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a positive integer")
        ids: list[str] = []
        with translated():
            for member in self._table.membership.query(
                collection_added_pk(collection_id),
                index_name="gsi1",
                scan_index_forward=False,
                limit=limit,
                page_size=min(limit, 1000),
                attributes_to_get=["pk", "sk", "gsi1pk", "gsi1sk", "image_id"],
            ):
                ids.append(member.image_id)
        return ids[:limit]

    def _images_of(self, members: list[MembershipItem]) -> list[Image]:
        found = self.load_images([m.image_id for m in members])
        return [found[m.image_id].image for m in members if m.image_id in found]

    def find_images(
        self, user_id: str, collection_id: str, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]:
        """GetItem of the collection, Query gsi1 ``COLLECTION#{cid}#ADDED`` (newest first) and one
        BatchGetItem of those images."""
        self._require(user_id, collection_id)
        query = PageQuery(
            scope=f"collection:{user_id}:{collection_id}:images",
            partition=collection_added_pk(collection_id),
            index="gsi1",
        )
        members, next_cursor = query_page(self._table.membership, self._codec, query, limit, cursor)
        return Page(self._images_of(members), next_cursor)

    def find_shared(self, token: str) -> Collection | None:
        """GetItem ``SHARE#{token}`` (the one lookup of the token), then GetItem of the collection it
        names, which must still carry that token (a rotation or revocation in flight)."""
        if not token:
            return None
        with translated():
            try:
                link = self._table.share.get(share_pk(token), SHARE_SK, consistent_read=True)
            except self._table.share.DoesNotExist:
                return None
        item = self._get(link.user_id, link.collection_id)
        if item is None or item.share_token != token:
            return None
        return item.to_collection()

    def find_shared_images(
        self, collection: Collection, limit: int = 20, cursor: str | None = None
    ) -> Page[Image]:
        """Query gsi1 ``COLLECTION#{cid}#ADDED`` with FilterExpression ``completed = true`` (newest
        first) and one BatchGetItem of those images, of which only COMPLETED ones are answered."""
        query = PageQuery(
            scope=f"shared:{collection.id}:images",
            partition=collection_added_pk(collection.id),
            index="gsi1",
            filter=self._table.membership.completed == True,  # noqa: E712 - an expression
        )
        members, next_cursor = query_page(self._table.membership, self._codec, query, limit, cursor)
        images = [i for i in self._images_of(members) if i.status is ImageStatus.COMPLETED]
        return Page(images, next_cursor)

    # ---- sharing ---------------------------------------------------------------------------------
    def share(self, user_id: str, collection_id: str, token: str) -> Collection:
        """GetItem of the collection, then TransactWriteItems of 2-3: Put the new token item
        (``attribute_not_exists``), Delete the old one, Update the collection's ``share_token``
        (condition: the token that was read)."""
        for attempt in range(_ATTEMPTS):
            item = self._require(user_id, collection_id)
            old = item.share_token
            now = utc_now()
            tx = Transaction(self._table)
            tx.put(
                _TOKEN,
                self._table.share(
                    share_pk(token), SHARE_SK, collection_id=collection_id, user_id=user_id, created_at=now
                ),
                self._table.share.pk.does_not_exist(),
            )
            if old:
                tx.delete(_OLD_TOKEN, self._table.share(share_pk(old), SHARE_SK))
            model = self._table.collection
            condition = self._alive() & (
                (model.share_token == old) if old else model.share_token.does_not_exist()
            )
            tx.update(
                _COLLECTION,
                model(user_pk(user_id), collection_sk(collection_id)),
                [model.share_token.set(token), model.updated_at.set(now)],
                condition,
            )
            try:
                tx.commit()
            except TransactionCancelled as cancelled:
                if cancelled.failed(_TOKEN):
                    raise ValueError("share token already in use") from None
                if cancelled.failed(_COLLECTION) or cancelled.transient:
                    backoff(attempt)
                    continue  # shared or revoked concurrently: read again
                raise cancelled.unexpected() from cancelled
            found = item.to_collection()
            found.share_token, found.updated_at = token, now
            return found
        raise ServiceUnavailable("The data store is busy; try again.")

    def unshare(self, user_id: str, collection_id: str) -> None:
        """GetItem of the collection, then TransactWriteItems of 2: Delete the token item, Update the
        collection (REMOVE ``share_token``, condition: the token that was read)."""
        for attempt in range(_ATTEMPTS):
            item = self._require(user_id, collection_id)
            old = item.share_token
            if not old:
                return
            tx = Transaction(self._table)
            tx.delete(_OLD_TOKEN, self._table.share(share_pk(old), SHARE_SK))
            model = self._table.collection
            tx.update(
                _COLLECTION,
                model(user_pk(user_id), collection_sk(collection_id)),
                [model.share_token.remove(), model.updated_at.set(utc_now())],
                model.pk.exists() & (model.share_token == old),
            )
            try:
                tx.commit()
                return
            except TransactionCancelled as cancelled:
                if cancelled.failed(_COLLECTION) or cancelled.transient:
                    backoff(attempt)
                    continue
                raise cancelled.unexpected() from cancelled
        raise ServiceUnavailable("The data store is busy; try again.")

    # ---- erasure ---------------------------------------------------------------------------------
    def delete_all_for_user(self, user_id: str, max_items: int | None = None) -> bool:
        """Query ``USER#{uid}`` ``begins_with(sk, "COLLECTION#")`` (consistent); for each collection:
        mark it, DeleteItem its token, BatchWriteItem its memberships (the images go with the account),
        DeleteItem the collection. False when about ``max_items`` deletions were made first."""
        budget: list[int] | None = [max_items] if max_items is not None else None
        model = self._table.collection
        with translated():
            found: list[Any] = list(
                model.query(
                    user_pk(user_id),
                    range_key_condition=model.sk.startswith(COLLECTION_PREFIX),
                    consistent_read=True,
                )
            )
        for item in found:
            if not item.deleting:
                try:
                    with translated():
                        item.update(actions=[model.deleting.set(utc_now())], condition=model.pk.exists())
                except ConditionFailed:
                    continue
            if item.share_token:
                self._delete_token(item.share_token, item.id)
            if not self._drop_members(item.id, count_images=False, budget=budget):
                return False
            try:
                with translated():
                    item.delete(condition=model.pk.exists())
            except ConditionFailed:
                pass
            if budget is not None:
                budget[0] -= 1
                if budget[0] <= 0:
                    return False
        return True
