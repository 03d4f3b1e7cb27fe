"""The coin ledger function's use cases: coin changes after the request, and the pipelines' dead letters."""

from __future__ import annotations

from collections.abc import Callable

from imagegen.errors import InvalidTransition, NotFound
from imagegen.models import LedgerReason
from imagegen.observability import MetricUnit, add_metric
from imagegen.ports import ImageRepository, ObjectStore, OnceKey, UserRepository
from imagegen.queues import LedgerCommand
from imagegen.services.images import server_key


class LedgerService:
    def __init__(
        self,
        *,
        users: UserRepository,
        images: ImageRepository,
        storage: ObjectStore,
        erase_account: Callable[[str], bool],
    ) -> None:
        self.users = users
        self.images = images
        self.storage = storage
        self.erase_account = erase_account

    def apply(self, command: LedgerCommand) -> None:
        """Apply a command once; a redelivered one changes nothing. A malformed one raises ValueError."""
        if command.command == "refund_image":
            if not command.image_id:
                raise ValueError("refund_image needs image_id")
            self.fail_image(command.image_id, command.reason or "refunded")
        elif command.command == "grant":
            if not command.user_id or command.amount <= 0:
                raise ValueError("grant needs user_id and a positive amount")
            self.users.change_coins(
                command.user_id,
                command.amount,
                reason=LedgerReason.ADMIN_GRANT,
                once=OnceKey(server_key("grant", command.key)),
                note=command.note,
            )
        elif command.command == "purge_user":
            if not command.user_id:
                raise ValueError("purge_user needs user_id")
            self.erase_account(command.user_id)
        else:
            raise ValueError(f"unknown ledger command {command.command!r}")

    def fail_image(self, image_id: str, reason: str) -> bool:
        """Fail the image with its refund and delete its objects; True when this call failed it."""
        image = self.images.find_by_id(image_id)
        if image is None or image.is_ready():
            return False
        if image.is_failed():
            self.storage.delete(image.storage_key)  # a crash may have come between refund and delete
            return False
        try:
            self.images.fail_and_refund(image_id, reason, read=image)
        except (InvalidTransition, NotFound):
            return False  # completed, or deleted, since it was read
        self.storage.delete(image.storage_key)
        add_metric("ImagesFailed", MetricUnit.Count, 1)
        return True

    def fail_by_storage_key(self, key: str, reason: str) -> None:
        image = self.images.find_by_storage_key(key)
        if image is None:
            self.storage.delete(key)
        else:
            self.fail_image(image.id, reason)
