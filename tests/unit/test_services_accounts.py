"""Accounts, sign-in and admin services on in-memory adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from imagegen.auth.binding import COOKIE_NAME, state_digest
from imagegen.auth.oauth import VerifiedIdentity
from imagegen.commands import ChangeCoins, GenerateImage, UpdateProfile
from imagegen.errors import (
    EmailNotVerified,
    IdempotencyKeyReused,
    InsufficientCoins,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from imagegen.models import LedgerReason, UserRole
from imagegen.queues import LedgerCommand
from imagegen.services.sign_in import SignInService

from tests.memory import Wiring, wire


def _bearer(w: Wiring, user_id: str) -> str:
    user = w.repos.users.find_by_id(user_id)
    assert user is not None
    token, _, _ = w.sessions.issue(user)
    return f"Bearer {token}"


# ---- sessions ------------------------------------------------------------------------------------
def test_authenticate_reads_roles_as_they_are_now() -> None:
    w = wire()
    user = w.user()
    header = _bearer(w, user.id)
    assert not w.accounts().authenticate(header).is_admin()
    w.repos.users.add_role(user.id, UserRole.ADMIN)
    assert w.accounts().authenticate(header).is_admin()


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer not-a-token", "bearer x.y.z"])
def test_anything_but_a_valid_bearer_token_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        wire().accounts().authenticate(header)


def test_a_signed_out_token_and_a_deleted_account_are_unauthorized() -> None:
    w = wire()
    user = w.user()
    header = _bearer(w, user.id)
    w.accounts().logout(w.accounts().authenticate(header))
    with pytest.raises(Unauthorized):
        w.accounts().authenticate(header)
    other = w.user()
    header = _bearer(w, other.id)
    w.repos.users.delete(other.id)
    with pytest.raises(Unauthorized):
        w.accounts().authenticate(header)


# ---- profile and erasure -------------------------------------------------------------------------
def test_profile_changes_only_what_is_given() -> None:
    w = wire()
    user = w.user()
    changed = w.accounts().update_profile(
        user.id, UpdateProfile.from_json({"firstName": " Ada ", "language": "es"})
    )
    assert (changed.first_name, changed.last_name, changed.language) == ("Ada", "", "es")


def test_delete_account_removes_images_objects_and_profile() -> None:
    w = wire(generation_cost=10)
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="mine"))
    w.storage.put(image.storage_key, b"x", "image/png")
    w.storage.put(w.storage.legacy_thumbnail_key(image.storage_key, "256"), b"x", "image/webp")
    w.storage.put(w.storage.rendition_key(image.id, "abc", "256"), b"x", "image/webp")
    assert w.accounts().delete_account(user.id) is True
    assert w.repos.users.find_by_id(user.id) is None and w.repos.images.find_by_id(image.id) is None
    assert w.storage.objects == {}


def test_delete_account_hands_the_rest_to_the_queue_when_its_budget_runs_out() -> None:
    w = wire()
    user = w.user()
    calls = []

    def slow_delete(user_id: str, *, max_items: int | None = None) -> bool:
        calls.append(user_id)
        w.clock.advance(6)
        return False

    w.repos.users.delete = slow_delete  # type: ignore[method-assign]
    assert w.accounts().delete_account(user.id, budget_seconds=10) is False
    assert len(calls) == 2
    ((queue, command),) = w.publisher.sent
    assert queue == "queue://ledger" and isinstance(command, LedgerCommand)
    assert (command.command, command.user_id) == ("purge_user", user.id)


def test_an_erasure_that_fails_half_way_is_queued_and_the_queue_finishes_it() -> None:
    w = wire(generation_cost=10)
    user = w.user()
    image = w.images().generate(user.id, GenerateImage(prompt="mine"))
    w.storage.put(image.storage_key, b"x", "image/png")
    w.repos.users.delete_errors.append(ServiceUnavailable("throttled"))
    assert w.accounts().delete_account(user.id) is False  # 202: the rest is queued
    assert w.repos.users.find_by_id(user.id) is None  # invisible already
    assert w.repos.images.find_by_id(image.id) is not None  # but not gone yet
    purge = [m for _, m in w.publisher.sent if isinstance(m, LedgerCommand)]
    assert [(m.command, m.user_id) for m in purge] == [("purge_user", user.id)]
    w.ledger().apply(purge[0])
    assert w.repos.images.find_by_id(image.id) is None and w.repos.table.accounts == {}
    assert w.storage.objects == {}


def test_the_queue_consumer_raises_so_the_purge_is_delivered_again() -> None:
    w = wire()
    user = w.user()
    w.repos.users.delete_errors.append(ServiceUnavailable("throttled"))
    command = LedgerCommand(command="purge_user", key="p", user_id=user.id)
    with pytest.raises(ServiceUnavailable):
        w.ledger().apply(command)
    w.ledger().apply(command)  # the redelivery
    assert w.repos.table.accounts == {}


def test_an_erasure_whose_purge_cannot_be_queued_is_finished_by_the_sweeper() -> None:
    w = wire()
    user = w.user()
    w.repos.users.delete_errors.append(ServiceUnavailable("throttled"))
    w.publisher.fail = True
    assert w.accounts().delete_account(user.id) is False
    w.publisher.fail = False
    assert w.publisher.sent == [] and user.id in w.repos.table.accounts
    now = datetime.now(UTC)
    assert w.sweeper().run(now=now - timedelta(hours=1))["erased"] == 0  # not stuck long enough yet
    counts = w.sweeper().run(now=now + timedelta(hours=1))
    assert (counts["erased"], counts["errors"]) == (1, 0)
    assert w.repos.table.accounts == {}


# ---- admin ---------------------------------------------------------------------------------------
def test_grant_and_debit_write_entries_with_the_note() -> None:
    w = wire()
    admin, user = w.user(admin=True), w.user(coins=10)
    granted = w.admin().change_coins(admin.id, user.id, ChangeCoins(amount=5, reason="thanks"))
    assert (granted.user.coins, granted.entry.reason, granted.entry.note) == (
        15,
        LedgerReason.ADMIN_GRANT,
        "thanks",
    )
    debited = w.admin().change_coins(admin.id, user.id, ChangeCoins(amount=-15, reason="abuse"))
    assert (debited.user.coins, debited.entry.reason) == (0, LedgerReason.ADMIN_DEBIT)
    with pytest.raises(InsufficientCoins):
        w.admin().change_coins(admin.id, user.id, ChangeCoins(amount=-1, reason="more"))
    assert w.books_balance(user.id)


def test_an_admin_change_with_a_key_applies_once_and_refuses_another_body() -> None:
    w = wire()
    admin, user = w.user(admin=True), w.user(coins=0)
    command = ChangeCoins(amount=7, reason="gift")
    first = w.admin().change_coins(admin.id, user.id, command, "k")
    again = w.admin().change_coins(admin.id, user.id, command, "k")
    assert again.entry == first.entry and again.user.coins == 7
    with pytest.raises(IdempotencyKeyReused):
        w.admin().change_coins(admin.id, user.id, ChangeCoins(amount=8, reason="gift"), "k")
    other_admin = w.user(admin=True)
    w.admin().change_coins(other_admin.id, user.id, command, "k")  # keys are per admin
    assert w.repos.users.find_by_id(user.id).coins == 14  # type: ignore[union-attr]


def test_admin_lookups_and_roles() -> None:
    w = wire()
    user = w.user()
    assert w.admin().list_users(20, None, f"  {user.email.upper()} ").items[0].id == user.id
    assert w.admin().list_users(20, None, "nobody@example.com").items == []
    assert w.admin().set_role(user.id, UserRole.ADMIN, present=True).is_admin()
    assert not w.admin().set_role(user.id, UserRole.ADMIN, present=False).is_admin()
    with pytest.raises(NotFound):
        w.admin().set_role("missing", UserRole.ADMIN, present=True)
    with pytest.raises(NotFound):
        w.admin().change_coins(user.id, "missing", ChangeCoins(amount=1, reason="x"))


# ---- sign-in -------------------------------------------------------------------------------------
@dataclass
class _Google:
    """The GoogleSignIn collaborator: the real one is tested against an in-process Google elsewhere."""

    identity: VerifiedIdentity

    def start(self, redirect_uri: str) -> str:
        return f"https://accounts.test/auth?redirect_uri={redirect_uri}"

    def finish(self, code: str, state: str) -> VerifiedIdentity:
        return self.identity


def _identity(email: str = "ada@example.com", verified: bool = True) -> VerifiedIdentity:
    return VerifiedIdentity("g-ada", email, verified, "Ada", "Lovelace", "es-419")


def _cookies(state: str) -> list[str]:
    """What the browser that started the flow of ``state`` carries back."""
    return [f"{COOKIE_NAME}={state_digest(state)}"]


def _sign_in(w: Wiring, identity: VerifiedIdentity) -> SignInService:
    return SignInService(
        users=w.repos.users,
        google=_Google(identity),  # type: ignore[arg-type]
        sessions=w.sessions,
        states=w.repos.ephemeral,
        settings=w.settings,
    )


def test_first_sign_in_creates_the_user_with_the_bonus_then_finds_them() -> None:
    w = wire(signup_bonus_coins=100)
    first = _sign_in(w, _identity()).finish("code", "state", _cookies("state"))
    assert first.created and first.user.coins == 100 and first.user.language == "es"
    assert w.accounts().authenticate(f"Bearer {first.token}").user_id == first.user.id
    again = _sign_in(w, _identity()).finish("code", "state", _cookies("state"))
    assert not again.created and again.user.id == first.user.id and again.user.coins == 100


def test_admin_emails_get_the_role_and_unverified_emails_are_refused() -> None:
    w = wire(admin_emails=frozenset({"boss@example.com"}))
    assert _sign_in(w, _identity("boss@example.com")).finish("c", "s", _cookies("s")).user.is_admin()
    with pytest.raises(EmailNotVerified):
        _sign_in(w, _identity("x@example.com", verified=False)).finish("c", "s", _cookies("s"))
