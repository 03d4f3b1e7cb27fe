"""The caller's own account: who is calling (sessions), profile, ledger, stats, sign-out and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagegen.commands import UpdateProfile
from imagegen.errors import Unauthorized
from imagegen.models import LedgerEntry, User, UserStats
from imagegen.observability import logger
from imagegen.ports import (
    Clock,
    CollectionRepository,
    IdSource,
    ImageRead,
    ImageRepository,
    LedgerRepository,
    ObjectStore,
    Page,
    Publisher,
    UserRepository,
)
from imagegen.queues import LedgerCommand
from imagegen.services.objects import delete_objects_of
from imagegen.settings import Settings
from imagegen.storage.archives import user_exports_prefix

if TYPE_CHECKING:
    from imagegen.auth.sessions import SessionTokens

BEARER = "bearer "
# How much of a user's data one request deletes before handing the rest to the queue.
DELETE_BUDGET_SECONDS = 10.0
DELETE_BATCH_ITEMS = 500
RENDITION_PAGE = 100


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as read with its session check (one DynamoDB call): the user, their
    stats, and the image the request is about when the route asked for it up front."""

    user: User
    jti: str
    expires_at: int
    stats: UserStats | None = None
    image: ImageRead | None = None

    @property
    def user_id(self) -> str:
        return self.user.id

    def is_admin(self) -> bool:
        return self.user.is_admin()


class AccountService:
    def __init__(
        self,
        *,
        users: UserRepository,
        images: ImageRepository,
        collections: CollectionRepository,
        ledger: LedgerRepository,
        sessions: SessionTokens,
        storage: ObjectStore,
        publisher: Publisher,
        settings: Settings,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self.users = users
        self.images = images
        self.collections = collections
        self.ledger_entries = ledger
        self.sessions = sessions
        self.storage = storage
        self.publisher = publisher
        self.settings = settings
        self.clock = clock
        self.ids = ids

    # ---- sessions --------------------------------------------------------------------------
    def authenticate(self, authorization: str | None, *, image_id: str | None = None) -> Principal:
        """The caller behind a ``Bearer`` session token, with roles as they are NOW in the table, in one
        read of the profile (which also says whether the session was signed out). ``image_id``: the
        image the request is about, read in the same call (the route checks who may see it)."""
        if not authorization or not authorization[: len(BEARER)].lower() == BEARER:
            raise Unauthorized("A Bearer session token is required.")
        claims = self.sessions.verify(authorization[len(BEARER) :].strip())
        caller = self.users.find_caller(claims.user_id, image_id=image_id)
        if caller is None:
            raise Unauthorized("This account no longer exists.")
        if claims.jti in caller.revoked_sessions:
            raise Unauthorized("The session has been signed out.")
        return Principal(
            user=caller.user,
            jti=claims.jti,
            expires_at=claims.expires_at,
            stats=caller.stats,
            image=caller.image,
        )

    def logout(self, principal: Principal) -> None:
        """Refuse this session's token from now on (the user's other sessions stay signed in)."""
        self.users.revoke_session(
            principal.user_id, principal.jti, principal.expires_at, now=int(self.clock.time())
        )

    # ---- profile, stats, ledger ------------------------------------------------------------
    def update_profile(self, user_id: str, command: UpdateProfile) -> User:
        return self.users.update(
            user_id, first_name=command.first_name, last_name=command.last_name, language=command.language
        )

    def stats(self, principal: Principal) -> UserStats:
        """The caller's stats as authentication read them with the profile (no second read)."""
        return principal.stats if principal.stats is not None else self.users.get_stats(principal.user_id)

    def ledger(self, user_id: str, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        return self.ledger_entries.find_by_user_id(user_id, limit, cursor)

    # ---- erasure ---------------------------------------------------------------------------
    def delete_account(
        self,
        user_id: str,
        *,
        budget_seconds: float = DELETE_BUDGET_SECONDS,
        requeue_on_error: bool = True,
    ) -> bool:
        """Delete the user, their images, ledger, exports and every stored object. Resumable.

        Returns True when everything is gone; False when the rest was handed to the ledger queue
        (a ``purge_user`` command), which calls this again until done. An error half-way (throttling,
        an outage) hands the rest to the queue as well, unless ``requeue_on_error`` is False (the queue's
        own consumer and the sweeper: the error is raised, and the message is delivered again, or the
        next sweep resumes the profile still marked ``deleting``)."""
        deadline = self.clock.monotonic() + budget_seconds
        settings = self.settings
        try:
            # Renditions are keyed by image, not by owner: each image's own, then the owner's prefixes
            # (the originals, and the legacy layout's renditions).
            self._delete_renditions(user_id)
            self.storage.delete_prefix(f"{settings.bucket_prefix}/{user_id}/")
            self.storage.delete_prefix(f"{settings.thumbnail_prefix}/{user_id}/")
            self.storage.delete_prefix(user_exports_prefix(user_id))  # the user's export ZIPs
            while True:
                # Collections first: their memberships live outside the user's partition.
                if self.collections.delete_all_for_user(
                    user_id, max_items=DELETE_BATCH_ITEMS
                ) and self.users.delete(user_id, max_items=DELETE_BATCH_ITEMS):
                    return True
                if self.clock.monotonic() > deadline:
                    self._queue_purge(user_id)
                    return False
        except Exception:
            if not requeue_on_error:
                raise
            logger.exception("account erasure interrupted; the rest is queued", extra={"user_id": user_id})
        try:
            self._queue_purge(user_id)
        except Exception:
            # The profile stays marked ``deleting``: the sweeper finds it and finishes the erasure.
            logger.exception("could not queue the rest of an erasure", extra={"user_id": user_id})
        return False

    def _delete_renditions(self, user_id: str) -> None:
        """The renditions of every image the user still has: a page of the user's images at a time, the
        keys their records name in one DeleteObjects per page, then each image's rendition prefix only
        where the record names none (a thumbnailer may be writing it). A resumed erasure lists only
        the images the cascade has not deleted yet."""
        cursor: str | None = None
        while True:
            page = self.images.find_by_user_id(user_id, RENDITION_PAGE, cursor)
            delete_objects_of(self.storage, page.items, self.settings)
            for image in page.items:
                if not image.thumbnail_key:
                    self.storage.delete_renditions(image.id)
            cursor = page.next_cursor
            if cursor is None:
                return

    def _queue_purge(self, user_id: str) -> None:
        self.publisher.publish(
            self.settings.ledger_queue_url,
            LedgerCommand(command="purge_user", key=f"purge:{user_id}:{self.ids.new_id()}", user_id=user_id),
        )
