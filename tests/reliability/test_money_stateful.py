"""Money under random interleavings: a Hypothesis state machine driving the real handlers.

Rules: generate (or a prompt the provider refuses for good), replay a generate with its
Idempotency-Key, upload (a real PNG, a text file, or nothing at all), a coin_ledger refund command,
admin grant, admin debit (refused with 402 when it would overdraw), buy a coin pack on the Stripe
stand-in (its webhook delivered twice), refund a bought pack (a purchase_reversal, which may take the
balance below zero: spending is then refused), delete an image, delete an account, deliver every
queued message, run the sweeper past the stuck threshold.

After every step, for every live user: balance == sum(ledger), >= 0 unless a purchase_reversal took it
lower, purchases credited and reversed at most once, balanceAfter is an unbroken
running balance, totalCoinsUsed == image charges net of refunds as the ledger shows them, the stats
count the user's existing images, and the balance equals a model kept by the machine (bonus + grants
- debits + packs bought - packs refunded - every charge + the refund of every image that FAILED).
Each example ends by settling the pipeline and auditing the end state (every image final, refunds
exactly once, no orphan objects).

Bounded by the ``reliability-ci`` Hypothesis profile (see conftest); ``RELIABILITY_PROFILE`` picks
another one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import boto3
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.api.conftest import Env
from tests.reliability.conftest import audit_end_state, check_books, png, scan, settle
from tests.stripe_support import Shop, shop

__all__ = ["shop"]

GENERATION_COST = 30
UPLOAD_COST = 10
PACK_COINS = 500  # the default "small" pack
MAX_USERS = 3
PICK = st.integers(min_value=0, max_value=1_000)


@dataclass
class Person:
    id: str
    token: str
    admin: bool
    funded: int  # signup bonus + grants - debits
    charged: dict[str, int] = field(default_factory=dict)  # every image created: id -> coins
    bought: dict[str, bool] = field(default_factory=dict)  # packs paid: purchase id -> refunded
    deleted: dict[str, str] = field(default_factory=dict)  # deleted images: id -> status then

    def live_images(self) -> list[str]:
        return [i for i in self.charged if i not in self.deleted]


@dataclass
class Replay:
    person: Person
    key: str
    body: dict[str, Any]
    first: Any


class MoneyMachine(RuleBasedStateMachine):
    env: ClassVar[Env]
    shop: ClassVar[Shop]
    examples: ClassVar[int] = 0
    steps: ClassVar[int] = 0
    step_counts: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        self.app = self.env
        self.people: list[Person] = []
        self.replays: list[Replay] = []
        self.serial = 0
        admin, token = self.app.user(coins=0, admin=True)
        self.admin = Person(admin.id, token, True, 0)
        self.people.append(self.admin)

    # ---- helpers --------------------------------------------------------------------------------
    def _count(self, name: str) -> None:
        type(self).steps += 1
        type(self).step_counts[name] = type(self).step_counts.get(name, 0) + 1

    def _users(self) -> list[Person]:
        return [p for p in self.people if not p.admin]

    def _pick(self, index: int, people: list[Person] | None = None) -> Person:
        pool = people if people is not None else self.people
        return pool[index % len(pool)]

    def _coins(self, person: Person) -> int:
        coins: int = self.app.api.call("GET", "/me", token=person.token).json["coins"]
        return coins

    def _with_images(self) -> list[Person]:
        return [p for p in self.people if p.live_images()]

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    # ---- rules ----------------------------------------------------------------------------------
    @initialize(bonuses=st.lists(st.sampled_from([0, 30, 100, 250]), min_size=1, max_size=2))
    def add_first_users(self, bonuses: list[int]) -> None:
        for bonus in bonuses:
            self._add(bonus)

    def _add(self, bonus: int) -> None:
        user, token = self.app.user(coins=bonus)
        self.people.append(Person(user.id, token, False, bonus))

    @precondition(lambda self: len(self._users()) < MAX_USERS)
    @rule(bonus=st.sampled_from([0, 30, 100, 250]))
    def add_user(self, bonus: int) -> None:
        self._count("add_user")
        self._add(bonus)

    @rule(who=PICK, keyed=st.booleans())
    def generate(self, who: int, keyed: bool) -> None:
        self._count("generate")
        self._generate(who, keyed, fails=False)

    @rule(who=PICK, keyed=st.booleans())
    def generate_doomed(self, who: int, keyed: bool) -> None:
        """The provider refuses the prompt for good: FAILED with one refund once delivered."""
        self._count("generate_doomed")
        self._generate(who, keyed, fails=True)

    def _generate(self, who: int, keyed: bool, *, fails: bool) -> None:
        person = self._pick(who)
        before = self._coins(person)
        prompt = f"step {self._next()}" + (" [[fail:permanent]]" if fails else "")
        body = {"prompt": prompt, "width": 256, "height": 256}
        headers = {"Idempotency-Key": f"gen-{self.serial}"} if keyed else {}
        reply = self.app.api.call("POST", "/images/generate", token=person.token, body=body, headers=headers)
        if before < GENERATION_COST:
            reply.problem(402, "insufficient_coins")
            assert self._coins(person) == before
            return
        assert reply.status == 202, reply.raw
        image = reply.json
        assert (image["status"], image["coinsUsed"]) == ("PENDING", GENERATION_COST)
        assert self._coins(person) == before - GENERATION_COST
        person.charged[image["id"]] = GENERATION_COST
        if keyed:
            self.replays.append(Replay(person, headers["Idempotency-Key"], body, image))

    @precondition(lambda self: bool(self.replays))
    @rule(which=PICK)
    def replay_generate(self, which: int) -> None:
        self._count("replay_generate")
        replay = self.replays[which % len(self.replays)]
        before = self._coins(replay.person)
        reply = self.app.api.call(
            "POST",
            "/images/generate",
            token=replay.person.token,
            body=replay.body,
            headers={"Idempotency-Key": replay.key},
        )
        assert reply.status == 202, reply.raw
        assert reply.json == replay.first
        assert self._coins(replay.person) == before

    @rule(who=PICK)
    def upload_image(self, who: int) -> None:
        self._count("upload_image")
        self._upload(who, "png")

    @rule(who=PICK, content=st.sampled_from(["text", "nothing"]))
    def upload_junk(self, who: int, content: str) -> None:
        """Not an image (FAILED not_an_image, refunded), or never posted (refunded by the sweeper)."""
        self._count(f"upload_{content}")
        self._upload(who, content)

    def _upload(self, who: int, content: str) -> None:
        person = self._pick(who)
        before = self._coins(person)
        reply = self.app.api.call(
            "POST",
            "/images/uploads",
            token=person.token,
            body={"filename": f"up-{self._next()}.png", "contentType": "image/png", "size": 2000},
        )
        if before < UPLOAD_COST:
            reply.problem(402, "insufficient_coins")
            return
        assert reply.status == 201, reply.raw
        image = reply.json["image"]
        person.charged[image["id"]] = UPLOAD_COST
        assert self._coins(person) == before - UPLOAD_COST
        if content != "nothing":
            data = png(96, 64) if content == "png" else b"<html><script>alert(1)</script></html>"
            boto3.client("s3").put_object(
                Bucket=self.app.bucket, Key=image["storageKey"], Body=data, ContentType="image/png"
            )

    @precondition(lambda self: bool(self._with_images()))
    @rule(who=PICK, which=PICK)
    def refund_command(self, who: int, which: int) -> None:
        self._count("refund_command")
        person = self._pick(who, self._with_images())
        images = person.live_images()
        image_id = images[which % len(images)]
        command = {
            "kind": "ledger_command",
            "command": "refund_image",
            "key": f"refund:{image_id}",
            "image_id": image_id,
            "reason": "support_refund",
        }
        boto3.client("sqs").send_message(QueueUrl=self.app.queues.ledger, MessageBody=json.dumps(command))

    @rule(who=PICK, amount=st.integers(min_value=1, max_value=120))
    def admin_grant(self, who: int, amount: int) -> None:
        self._count("admin_grant")
        person = self._pick(who)
        before = self._coins(person)
        reply = self.app.api.call(
            "POST",
            f"/admin/users/{person.id}/coins",
            token=self.admin.token,
            body={"amount": amount, "reason": "goodwill"},
        )
        assert reply.status == 200, reply.raw
        entry = reply.json["entry"]
        assert (entry["amount"], entry["reason"], entry["balanceAfter"]) == (
            amount,
            "admin_grant",
            before + amount,
        )
        person.funded += amount

    @rule(who=PICK, amount=st.integers(min_value=1, max_value=150))
    def admin_debit(self, who: int, amount: int) -> None:
        self._count("admin_debit")
        person = self._pick(who)
        before = self._coins(person)
        reply = self.app.api.call(
            "POST",
            f"/admin/users/{person.id}/coins",
            token=self.admin.token,
            body={"amount": -amount, "reason": "chargeback"},
        )
        if before < amount:
            body = reply.problem(402, "insufficient_coins")
            assert body["available"] == before
            assert self._coins(person) == before
            return
        assert reply.status == 200, reply.raw
        assert reply.json["entry"]["balanceAfter"] == before - amount
        person.funded -= amount

    @rule(who=PICK, then=st.sampled_from(["keep", "keep", "keep", "refund", "dispute"]))
    def buy_pack(self, who: int, then: str) -> None:
        """Checkout and pay on the stand-in: the webhook arrives twice, the pack is credited once;
        sometimes it is refunded or disputed at once (``reverse_pack`` reverses one later, spent or not)."""
        self._count("buy_pack")
        person = self._pick(who)
        before = self._coins(person)
        reply = self.shop.buy(person.token, "small")
        assert reply.status == 201, reply.raw
        assert self.shop.pay(reply.json["checkoutUrl"]) == 303
        purchase = self.app.api.call(
            "GET", f"/me/purchases/{reply.json['purchase']['id']}", token=person.token
        )
        assert purchase.json["status"] == "PAID", purchase.raw
        assert self._coins(person) == before + PACK_COINS
        person.bought[purchase.json["id"]] = False
        person.funded += PACK_COINS
        if then != "keep":
            self._reverse(person, purchase.json["id"], then)

    @precondition(lambda self: any(p.bought for p in self.people))
    @rule(who=PICK, which=PICK, kind=st.sampled_from(["refund", "dispute"]))
    def reverse_pack(self, who: int, which: int, kind: str) -> None:
        """A refund or dispute takes the pack back once, spent or not (the balance may go below zero)."""
        self._count("reverse_pack")
        person = self._pick(who, [p for p in self.people if p.bought])
        self._reverse(person, sorted(person.bought)[which % len(person.bought)], kind)

    def _reverse(self, person: Person, purchase_id: str, kind: str) -> None:
        self._count(f"reversal_{kind}")
        before = self._coins(person)
        assert self.shop.reverse(purchase_id, kind) == 200
        status = self.app.api.call("GET", f"/me/purchases/{purchase_id}", token=person.token).json["status"]
        assert status == "REVERSED"
        if person.bought[purchase_id]:
            assert self._coins(person) == before  # reversed once already
        else:
            assert self._coins(person) == before - PACK_COINS
            person.bought[purchase_id] = True
            person.funded -= PACK_COINS

    @precondition(lambda self: bool(self._with_images()))
    @rule(who=PICK, which=PICK)
    def delete_image(self, who: int, which: int) -> None:
        self._count("delete_image")
        person = self._pick(who, self._with_images())
        images = person.live_images()
        image_id = images[which % len(images)]
        current = self.app.api.call("GET", f"/images/{image_id}", token=person.token)
        assert current.status == 200, current.raw
        assert self.app.api.call("DELETE", f"/images/{image_id}", token=person.token).status == 204
        person.deleted[image_id] = current.json["status"]
        self.app.api.call("GET", f"/images/{image_id}", token=person.token).problem(404, "not_found")
        assert self.app.objects(current.json["storageKey"]) == []
        if current.json["thumbnailKey"]:
            assert self.app.objects(current.json["thumbnailKey"]) == []

    @precondition(lambda self: bool(self._users()))
    @rule(who=PICK)
    def delete_account(self, who: int) -> None:
        self._count("delete_account")
        person = self._pick(who, self._users())
        assert self.app.api.call("DELETE", "/me", token=person.token).status in (202, 204)
        self.app.pipeline.drain()  # a 202 hands the rest of the purge to the ledger queue
        self.people.remove(person)
        self.replays = [r for r in self.replays if r.person is not person]
        self.app.api.call("GET", "/me", token=person.token).problem(401, "unauthorized")
        self.app.api.call("GET", f"/admin/users/{person.id}", token=self.admin.token).problem(
            404, "not_found"
        )
        assert self.app.objects(f"images/{person.id}/") == []
        assert self.app.objects(f"thumbnails/{person.id}/") == []
        left = [
            i
            for i in scan(self.app.table)
            if person.id in (i.get("user_id"), i.get("id")) or str(i["pk"]).startswith(f"USER#{person.id}")
        ]
        assert left == [], left

    @rule(then_sweep=st.sampled_from([False, False, False, True]))
    def deliver(self, then_sweep: bool) -> None:
        """Lambda's event source mappings catch up; sometimes the scheduled sweeper runs after the
        stuck-image threshold (failing and refunding whatever is still PENDING or PROCESSING)."""
        from datetime import UTC, datetime, timedelta

        from imagegen.bootstrap import sweeper

        self._count("sweep" if then_sweep else "drain")
        self.app.pipeline.drain()
        if then_sweep:
            sweeper(self.app.ctx).run(now=datetime.now(UTC) + timedelta(hours=2))

    # ---- invariants -----------------------------------------------------------------------------
    @invariant()
    def books_balance(self) -> None:
        for person in self.people:
            books = check_books(self.app, person.token)
            existing = {i["id"]: i["status"] for i in books.images}
            assert set(existing) == set(person.live_images()), (existing, person)
            assert set(books.charged) <= set(person.charged), "a charge the machine never made"
            statuses = {**person.deleted, **existing}
            refunds = sum(c for i, c in person.charged.items() if statuses[i] == "FAILED")
            expected = person.funded - sum(person.charged.values()) + refunds
            assert books.coins == expected, (books.coins, expected, person, books.ledger)

    def teardown(self) -> None:
        settle(self.app)
        for person in self.people:
            check_books(self.app, person.token)
        deleted = {i for p in self.people for i in p.deleted}
        audit_end_state(self.app, user_ids={p.id for p in self.people}, deleted=deleted)


def test_money_invariants_hold_under_random_interleavings(app: Env, configure: Any, shop: Shop) -> None:
    configure(
        GENERATION_COST=str(GENERATION_COST),
        UPLOAD_COST=str(UPLOAD_COST),
        RATE_LIMIT_GENERATE_PER_MINUTE="100000",
    )
    MoneyMachine.env = app
    MoneyMachine.shop = shop
    MoneyMachine.examples, MoneyMachine.steps, MoneyMachine.step_counts = 0, 0, {}
    profile = settings.get_profile(os.environ.get("RELIABILITY_PROFILE", "reliability-ci"))
    started = time.perf_counter()
    run_state_machine_as_test(MoneyMachine, settings=profile)
    elapsed = time.perf_counter() - started
    print(
        f"\nstateful money: {MoneyMachine.examples} examples, {MoneyMachine.steps} steps in {elapsed:.1f} s;"
        f" by rule: {dict(sorted(MoneyMachine.step_counts.items()))}"
    )
    assert MoneyMachine.steps > 0
