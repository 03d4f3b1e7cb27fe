"""The write-sharded image indexes on the emulator: gsi4 ``IMAGES#{n}`` and gsi3 ``STATUS#{s}#{n}``.

The admin's lists merge the shards (and the unsharded partitions of images written before them)
newest first, page by page with one cursor that carries every partition's position; the sweeper's
``find_stuck`` merges them oldest first.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from imagegen.errors import InvalidCursor
from imagegen.models import Image, ImageStatus, ImageType, User, new_id
from imagegen.persistence import Repositories
from imagegen.persistence.cursor import MAX_CURSOR_LENGTH
from imagegen.persistence.keys import (
    IMAGE_SHARDS,
    IMAGES_PARTITION,
    image_all_index_pk,
    image_shard,
    image_status_index_pk,
    status_pk,
)
from imagegen.ports import OnceKey

NewUser = Callable[..., User]


def _image(user: User, stamp: str, *, type: ImageType = ImageType.GENERATED) -> Image:
    image_id = new_id()
    return Image(
        id=image_id,
        user_id=user.id,
        type=type,
        status=ImageStatus.PENDING,
        title="A title",
        prompt="a fox" if type is ImageType.GENERATED else None,
        storage_key=f"images/{user.id}/{image_id}.png",
        storage_url=f"http://example.com/{image_id}.png",
        created_at=stamp,
    )


def _seed(repos: Repositories, user: User, count: int, **kwargs: Any) -> list[Image]:
    images = []
    for i in range(count):
        image = _image(user, f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}.000Z", **kwargs)
        created = repos.images.create(image, once=OnceKey(f"server:image:{image.id}")).image
        assert created is not None
        images.append(created)
    return images


def _all(fetch: Callable[[str | None], Any]) -> tuple[list[str], list[int]]:
    ids: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        page = fetch(cursor)
        ids += [i.id for i in page.items]
        sizes.append(len(page.items))
        cursor = page.next_cursor
        if cursor is None:
            return ids, sizes
        assert len(sizes) < 200


def _newest_first(images: list[Image]) -> list[str]:
    return [i.id for i in sorted(images, key=lambda i: (i.created_at, i.id), reverse=True)]


def _to_legacy(table: str, image: Image, status: ImageStatus) -> None:
    """Give an image the index keys of the layout before the shards, as an old release wrote them."""
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": f"IMAGE#{image.id}"}, "sk": {"S": "IMAGE"}},
        UpdateExpression="SET gsi3pk = :s, gsi4pk = :a",
        ExpressionAttributeValues={":s": {"S": status_pk(status)}, ":a": {"S": IMAGES_PARTITION}},
    )


def test_keys_spread_images_over_the_shards_and_never_move_them() -> None:
    ids = [new_id() for _ in range(3200)]
    counts = Counter(image_shard(i) for i in ids)
    assert set(counts) == set(range(IMAGE_SHARDS))
    # 200 a shard expected; a hash that favoured some shards would show here.
    assert max(counts.values()) < 280 and min(counts.values()) > 130
    image_id = ids[0]
    assert image_all_index_pk(image_id) == f"IMAGES#{image_shard(image_id)}"
    assert image_status_index_pk(image_id, ImageStatus.PENDING) == f"STATUS#PENDING#{image_shard(image_id)}"
    assert image_shard(image_id) == image_shard(str(image_id))  # stable: a hash of the id, not hash()


def test_items_carry_the_sharded_keys_and_status_moves_stay_in_the_shard(
    repos: Repositories, new_user: NewUser, table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    user = new_user()
    [image] = _seed(repos, user, 1)
    repos.images.update_status(image.id, ImageStatus.PROCESSING)
    [item] = [i for i in table_items() if i["pk"] == f"IMAGE#{image.id}"]
    shard = image_shard(image.id)
    assert item["gsi4pk"] == f"IMAGES#{shard}"
    assert item["gsi3pk"] == f"STATUS#PROCESSING#{shard}"
    repos.images.fail_and_refund(image.id, "provider_unavailable")
    [item] = [i for i in table_items() if i["pk"] == f"IMAGE#{image.id}"]
    assert item["gsi3pk"] == f"STATUS#FAILED#{shard}"


@pytest.mark.parametrize("limit", [1, 3, 7, 20, 100])
def test_the_admin_list_merges_every_shard_newest_first_without_gaps_or_repeats(
    repos: Repositories, new_user: NewUser, limit: int
) -> None:
    a, b = new_user(), new_user()
    images = _seed(repos, a, 25) + _seed(repos, b, 20, type=ImageType.UPLOADED)
    assert len({image_shard(i.id) for i in images}) >= 10  # the list really spans shards

    ids, sizes = _all(lambda c: repos.images.find_all(limit=limit, cursor=c))

    assert ids == _newest_first(images)
    assert all(size == limit for size in sizes[:-1]) and 0 < sizes[-1] <= limit


def test_filters_by_type_and_status_merge_the_same_way(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    generated = _seed(repos, user, 18)
    uploaded = _seed(repos, user, 12, type=ImageType.UPLOADED)
    processing = generated[::3] + uploaded[::4]
    for image in processing:
        repos.images.update_status(image.id, ImageStatus.PROCESSING)

    by_type, _ = _all(lambda c: repos.images.find_all(limit=4, cursor=c, type=ImageType.UPLOADED))
    by_status, _ = _all(lambda c: repos.images.find_all(limit=4, cursor=c, status=ImageStatus.PROCESSING))
    both, _ = _all(
        lambda c: repos.images.find_all(
            limit=2, cursor=c, status=ImageStatus.PROCESSING, type=ImageType.GENERATED
        )
    )
    pending, _ = _all(lambda c: repos.images.find_all(limit=5, cursor=c, status=ImageStatus.PENDING))

    assert by_type == _newest_first(uploaded)
    assert by_status == _newest_first(processing)
    assert both == _newest_first(generated[::3])
    assert pending == _newest_first([i for i in generated + uploaded if i not in processing])


def test_images_of_the_old_layout_are_listed_until_backfilled(
    repos: Repositories, new_user: NewUser, table: str
) -> None:
    user = new_user()
    images = _seed(repos, user, 12)
    old = images[1::2]
    for image in old:
        _to_legacy(table, image, ImageStatus.PENDING)

    ids, _ = _all(lambda c: repos.images.find_all(limit=5, cursor=c))
    pending, _ = _all(lambda c: repos.images.find_all(limit=5, cursor=c, status=ImageStatus.PENDING))
    stuck = repos.images.find_stuck(ImageStatus.PENDING, "2025-01-01T00:00:00.000Z")

    assert ids == pending == _newest_first(images)
    assert [i.id for i in stuck] == list(reversed(_newest_first(images)))
    # A status move of an old item puts it in its status shard; the list still has it once.
    repos.images.update_status(old[0].id, ImageStatus.PROCESSING)
    assert _all(lambda c: repos.images.find_all(limit=5, cursor=c))[0] == _newest_first(images)
    assert [i.id for i in repos.images.find_all(status=ImageStatus.PROCESSING).items] == [old[0].id]


def test_find_stuck_merges_the_shards_oldest_first_and_pages(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    images = _seed(repos, user, 30)
    for image in images[20:]:
        repos.images.update_status(image.id, ImageStatus.PROCESSING)
    cutoff = "2024-05-01T10:00:25.000Z"
    expected = [i.id for i in images[:20]]

    assert [i.id for i in repos.images.find_stuck(ImageStatus.PENDING, cutoff, limit=100)] == expected
    seen: list[str] = []
    after = None
    while True:
        page = repos.images.find_stuck(ImageStatus.PENDING, cutoff, limit=3, after=after)
        seen += [i.id for i in page]
        if len(page) < 3:
            break
        after = page[-1]
    assert seen == expected
    assert [i.id for i in repos.images.find_stuck(ImageStatus.PROCESSING, cutoff)] == [
        i.id for i in images[20:25]
    ]


# ---- the merged cursor --------------------------------------------------------------------------


def _payload(cursor: str) -> dict[str, Any]:
    body = cursor.split(".", maxsplit=1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def _forge(cursor: str, change: Callable[[dict[str, Any]], None]) -> str:
    _body, mac = cursor.split(".")
    payload = _payload(cursor)
    change(payload)
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


def test_merged_cursors_are_tamper_proof_and_bound_to_their_list(
    repos: Repositories, new_user: NewUser
) -> None:
    user = new_user()
    _seed(repos, user, 20)
    cursor = repos.images.find_all(limit=3).next_cursor
    status_cursor = repos.images.find_all(limit=3, status=ImageStatus.PENDING).next_cursor
    user_cursor = repos.images.find_by_user_id(user.id, limit=1).next_cursor
    assert cursor and status_cursor and user_cursor
    assert set(_payload(cursor)) == {"p"}

    def rewind(payload: dict[str, Any]) -> None:
        payload["p"] = {}

    bad = [
        _forge(cursor, rewind),
        cursor[:-2],
        cursor + "A",
        "garbage",
        ".",
        status_cursor,  # another filter
        user_cursor,  # another list
    ]
    for forged in bad:
        with pytest.raises(InvalidCursor):
            repos.images.find_all(cursor=forged)
    with pytest.raises(InvalidCursor):
        repos.images.find_all(cursor=cursor, type=ImageType.UPLOADED)
    with pytest.raises(InvalidCursor):
        repos.images.find_by_user_id(user.id, cursor=cursor)
    assert len(repos.images.find_all(limit=3, cursor=cursor).items) == 3


def test_a_cursor_in_every_partition_fits_the_length_limit(repos: Repositories, new_user: NewUser) -> None:
    user = new_user()
    _seed(repos, user, 40)
    cursor = repos.images.find_all(limit=20).next_cursor
    assert cursor is not None
    positions = _payload(cursor)["p"]
    assert len(positions) >= IMAGE_SHARDS // 2
    # The worst case: a position in every partition (the shards and the old layout's), each a full key.
    from imagegen.persistence.cursor import CursorCodec
    from imagegen.persistence.keys import images_partitions

    partitions = images_partitions(legacy=True)
    longest = f"2024-05-01T10:00:00.000Z#{new_id()}"
    worst = CursorCodec(b"k" * 32).encode_state("s", {"p": {str(i): longest for i in range(len(partitions))}})
    assert len(worst) < MAX_CURSOR_LENGTH / 2


def test_a_random_mix_pages_exactly(repos: Repositories, new_user: NewUser) -> None:
    rng = random.Random(7)
    user = new_user()
    images = _seed(repos, user, 40)
    for image in rng.sample(images, 15):
        repos.images.update_status(image.id, ImageStatus.PROCESSING)
    for limit in (2, 9):
        ids, _ = _all(lambda c, n=limit: repos.images.find_all(limit=n, cursor=c))
        assert ids == _newest_first(images)
