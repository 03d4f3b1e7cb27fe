"""Live updates on in-memory adapters: who may connect, what each user is told, what the CDN forgets."""

from __future__ import annotations

import pytest
from imagegen.errors import Unauthorized
from imagegen.models import Image, ImageType, LedgerEntry, LedgerReason
from imagegen.ports import Change
from imagegen.services.live import CONNECTION_TTL_SECONDS, LiveService, messages_of, rendition_paths

from tests.memory import MemoryConnections, RecordingCdn, RecordingPusher, Wiring, wire


def _live(
    w: Wiring, *, cdn: RecordingCdn | None = None
) -> tuple[LiveService, MemoryConnections, RecordingPusher]:
    connections, pusher = MemoryConnections(), RecordingPusher()
    service = LiveService(
        accounts=w.accounts(), connections=connections, pusher=pusher, clock=w.clock, cdn=cdn
    )
    return service, connections, pusher


def _token(w: Wiring, user_id: str) -> str:
    user = w.repos.users.find_by_id(user_id)
    assert user is not None
    token, _, _ = w.sessions.issue(user)
    return str(token)


def _image(user_id: str, *, thumbnail_key: str | None = None, status: str = "COMPLETED") -> Image:
    return Image(
        id="img-1",
        user_id=user_id,
        type=ImageType.GENERATED,
        title="a fox",
        prompt="a fox",
        storage_key=f"images/{user_id}/1-a-fox.png",
        storage_url="http://example.com/a.png",
        thumbnail_key=thumbnail_key,
        status=status,  # type: ignore[arg-type]
    )


def _entry(user_id: str, amount: int, balance: int) -> LedgerEntry:
    return LedgerEntry(
        id="e-1",
        user_id=user_id,
        amount=amount,
        balance_after=balance,
        reason=LedgerReason.IMAGE_GENERATION,
        seq=2,
    )


# ---- the socket's routes -----------------------------------------------------------------------------
def test_connect_records_the_socket_until_the_session_or_two_hours_end() -> None:
    w = wire(session_ttl=3 * 60 * 60)
    user = w.user()
    live, connections, _ = _live(w)
    assert live.connect("c-1", _token(w, user.id)) == user.id
    expires = connections.by_user[user.id]["c-1"]
    assert expires == int(w.clock.time()) + CONNECTION_TTL_SECONDS  # the session lasts longer
    short = wire(session_ttl=600)
    other = short.user()
    live, connections, _ = _live(short)
    live.connect("c-2", _token(short, other.id))
    assert connections.by_user[other.id]["c-2"] == int(short.clock.time()) + 600  # not past the token


@pytest.mark.parametrize("token", [None, "", "not-a-token", "a.b.c"])
def test_connect_without_a_valid_token_is_refused_and_records_nothing(token: str | None) -> None:
    w = wire()
    live, connections, _ = _live(w)
    with pytest.raises(Unauthorized):
        live.connect("c-1", token)
    assert connections.by_user == {}


def test_a_signed_out_session_cannot_connect() -> None:
    w = wire()
    user = w.user()
    token = _token(w, user.id)
    w.accounts().logout(w.accounts().authenticate(f"Bearer {token}"))
    live, connections, _ = _live(w)
    with pytest.raises(Unauthorized):
        live.connect("c-1", token)
    assert connections.by_user == {}


def test_disconnect_forgets_the_socket_and_an_unknown_one_is_fine() -> None:
    w = wire()
    user = w.user()
    live, connections, _ = _live(w)
    live.connect("c-1", _token(w, user.id))
    live.disconnect("c-1")
    live.disconnect("c-1")
    live.disconnect("never-seen")
    assert connections.find_by_user(user.id, now=0) == []


# ---- the stream ---------------------------------------------------------------------------------------
def test_each_change_goes_to_its_own_users_sockets_in_order() -> None:
    w = wire()
    ada, bob = w.user(), w.user()
    live, _, pusher = _live(w)
    for connection_id, user in (("ada-1", ada), ("ada-2", ada), ("bob-1", bob)):
        live.connect(connection_id, _token(w, user.id))
    pending, done = (
        _image(ada.id, status="PENDING"),
        _image(ada.id, thumbnail_key="thumbnails/img-1/v1-256.webp"),
    )
    charge = _entry(ada.id, -50, 50)  # once: its createdAt is the clock's
    delivery = live.deliver(
        [Change(ada.id, image=pending), Change(ada.id, entry=charge), Change(ada.id, image=done)]
    )
    expected = [
        {"type": "image.updated", "image": pending.to_json()},
        {"type": "balance.changed", "coins": 50, "entry": charge.to_json()},
        {"type": "image.updated", "image": done.to_json()},
    ]
    assert pusher.sent["ada-1"] == expected and pusher.sent["ada-2"] == expected
    assert "bob-1" not in pusher.sent
    assert (delivery.messages, delivery.sent, delivery.gone, delivery.failed) == (3, 6, 0, 0)


