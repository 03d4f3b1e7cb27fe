"""The per-request cost table: what one request or event costs in AWS calls, DynamoDB units, index
partition writes, Lambda time and provider calls. The capacity model (``bench/capacity.py``) multiplies
it by a traffic mix; ``tests/perf/test_request_cost.py`` asserts each entry's ``calls`` (and transaction
sizes) against the calls the code really makes, so the table cannot drift from the code.

Units follow ``docs/performance.md`` section 2 (item sizes measured on the emulator: an image is
0.93-1.1 KB when created, 1.5-1.8 KB once completed; a consistent read is 1 RRU per 4 KB, a GSI query
0.5 RRU per 4 KB; a write 1 WRU per KB, 2 per KB in a transaction; an index write per index the item is
in, two when its index key moves). ``index_wru`` names the index partition classes the capacity model
knows: ``gsi4`` (the all-images list), ``gsi3:{STATUS}`` (one status), ``gsi1:USERS`` (every profile),
``user`` (a user's own partitions: gsi1/gsi2 of their images, spread over users).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

AUTH = {"dynamodb.GetItem": 1}  # the caller's profile (roles, stats and signed-out sessions)


def plus(*parts: Mapping[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    return total


@dataclass(frozen=True)
class Cost:
    function: str
    duration_ms: float
    calls: Mapping[str, int]
    transaction_items: tuple[int, ...] = ()
    rru: float = 0.0
    wru: float = 0.0
    index_wru: Mapping[str, float] = field(default_factory=dict)
    index_rru: Mapping[str, float] = field(default_factory=dict)
    bedrock_calls: int = 0

    @property
    def index_wru_total(self) -> float:
        return sum(self.index_wru.values())


# An image write of 2 WRU in each index it is in (over 1 KB), status moves a delete and a put in gsi3.
_CREATE_GENERATED = {"user": 4.0, "gsi3:PENDING": 2.0, "gsi4": 2.0, "gsi1:USERS": 1.0}
_CREATE_UPLOADED = {"user": 2.0, "gsi3:PENDING": 1.0, "gsi4": 1.0, "gsi1:USERS": 1.0}  # under 1 KB

COSTS: dict[str, Cost] = {
    "GET /me": Cost("users", 40, AUTH, rru=1),
    "GET /images": Cost("images", 60, plus(AUTH, {"dynamodb.Query": 1}), rru=5.5),
    # Authentication included: one BatchGetItem of the profile and the image.
    "GET /images/{id}": Cost("images", 40, {"dynamodb.BatchGetItem": 1}, rru=2),
    # Second in its rate-limit minute; the first adds the PutItem that opens the window.
    "POST /images/generate": Cost(
        "images",
        90,
        plus(
            AUTH,
            {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1},
            {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1},
        ),
        transaction_items=(4,),
        rru=2,
        wru=20,
        index_wru=_CREATE_GENERATED,
    ),
    "POST /images/generate (first in its minute)": Cost(
        "images",
        95,
        plus(
            AUTH,
            {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1, "dynamodb.PutItem": 1},
            {"dynamodb.TransactWriteItems": 1, "sqs.SendMessage": 1},
        ),
        transaction_items=(4,),
        rru=2,
        wru=21,
        index_wru=_CREATE_GENERATED,
    ),
    "POST /images/uploads": Cost(
        "images",
        70,
        plus(
            AUTH,
            {"dynamodb.UpdateItem": 1, "dynamodb.Query": 1},
            {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1},
        ),
        transaction_items=(3,),
        rru=2.5,
        wru=11,
        index_wru=_CREATE_UPLOADED,
    ),
    "GET /admin/images": Cost(
        "admin",
        150,
        plus(AUTH, {"dynamodb.Query": 17}),  # 16 shards + the unsharded partition until backfilled
        rru=9.5,
        index_rru={"gsi4": 0.5},
    ),
    "generator event": Cost(
        "generator",
        6200,  # waiting on Bedrock (Titan Image v2, about 6 s) plus 0.2 s of our own
        {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1, "s3.HeadObject": 1, "s3.PutObject": 1},
        rru=1,
        wru=12,
        index_wru={"user": 4.0, "gsi3:PENDING": 2.0, "gsi3:PROCESSING": 2.0, "gsi4": 2.0},
        bedrock_calls=1,
    ),
    "thumbnailer event (upload)": Cost(
        "thumbnailer",
        400,
        {
            # the alias, the image, then its collection count (an image in collections: + a Query)
            "dynamodb.GetItem": 3,
            "s3.HeadObject": 1,
            "s3.GetObject": 1,
            "s3.PutObject": 2,
            "dynamodb.UpdateItem": 1,
        },
        rru=3,
        wru=12,
        index_wru={"user": 4.0, "gsi3:PENDING": 2.0, "gsi3:COMPLETED": 2.0, "gsi4": 2.0},
    ),
}
# A generation's thumbnailer event: the same calls, its image leaves PROCESSING instead of PENDING.
COSTS["thumbnailer event (generation)"] = replace(
    COSTS["thumbnailer event (upload)"],
    index_wru={"user": 4.0, "gsi3:PROCESSING": 2.0, "gsi3:COMPLETED": 2.0, "gsi4": 2.0},
)
