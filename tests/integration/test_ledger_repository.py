"""LedgerRepository: a user's entries newest first, cursor-paged, and the running balance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from imagegen.errors import InvalidCursor, ValidationError
from imagegen.models import LedgerReason, User, new_id
from imagegen.persistence import Repositories
from imagegen.ports import OnceKey

NewUser = Callable[..., User]


def _grant(repos: Repositories, user: User, amounts: list[int]) -> None:
    for i, amount in enumerate(amounts):
        if amount > 0:
            repos.users.change_coins(user.id, amount, reason=LedgerReason.ADMIN_GRANT, once=OnceKey(f"g{i}"))
        else:
            repos.users.change_coins(user.id, amount, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey(f"g{i}"))


def test_entries_page_newest_first(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    _grant(repos, user, [5, -20, 7, -1, 3])

    seen = []
    cursor = None
    while True:
        page = repos.ledger.find_by_user_id(user.id, limit=2, cursor=cursor)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [e.seq for e in seen] == [6, 5, 4, 3, 2, 1]
    assert [e.amount for e in seen] == [3, -1, 7, -20, 5, 100]
    assert seen == list(reversed(repos.ledger.all_for_user(user.id)))


def test_all_for_user_is_an_unbroken_running_balance(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(10)
    _grant(repos, user, [15, -25, 4])
    entries = repos.ledger.all_for_user(user.id)
    running = 0
    for expected_seq, entry in enumerate(entries, start=1):
        running += entry.amount
        assert (entry.seq, entry.balance_after, entry.user_id) == (expected_seq, running, user.id)
    assert running == repos.users.find_by_id(user.id).coins == 4  # type: ignore[union-attr]
    assert entries[-1].to_json() == {
        "id": entries[-1].id,
        "userId": user.id,
        "amount": 4,
        "balanceAfter": 4,
        "reason": "admin_grant",
        "imageId": None,
        "note": None,
        "createdAt": entries[-1].created_at,
        "purchaseId": None,
    }


def test_a_user_without_entries_has_an_empty_page(repos: Repositories) -> None:
    page = repos.ledger.find_by_user_id(new_id())
    assert page.items == [] and page.next_cursor is None
    assert repos.ledger.all_for_user(new_id()) == []


def test_another_users_cursor_is_refused(repos: Repositories, new_user: NewUser) -> None:
    alice, bob = new_user(100), new_user(100)
    _grant(repos, alice, [1, 2])
    _grant(repos, bob, [1, 2])
    cursor = repos.ledger.find_by_user_id(alice.id, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        repos.ledger.find_by_user_id(bob.id, cursor=cursor)
    with pytest.raises(InvalidCursor):
        repos.ledger.find_by_user_id(alice.id, cursor=cursor[:-1])
    assert [e.seq for e in repos.ledger.find_by_user_id(alice.id, limit=5, cursor=cursor).items] == [2, 1]


@pytest.mark.parametrize("limit", [0, 101, False])
def test_limit_is_validated(repos: Repositories, limit: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        repos.ledger.find_by_user_id(new_id(), limit=limit)
    assert caught.value.errors[0].field == "limit"