def test_a_gone_socket_is_forgotten_and_a_broken_push_does_not_stop_the_others() -> None:
    w = wire()
    ada = w.user()
    live, connections, pusher = _live(w)
    for connection_id in ("gone", "broken", "fine"):
        live.connect(connection_id, _token(w, ada.id))
    pusher.gone.add("gone")
    pusher.broken.add("broken")
    entry = _entry(ada.id, 10, 110)
    delivery = live.deliver([Change(ada.id, entry=entry)])
    assert pusher.sent == {"fine": messages_of(Change(ada.id, entry=entry))}
    assert (delivery.sent, delivery.gone, delivery.failed) == (1, 1, 1)
    assert sorted(connections.find_by_user(ada.id, now=0)) == ["broken", "fine"]


def test_expired_sockets_are_not_pushed_to() -> None:
    w = wire()
    ada = w.user()
    live, connections, pusher = _live(w)
    connections.add(ada.id, "old", expires_at=int(w.clock.time()) - 1)  # its TTL passed, not yet swept
    live.connect("new", _token(w, ada.id))
    live.deliver([Change(ada.id, entry=_entry(ada.id, 10, 110))])
    assert list(pusher.sent) == ["new"]


def test_deleted_images_are_invalidated_at_the_cdn_once_per_batch_before_any_push() -> None:
    w = wire()
    ada = w.user()
    cdn = RecordingCdn()
    live, _, pusher = _live(w, cdn=cdn)
    live.connect("c", _token(w, ada.id))
    gone = _image(ada.id, thumbnail_key="thumbnails/img-1/v3-256.webp")
    legacy = _image(ada.id, thumbnail_key=f"thumbnails/{ada.id}/17-a-fox-256.webp")
    never_processed = _image(ada.id)
    changes = [Change(ada.id, removed_image=i) for i in (gone, legacy, never_processed, gone)]
    delivery = live.deliver(changes, reference="event-1")
    [(paths, reference)] = cdn.batches
    assert paths == [
        "/thumbnails/img-1/v3-256.webp",
        "/thumbnails/img-1/v3-1024.webp",
        f"/thumbnails/{ada.id}/17-a-fox-256.webp",
        f"/thumbnails/{ada.id}/17-a-fox-1024.webp",
    ]
    assert delivery.invalidated == 4 and pusher.sent == {}  # a deletion is not a message
    # The same batch again (a retry) makes the same caller reference: CloudFront does it once.
    live.deliver(changes, reference="event-1")
    assert cdn.batches[1][1] == reference
    live.deliver(changes, reference="event-2")
    assert cdn.batches[2][1] != reference
    # A CDN failure fails the batch before anything is pushed, so its retry pushes once.
    cdn.fail = True
    with pytest.raises(ConnectionError):
        live.deliver([Change(ada.id, entry=_entry(ada.id, 1, 1)), Change(ada.id, removed_image=gone)])
    assert pusher.sent == {}


def test_without_a_cdn_deletions_are_just_skipped() -> None:
    w = wire()
    live, _, _ = _live(w, cdn=None)
    assert (
        live.deliver([Change("u", removed_image=_image("u", thumbnail_key="t/x/v-256.webp"))]).invalidated
        == 0
    )


def test_rendition_paths_of_odd_keys() -> None:
    assert rendition_paths(_image("u")) == []
    assert rendition_paths(_image("u", thumbnail_key="thumbnails/x/odd.png")) == ["/thumbnails/x/odd.png"]


def test_an_export_is_pushed_as_the_api_renders_it() -> None:
    from imagegen.models import Export, ExportStatus

    w = wire()
    ada = w.user()
    rendered: list[str] = []

    def render(export: Export) -> dict[str, object]:
        rendered.append(export.id)
        return {**export.to_json(), "downloadUrl": f"https://signed.example/{export.id}.zip"}

    connections, pusher = MemoryConnections(), RecordingPusher()
    live = LiveService(
        accounts=w.accounts(), connections=connections, pusher=pusher, clock=w.clock, render_export=render
    )
    live.connect("c", _token(w, ada.id))
    done = Export(
        id="x1",
        user_id=ada.id,
        zip_key=f"exports/{ada.id}/x1.zip",
        expires_at="2099-01-01T00:00:00.000Z",
        status=ExportStatus.COMPLETED,
        image_count=2,
        size_bytes=1234,
    )
    live.deliver([Change(ada.id, export=done)])
    [message] = pusher.sent["c"]
    assert message["type"] == "export.updated" and message["export"]["id"] == "x1"
    assert message["export"]["downloadUrl"] == "https://signed.example/x1.zip" and rendered == ["x1"]
    assert (
        messages_of(Change(ada.id, export=done))[0]["export"]["status"] == "COMPLETED"
    )  # without a renderer


def test_a_purchase_is_pushed_to_its_buyer() -> None:
    from imagegen.purchases import CoinPack, Purchase

    w = wire()
    ada, bob = w.user(), w.user()
    live, _, pusher = _live(w)
    live.connect("ada", _token(w, ada.id))
    live.connect("bob", _token(w, bob.id))
    pack = CoinPack(id="small", coins=500, price_cents=499, currency="usd", label="500 coins")
    bought = Purchase.start("p1", ada.id, pack)
    live.deliver([Change(ada.id, purchase=bought)])
    assert pusher.sent == {"ada": [{"type": "purchase.updated", "purchase": bought.to_json()}]}
