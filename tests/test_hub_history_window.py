"""The time bound of room history (READALONG_ROOM_HISTORY_TTL_S): recovery replays what was
missed within the window, answers `recovered: false` beyond it (the client refetches over REST,
where the durable events still are), for every kind of room; and a bad setting is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from domain.settings import Settings, SettingsError, load_settings
from realtime.history import read_since
from realtime.publisher import Publisher, history_key, meta_key
from realtime.rooms.base import RoomEvent
from tests.conftest import Engines
from tests.hub_support import new_user
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users

WINDOW = 2  # seconds (a grain of 1 s: a stream keeps at most 3 s of events)
PAST = WINDOW + 2.5  # a wait after which every event before it is beyond the window
KINDS = ("session", "club", "thread", "user", "lobby")


@pytest.fixture
def redis(publisher: Publisher) -> Redis:
    """The session Redis (through conftest's publisher, whose client it is)."""
    return publisher.redis


@pytest.fixture(scope="module")
def short_node(engines: Engines, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ServerProcess]:
    """A server whose room histories keep WINDOW seconds."""
    proc = ServerProcess(engines.env(READALONG_ROOM_HISTORY_TTL_S=str(WINDOW),
                                     READALONG_REGISTER_RATE="100000",
                                     READALONG_LOGIN_RATE="100000"),
                         log_dir=tmp_path_factory.mktemp("window-logs")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_every_kind_of_room_replays_within_the_window_only(redis: Redis) -> None:
    """Session, club, thread, user and lobby rooms: right after the events a replay from an
    old offset recovers them all; once the window has passed the same request says
    `recovered: false` with no events, while a client that had seen everything still recovers
    (nothing was missed), and the trimmed stream is gone from Redis."""
    publisher = Publisher(redis, Settings(room_history_ttl_s=WINDOW))
    rooms = [f"{kind}:{new_user()}" for kind in KINDS]
    starts: dict[str, tuple[str, int]] = {}
    for room in rooms:
        first = await publisher.publish(room, RoomEvent("chat", {"i": 0}))
        assert first is not None
        starts[room] = first
        for i in range(1, 4):
            await publisher.publish(room, RoomEvent("chat", {"i": i}))
    for room in rooms:
        epoch, start = starts[room]
        cur_epoch, cur, recovered, events = await read_since(redis, room, epoch, start)
        assert (cur_epoch, cur, recovered) == (epoch, start + 3, True), room
        assert [e.data["i"] for _, e in events] == [1, 2, 3], room
    await asyncio.sleep(PAST)
    for room in rooms:
        epoch, start = starts[room]
        cur_epoch, cur, recovered, events = await read_since(redis, room, epoch, start)
        assert (cur_epoch, cur, recovered, events) == (epoch, start + 3, False, []), room
        assert (await read_since(redis, room, epoch, start + 3))[2] is True, room
        assert not await redis.exists(history_key(room)), room
        assert await redis.exists(meta_key(room)), room


async def test_a_busy_room_keeps_the_window_and_drops_what_is_older(redis: Redis) -> None:
    """Publishing on through the window (4 s here): the next publish trims the events older
    than the window with their history keys (a replay from before them says `recovered:
    false`), keeps the younger ones (a replay from there recovers them in order), and the
    offsets carry on in the same epoch."""
    publisher = Publisher(redis, Settings(room_history_ttl_s=4))
    room = f"club:{new_user()}"
    old = await publisher.publish(room, RoomEvent("chat", {"i": "old"}, key="m1"))
    assert old is not None
    epoch, start = old
    await asyncio.sleep(2.5)
    await publisher.publish(room, RoomEvent("chat", {"i": "mid"}, key="m2"))
    await asyncio.sleep(3)  # "old" is now past the window, "mid" within it
    recent = [await publisher.publish(room, RoomEvent("chat", {"i": n})) for n in range(3)]
    assert [r[0] for r in recent if r] == [epoch] * 3
    kept = [f[b"d"] for _, f in await redis.xrange(history_key(room))]
    assert len(kept) == 4 and b"old" not in b"".join(kept)
    # the trimmed event's history key went with it (a later delete finds nothing to retract)
    assert not await redis.hexists(meta_key(room), "k:m1")
    assert await redis.hexists(meta_key(room), "k:m2")
    assert await publisher.retract(room, key="m1") == []
    assert (await read_since(redis, room, epoch, start - 1))[2] is False
    _, cur, recovered, events = await read_since(redis, room, epoch, start)
    assert recovered is True and cur == start + 4
    assert [(off, e.data["i"]) for off, e in events] == [
        (start + 1, "mid"), (start + 2, 0), (start + 3, 1), (start + 4, 2)]


async def test_session_chat_beyond_the_window_is_refetched_over_rest(
        engines: Engines, short_node: ServerProcess,
        unique: str) -> None:
    """A reader who left a live session comes back: within the window the missed chat is
    replayed (`recovered: true`); beyond it the hub says `recovered: false` and the chat is
    still in the session's REST history (PostgreSQL), nothing lost."""
    async with httpx.AsyncClient(base_url=short_node.base_url, timeout=15) as api:
        host, reader = await users(api, unique, 2)
        book = await make_book(engines.database_url, f"Window {unique}")
        session = await live_session(api, host, book)
        room, sid = session["room"], session["id"]
        async with WS(short_node.ws_url, reader.access_token) as r:
            first = (await r.subscribe(room))["result"]
        since = {"epoch": first["epoch"], "offset": first["offset"]}
        body = f"while-away-{unique}"
        async with WS(short_node.ws_url, host.access_token) as h:
            assert (await h.subscribe(room))["type"] == "ack"
            sent = await h.publish(room, {"type": "chat", "body": body})
            assert sent["type"] == "ack", sent
        async with WS(short_node.ws_url, reader.access_token) as r:
            ack = (await r.subscribe(room, since=since))["result"]
            assert ack["recovered"] is True, ack
            chat = await r.wait(lambda f: f.get("event") == "chat")
            assert chat["data"]["body"] == body
        await asyncio.sleep(PAST)
        async with WS(short_node.ws_url, reader.access_token) as r:
            ack = (await r.subscribe(room, since=since))["result"]
            assert ack["recovered"] is False and ack["epoch"] == since["epoch"], ack
            assert not [f for f in r.frames if f.get("event") == "chat"]
        listed = await api.get(f"/api/v1/sessions/{sid}/messages", headers=reader.headers)
        assert listed.status_code == 200, listed.text
        assert body in listed.text


def test_a_window_outside_its_bounds_is_refused() -> None:
    """READALONG_ROOM_HISTORY_TTL_S must be at least 1 and at most READALONG_HISTORY_TTL (the
    meta outlives the stream); anything else stops the start with a message naming it."""
    for bad in ("0", "-5", "90000"):
        with pytest.raises(SettingsError, match="READALONG_ROOM_HISTORY_TTL_S"):
            load_settings({"READALONG_ROOM_HISTORY_TTL_S": bad})
    with pytest.raises(SettingsError, match="READALONG_ROOM_HISTORY_TTL_S must be a"):
        load_settings({"READALONG_ROOM_HISTORY_TTL_S": "five minutes"})
    assert load_settings({"READALONG_ROOM_HISTORY_TTL_S": "600"}).room_history_ttl_s == 600
