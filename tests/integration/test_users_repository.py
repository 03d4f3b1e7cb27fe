"""UserRepository on the serialized emulator: uniqueness, sign-in races, coins, roles, cascade."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from imagegen.errors import (
    AlreadyExists,
    InsufficientCoins,
    InvalidCursor,
    NotFound,
    ServiceUnavailable,
    ValidationError,
)
from imagegen.models import Image, ImageType, LedgerReason, User, UserRole, new_id
from imagegen.persistence import Repositories
from imagegen.ports import GoogleProfile, OnceKey

NewUser = Callable[..., User]
Scan = Callable[[], list[dict[str, Any]]]


def _user(email: str = "ada@example.com", google_id: str = "g-1", **kwargs: Any) -> User:
    return User(id=new_id(), email=email, google_id=google_id, **kwargs)


def _items_of(items: list[dict[str, Any]], user_id: str) -> list[dict[str, Any]]:
    return [item for item in items if user_id in repr(item)]


def _parallel(count: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` on ``count`` threads released together; results or raised exceptions."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# ---- create and find --------------------------------------------------------------------------


def test_create_and_find_by_every_key(repos: Repositories) -> None:
    user = repos.users.create(_user(email="Ada@Example.com", first_name="Ada"), signup_bonus=100)

    assert user.coins == 100
    for found in (
        repos.users.find_by_id(user.id),
        repos.users.find_by_email("ada@example.com"),
        repos.users.find_by_email("ADA@example.com"),
    ):
        assert found == user
    assert set(user.to_json()) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "fullName",
        "roles",
        "language",
        "coins",
        "createdAt",
        "updatedAt",
    }
    [bonus] = repos.ledger.all_for_user(user.id)
    assert (bonus.amount, bonus.balance_after, bonus.reason, bonus.seq) == (
        100,
        100,
        LedgerReason.SIGNUP_BONUS,
        1,
    )


def test_create_without_bonus_starts_at_zero_with_an_empty_ledger(repos: Repositories) -> None:
    user = repos.users.create(_user())
    assert repos.users.find_by_id(user.id) == user
    assert user.coins == 0
    assert repos.ledger.all_for_user(user.id) == []


def test_a_new_user_balance_comes_only_from_the_bonus(repos: Repositories) -> None:
    with pytest.raises(ValidationError) as caught:
        repos.users.create(_user(coins=5))
    assert caught.value.errors[0].field == "coins"


def test_duplicate_email_is_refused_and_nothing_is_half_written(
    repos: Repositories, table_items: Scan
) -> None:
    first = repos.users.create(_user(email="ada@example.com", google_id="g-1"), signup_bonus=100)
    before = table_items()
    second = _user(email="ADA@example.com", google_id="g-2")

    with pytest.raises(AlreadyExists):
        repos.users.create(second, signup_bonus=100)

    assert table_items() == before
    assert repos.users.find_by_email("ada@example.com") == first


def test_duplicate_google_id_is_refused(repos: Repositories, table_items: Scan) -> None:
    repos.users.create(_user(email="a@example.com", google_id="g-1"))
    before = table_items()
    with pytest.raises(AlreadyExists):
        repos.users.create(_user(email="b@example.com", google_id="g-1"))
    assert table_items() == before


def test_duplicate_id_is_refused(repos: Repositories) -> None:
    user = repos.users.create(_user(email="a@example.com", google_id="g-1"))
    clone = User(id=user.id, email="b@example.com", google_id="g-2")
    with pytest.raises(AlreadyExists):
        repos.users.create(clone)
    assert repos.users.find_by_email("b@example.com") is None


def test_missing_users_are_none(repos: Repositories) -> None:
    assert repos.users.find_by_id(new_id()) is None
    assert repos.users.find_by_id("") is None
    assert repos.users.find_by_email("nobody@example.com") is None
    assert repos.users.find_by_email("not an email") is None
    with pytest.raises(NotFound):
        repos.users.get_stats(new_id())


# ---- sign-in ----------------------------------------------------------------------------------


def test_first_sign_in_creates_the_user_with_the_bonus_then_finds_it(repos: Repositories) -> None:
    profile = GoogleProfile(
        google_id="g-7", email="Grace@Example.com", first_name="Grace", last_name="Hopper"
    )

    user, created = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    again, created_again = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)

    assert created and not created_again
    assert again == user
    assert (user.email, user.full_name, user.coins, user.roles) == (
        "grace@example.com",
        "Grace Hopper",
        100,
        [UserRole.USER],
    )
    assert [e.reason for e in repos.ledger.all_for_user(user.id)] == [LedgerReason.SIGNUP_BONUS]


def test_admin_sign_up_gets_the_admin_role(repos: Repositories) -> None:
    profile = GoogleProfile(google_id="g-admin", email="root@example.com")
    user, _ = repos.users.find_or_create_by_google(profile, signup_bonus=0, admin=True)
    assert user.is_admin()
    assert repos.ledger.all_for_user(user.id) == []


def test_email_of_another_google_account_is_refused(repos: Repositories, table_items: Scan) -> None:
    repos.users.find_or_create_by_google(
        GoogleProfile("g-1", "ada@example.com"), signup_bonus=100, admin=False
    )
    before = table_items()
    with pytest.raises(AlreadyExists):
        repos.users.find_or_create_by_google(
            GoogleProfile("g-2", "ada@example.com"), signup_bonus=100, admin=False
        )
    assert table_items() == before


def test_concurrent_first_sign_ins_make_exactly_one_user(repos: Repositories, table_items: Scan) -> None:
    profile = GoogleProfile(google_id="g-race", email="race@example.com")

    results = _parallel(
        10, lambda _: repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    )

    assert all(isinstance(r, tuple) for r in results), results
    assert len({user.id for user, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    user = results[0][0]
    assert len(repos.ledger.all_for_user(user.id)) == 1
    profiles = [i for i in table_items() if i["sk"] == "PROFILE"]
    assert len(profiles) == 1
    assert repos.users.find_by_id(user.id).coins == 100  # type: ignore[union-attr]


# ---- profile, roles, list ---------------------------------------------------------------------


def test_update_profile_fields(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    updated = repos.users.update(user.id, first_name="  Grace ", last_name="Hopper", language="es")
    assert (updated.first_name, updated.last_name, updated.language) == ("Grace", "Hopper", "es")
    assert updated.updated_at >= user.updated_at
    assert repos.users.find_by_id(user.id) == updated
    assert repos.users.update(user.id) == updated


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"first_name": "a" * 101}, "firstName"),
        ({"last_name": "a\x00"}, "lastName"),
    ],
)
def test_update_profile_validates(
    repos: Repositories, new_user: NewUser, changes: dict[str, str], field: str
) -> None:
    user = new_user()
    with pytest.raises(ValidationError) as caught:
        repos.users.update(user.id, **changes)
    assert caught.value.errors[0].field == field
    assert repos.users.find_by_id(user.id) == user


def test_update_of_a_missing_user_is_not_found(repos: Repositories) -> None:
    with pytest.raises(NotFound):
        repos.users.update(new_id(), first_name="x")
    with pytest.raises(NotFound):
        repos.users.update(new_id())


def test_roles_are_added_and_removed_atomically(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    assert repos.users.add_role(user.id, UserRole.ADMIN).roles == [UserRole.ADMIN, UserRole.USER]
    assert repos.users.add_role(user.id, UserRole.ADMIN).roles == [UserRole.ADMIN, UserRole.USER]
    assert repos.users.remove_role(user.id, UserRole.ADMIN).roles == [UserRole.USER]
    assert repos.users.remove_role(user.id, UserRole.ADMIN).roles == [UserRole.USER]
    with pytest.raises(ValidationError):
        repos.users.remove_role(user.id, UserRole.USER)
    with pytest.raises(NotFound):
        repos.users.add_role(new_id(), UserRole.ADMIN)


def test_find_all_pages_newest_first(repos: Repositories, new_user: NewUser) -> None:
    created = [new_user() for _ in range(5)]
    expected = [u.id for u in sorted(created, key=lambda u: (u.created_at, u.id), reverse=True)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = repos.users.find_all(limit=2, cursor=cursor)
        pages += 1
        seen += [u.id for u in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


@pytest.mark.parametrize("limit", [0, 101, -1, True, 2.5, "10"])
def test_find_all_limit_outside_1_to_100_is_a_validation_error(repos: Repositories, limit: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        repos.users.find_all(limit=limit)
    assert caught.value.errors[0].field == "limit"


def test_find_all_refuses_a_cursor_of_another_list(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    for i in range(3):
        repos.users.change_coins(user.id, 1, reason=LedgerReason.ADMIN_GRANT, once=OnceKey(f"k{i}"))
    ledger_cursor = repos.ledger.find_by_user_id(user.id, limit=1).next_cursor
    assert ledger_cursor is not None
    with pytest.raises(InvalidCursor):
        repos.users.find_all(cursor=ledger_cursor)
    with pytest.raises(InvalidCursor):
        repos.users.find_all(cursor="not-a-cursor")


# ---- coins ------------------------------------------------------------------------------------


def test_deduct_and_add_write_exact_entries(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(100)
    debit = repos.users.change_coins(
        user.id, -30, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey("d1"), note="  too many  "
    )
    credit = repos.users.change_coins(user.id, 5, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("c1"))

    assert debit.applied and credit.applied
    assert (debit.user.coins, debit.entry.amount, debit.entry.balance_after, debit.entry.note) == (
        70,
        -30,
        70,
        "too many",
    )
    assert (credit.user.coins, credit.entry.amount, credit.entry.balance_after, credit.entry.seq) == (
        75,
        5,
        75,
        3,
    )
    assert repos.users.find_by_id(user.id).coins == 75  # type: ignore[union-attr]
    assert set(debit.entry.to_json()) == {
        "id",
        "userId",
        "amount",
        "balanceAfter",
        "reason",
        "imageId",
        "note",
        "createdAt",
        "purchaseId",
    }


def test_insufficient_coins_takes_nothing(repos: Repositories, new_user: NewUser) -> None:
    user = new_user(10)
    with pytest.raises(InsufficientCoins) as caught:
        repos.users.change_coins(user.id, -11, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey("too-much"))
    assert (caught.value.required, caught.value.available) == (11, 10)
    assert repos.users.find_by_id(user.id).coins == 10  # type: ignore[union-attr]
    assert len(repos.ledger.all_for_user(user.id)) == 1
    # The key was not burnt: the same key may be used once the balance allows it.
    repos.users.change_coins(user.id, 1, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("top-up"))
    assert repos.users.change_coins(
        user.id, -11, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey("too-much")
    ).applied


@pytest.mark.parametrize("amount", [0, True, 1.5, "3"])
def test_a_coin_change_is_a_non_zero_integer(repos: Repositories, new_user: NewUser, amount: Any) -> None:
    user = new_user()
    with pytest.raises(ValueError):
        repos.users.change_coins(user.id, amount, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("k"))
    assert repos.ledger.all_for_user(user.id)[1:] == []


@pytest.mark.parametrize("key", ["", "x" * 1025])
def test_an_idempotency_key_fits_a_sort_key(repos: Repositories, new_user: NewUser, key: str) -> None:
    user = new_user()
    with pytest.raises(ValueError):
        repos.users.change_coins(user.id, 1, reason=LedgerReason.ADMIN_GRANT, once=OnceKey(key))
    final = repos.users.find_by_id(user.id)
    assert final is not None and sum(e.amount for e in repos.ledger.all_for_user(user.id)) == final.coins


def test_a_key_used_by_a_free_image_reports_that_image_and_moves_no_coins(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user(0)
    image = Image(
        id=new_id(),
        user_id=user.id,
        type=ImageType.UPLOADED,
        title="t",
        storage_key=f"images/{user.id}/1-a.png",
        storage_url="http://x/a.png",
    )
    repos.images.create(image, once=OnceKey("upload:1", "h"))
    replay = repos.users.change_coins(user.id, 5, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("upload:1"))
    assert not replay.applied and replay.entry is None
    assert replay.operation is not None and replay.operation.image_id == image.id
    assert repos.users.find_by_id(user.id).coins == 0  # type: ignore[union-attr]


# ---- the caller behind a session (authentication's one read) ------------------------------------


def test_find_caller_reads_profile_stats_and_the_named_image(repos: Repositories, new_user: NewUser) -> None:
    owner, other = new_user(), new_user()
    [image] = _seed_images(repos, owner, 1)

    caller = repos.users.find_caller(owner.id, image_id=image.id)
    assert caller is not None and caller.user.id == owner.id and caller.user.coins == owner.coins
    assert caller.image is not None and caller.image.image_id == image.id
    assert caller.image.image is not None and caller.image.image.title == "image 0"
    assert caller.revoked_sessions == frozenset()
    assert caller.stats == repos.users.get_stats(owner.id)
    # Someone else's image is read too: whether the caller may see it is the route's business.
    foreign = repos.users.find_caller(other.id, image_id=image.id)
    assert foreign is not None and foreign.image is not None and foreign.image.image is not None
    assert foreign.image.image.user_id == owner.id
    missing_id = new_id()
    missing = repos.users.find_caller(owner.id, image_id=missing_id)
    assert missing is not None and missing.user.id == owner.id
    assert missing.image is not None and (missing.image.image_id, missing.image.image) == (missing_id, None)
    assert repos.users.find_caller(owner.id).image is None  # type: ignore[union-attr]
    assert repos.users.find_caller(new_id(), image_id=image.id) is None
    assert repos.users.find_caller("") is None


def test_a_revoked_session_is_on_the_profile_until_it_expires(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    now = 1_800_000_000
    repos.users.revoke_session(user.id, "jti-old", now + 10, now=now)
    repos.users.revoke_session(user.id, "jti-a", now + 3600, now=now)
    repos.users.revoke_session(user.id, "jti-a", now + 3600, now=now)  # idempotent
    caller = repos.users.find_caller(user.id)
    assert caller is not None and caller.revoked_sessions == {"jti-old", "jti-a"}

    # The next sign-out forgets what has expired by then; the profile and its balance are untouched.
    repos.users.revoke_session(user.id, "jti-b", now + 7200, now=now + 60)
    caller = repos.users.find_caller(user.id)
    assert caller is not None and caller.revoked_sessions == {"jti-a", "jti-b"}
    assert caller.user.coins == user.coins and caller.user.roles == user.roles


def test_concurrent_sign_outs_of_one_user_are_all_kept(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    now = 1_800_000_000
    _parallel(8, lambda i: repos.users.revoke_session(user.id, f"jti-{i}", now + 3600, now=now))
    caller = repos.users.find_caller(user.id)
    assert caller is not None and caller.revoked_sessions == {f"jti-{i}" for i in range(8)}


def test_signing_out_of_a_deleted_account_is_a_no_op(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user()
    assert repos.users.delete(user.id)
    repos.users.revoke_session(user.id, "jti", 1_800_000_000, now=1_700_000_000)
    assert _items_of(table_items(), user.id) == []
    assert repos.users.find_caller(user.id) is None


# ---- cascade delete ---------------------------------------------------------------------------


def _seed_images(repos: Repositories, user: User, count: int) -> list[Image]:
    """Bulk-load images with batch writes. The profile's counters stay as they were, so the cascade
    finds no image left once the index shows none (counters below 0 are then harmless)."""
    images = [
        Image(
            id=new_id(),
            user_id=user.id,
            type=ImageType.GENERATED if i % 2 else ImageType.UPLOADED,
            title=f"image {i}",
            prompt="a prompt",
            storage_key=f"images/{user.id}/{i}-image.png",
            storage_url=f"http://example.com/{i}.png",
            created_at=f"2024-01-01T00:00:{i % 60:02d}.{i:03d}Z",
        )
        for i in range(count)
    ]
    m = repos.models
    items = [m.image.from_image(image) for image in images] + [m.alias.for_image(image) for image in images]
    with m.item.batch_write() as batch:
        for item in items:
            batch.save(item)
    return images


def test_cascade_delete_of_a_large_user_leaves_nothing(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    user = new_user(1000)
    other = new_user(100)
    # Coin changes first: moto copies every table for each transaction, which is slow once it is big.
    for i in range(30):
        repos.users.change_coins(user.id, -1, reason=LedgerReason.ADMIN_DEBIT, once=OnceKey(f"d{i}"))
    other_before = _items_of(table_items(), other.id)
    _seed_images(repos, user, 450)

    assert repos.users.delete(user.id) is True

    remaining = table_items()
    assert _items_of(remaining, user.id) == []
    assert not [i for i in remaining if i["pk"] in (f"EMAIL#{user.email}", f"GOOGLE#{user.google_id}")]
    assert _items_of(remaining, other.id) == other_before
    assert repos.users.find_by_id(user.id) is None
    assert repos.users.delete(user.id) is True


def test_cascade_is_resumable(repos: Repositories, new_user: NewUser, table_items: Scan) -> None:
    user = new_user(100)
    images = _seed_images(repos, user, 120)

    assert repos.users.delete(user.id, max_items=50) is False
    # From the first call on, the account is gone for readers and writers.
    assert repos.users.find_by_id(user.id) is None
    assert repos.users.find_by_email(user.email) is None
    with pytest.raises(NotFound):
        repos.users.change_coins(user.id, 1, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("late"))
    late = Image(
        id=new_id(),
        user_id=user.id,
        type=ImageType.UPLOADED,
        title="late",
        storage_key=f"images/{user.id}/late.png",
        storage_url="http://x/late.png",
    )
    with pytest.raises(NotFound):
        repos.images.create(late)
    assert _items_of(table_items(), user.id)  # some items still there

    calls = 1
    while not repos.users.delete(user.id, max_items=50):
        calls += 1
        assert calls < 20
    assert calls >= 3
    assert _items_of(table_items(), user.id) == []
    assert repos.images.find_by_storage_key(images[0].storage_key) is None


def test_cascade_deletes_an_image_the_index_does_not_show_yet(
    repos: Repositories, new_user: NewUser, table_items: Scan
) -> None:
    """gsi1 is eventually consistent: an image written just before the ``deleting`` mark may be missing
    from the cascade's first read of it. The profile's ``total_images`` (base table, consistent) says
    an image is left, so the cascade reads the index again instead of reporting done."""
    import boto3

    user = new_user(100)
    listed = [
        Image(
            id=new_id(),
            user_id=user.id,
            type=ImageType.UPLOADED,
            title=f"listed {i}",
            storage_key=f"images/{user.id}/listed-{i}.png",
            storage_url=f"http://x/listed-{i}.png",
        )
        for i in range(3)
    ]
    for image in listed:
        assert repos.images.create(image).created
    late = Image(
        id=new_id(),
        user_id=user.id,
        type=ImageType.UPLOADED,
        title="late",
        storage_key=f"images/{user.id}/late.png",
        storage_url="http://x/late.png",
    )
    assert repos.images.create(late).created  # counted on the profile in the same transaction
    direct = boto3.client("dynamodb")
    table = repos.models.table_name
    key = {"pk": {"S": f"IMAGE#{late.id}"}, "sk": {"S": "IMAGE"}}
    hidden = direct.get_item(TableName=table, Key=key)["Item"]
    direct.update_item(TableName=table, Key=key, UpdateExpression="REMOVE gsi1pk, gsi1sk")
    reads: list[str] = []

    def index_catches_up(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") != "gsi1":
            return
        reads.append("gsi1")
        if len(reads) == 2:  # the first read missed the image; the index has it from the second on
            direct.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET gsi1pk = :p, gsi1sk = :s",
                ExpressionAttributeValues={":p": hidden["gsi1pk"], ":s": hidden["gsi1sk"]},
            )

    client = repos.models.connection.client
    event = "before-parameter-build.dynamodb.Query"
    client.meta.events.register(event, index_catches_up, unique_id="gsi-lag")
    try:
        done = repos.users.delete(user.id)
        while not done:  # a caller resumes until done (here at most once more)
            done = repos.users.delete(user.id)
    finally:
        client.meta.events.unregister(event, unique_id="gsi-lag")
    assert len(reads) >= 2
    assert repos.images.find_by_id(late.id) is None
    assert repos.images.find_by_storage_key(late.storage_key) is None
    assert all(repos.images.find_by_id(image.id) is None for image in listed)
    assert _items_of(table_items(), user.id) == []


def test_a_profile_being_deleted_is_listed_until_the_cascade_finishes(
    repos: Repositories, new_user: NewUser
) -> None:
    user, other = new_user(100), new_user(100)
    _seed_images(repos, user, 30)
    assert repos.users.find_deleting("9999") == []
    assert repos.users.delete(user.id, max_items=10) is False
    assert repos.users.find_deleting("9999") == [user.id]
    assert repos.users.find_deleting("2000-01-01T00:00:00.000Z") == []  # only those marked before
    assert repos.users.find_by_id(other.id) is not None
    while not repos.users.delete(user.id, max_items=10):
        pass
    assert repos.users.find_deleting("9999") == []


def test_email_can_sign_up_again_after_the_account_is_deleted_without_a_second_bonus(
    repos: Repositories, table_items: Scan
) -> None:
    profile = GoogleProfile(google_id="g-1", email="ada@example.com")
    first, _ = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    assert repos.users.delete(first.id)
    # What survives the erasure is one tombstone: a hash of the Google sub, no id, sub or email.
    (tombstone,) = table_items()
    assert tombstone["pk"].startswith("SIGNUP#") and tombstone["entity"] == "SIGNUP"
    assert not {"g-1", "ada@example.com", first.id} & {str(v) for v in tombstone.values()}
    assert "g-1" not in repr(tombstone) and "ada@" not in repr(tombstone)
    second, created = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    assert created and second.id != first.id and second.coins == 0
    assert repos.ledger.all_for_user(second.id) == []
    assert (
        repos.users.change_coins(second.id, 5, reason=LedgerReason.ADMIN_GRANT, once=OnceKey("g")).entry.seq
        == 1
    )  # type: ignore[union-attr]
    # Another Google account with the same email is a new account: it gets its bonus.
    assert repos.users.delete(second.id)
    other, _ = repos.users.find_or_create_by_google(
        GoogleProfile(google_id="g-2", email="ada@example.com"), signup_bonus=100, admin=False
    )
    assert other.coins == 100


def test_concurrent_sign_ins_of_a_returning_google_account_make_one_user_without_bonus(
    repos: Repositories, table_items: Scan
) -> None:
    profile = GoogleProfile(google_id="g-1", email="ada@example.com")
    first, _ = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    assert repos.users.delete(first.id)
    results = _parallel(
        8, lambda _: repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({user.id for user, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert {user.coins for user, _ in results} == {0}
    assert not [i for i in table_items() if i.get("entity") == "LEDGER"]


def test_sign_in_while_the_account_is_being_deleted_asks_to_retry(repos: Repositories) -> None:
    profile = GoogleProfile(google_id="g-1", email="ada@example.com")
    user, _ = repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)
    m = repos.models
    m.user.get(f"USER#{user.id}", "PROFILE").update(actions=[m.user.deleting.set("now")])
    with pytest.raises(ServiceUnavailable):
        repos.users.find_or_create_by_google(profile, signup_bonus=100, admin=False)


def test_deleting_a_missing_user_is_done(repos: Repositories) -> None:
    assert repos.users.delete(new_id()) is True
    with pytest.raises(ValueError):
        repos.users.delete(new_id(), max_items=0)


def test_a_missing_table_is_an_internal_error_without_aws_text(aws_env: str) -> None:
    from imagegen.errors import DomainError
    from imagegen.persistence import build_repositories

    repos = build_repositories(f"missing-{new_id()}", b"0123456789abcdef0123456789abcdef")
    with pytest.raises(DomainError) as caught:
        repos.users.find_by_id(new_id())
    assert caught.value.status == 500
    assert "ResourceNotFound" not in caught.value.detail and "missing-" not in caught.value.detail
