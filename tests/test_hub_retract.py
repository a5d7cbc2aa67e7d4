"""Retracted history: deleted content disappears from `since` replay (and from Redis) while
recovery stays gap-free; and what history costs in Redis: the embedded Valkey keeps a short
history small (most `user:` rooms hold a few notifications), long histories stay within
READALONG_HISTORY_SIZE, and `live_only` events are not stored at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from domain.settings import Settings
from realtime.publisher import Publisher, history_key
from realtime.rooms.base import RoomEvent
from tests.conftest import Engines
from tests.hub_support import Client, new_user
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


@pytest.fixture
async def redis(engines: Engines) -> AsyncIterator[Redis]:
    client = Redis.from_url(engines.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_retracted_events_are_skipped_in_replay(server: ServerProcess, redis: Redis) -> None:
    """An event retracted by offset (or by key, atomically with the event that replaces it) is
    left out of replay, which still says `recovered: true`; a stale epoch retracts nothing."""
    room = f"lobby:retract{new_user()}"
    client = await Client.login(server.ws_url, new_user(), origin=None)
    start = await client.ok("subscribe", room=room)
    epoch, base = start["epoch"], start["offset"]
    offsets = [(await client.ok("publish", room=room, data={"text": f"m{i}"}))["offset"]
               for i in range(3)]
    publisher = Publisher(redis, Settings())
    assert await publisher.retract(room, offset=offsets[1], epoch="stale") == []
    assert await publisher.retract(room, offset=offsets[1], epoch=epoch) == [offsets[1]]
    await publisher.publish(room, RoomEvent("chat", {"text": "keyed secret"}, key="k1"))
    await publisher.publish(room, RoomEvent("chat", {"text": "keyed secret, edited"}, key="k1"))
    last = await publisher.publish(room, RoomEvent("chat_deleted", {"key": "k1"}, retracts="k1"))
    assert last is not None and last[0] == epoch
    await client.close()

    again = await Client.login(server.ws_url, new_user(), origin=None)
    ack = await again.ok("subscribe", room=room, since={"epoch": epoch, "offset": base})
    assert ack["recovered"] is True and ack["offset"] == last[1]
    replay = await again.events(room, 3)
    assert [(e["event"], e["offset"]) for e in replay] == [
        ("chat", offsets[0]), ("chat", offsets[2]), ("chat_deleted", last[1])]
    assert [e["data"].get("text") for e in replay[:2]] == ["m0", "m2"]
    tail = await again.ok("subscribe", room=f"{room}x")  # (a sync point: nothing else came)
    assert tail["recovered"] is False
    assert not [f for f in again.inbox if f["type"] == "event" and f["room"] == room]
    # from just before the hole, too
    ack2 = await (await Client.login(server.ws_url, new_user(), origin=None)).ok(
        "subscribe", room=room, since={"epoch": epoch, "offset": offsets[0]})
    assert ack2["recovered"] is True
    raw = b"".join(f[b"d"] for _, f in await redis.xrange(history_key(room)))
    assert b"m1" not in raw and b"keyed secret" not in raw
    await again.close()


async def test_deleted_session_content_is_gone_from_replay(http: httpx.AsyncClient,
                                                           engines: Engines,
                                                           server: ServerProcess, unique: str,
                                                           redis: Redis) -> None:
    """A chat message (and its edit) and an annotation deleted over the socket, and a message
    deleted over REST, never come back in a `since` replay — only their `*_deleted` events do —
    and their text is gone from the Redis history."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Retract {unique}")
    s = await live_session(http, host, book)
    room, sid = s["room"], s["id"]
    secret, note, other = f"secret-{unique}", f"hidden-note-{unique}", f"rest-secret-{unique}"
    async with WS(server.ws_url, reader.access_token) as r:
        first = await r.subscribe(room)
        since = {"epoch": first["result"]["epoch"], "offset": first["result"]["offset"]}
    async with WS(server.ws_url, host.access_token) as h:
        assert (await h.subscribe(room))["type"] == "ack"
        mid = (await h.publish(room, {"type": "chat", "body": secret}))["result"]["message_id"]
        edited = await h.publish(room, {"type": "chat_edit", "message_id": mid,
                                        "body": secret + " edited"})
        assert edited["type"] == "ack", edited
        kept = await h.publish(room, {"type": "chat", "body": f"kept-{unique}"})
        ann = await h.publish(room, {"type": "annotate", "note": note, "selectors": [
            {"type": "ProgressionSelector", "start": 0.0, "end": 0.01}]})
        aid = ann["result"]["annotation_id"]
        rest = await h.publish(room, {"type": "chat", "body": other})
        assert (await h.publish(room, {"type": "chat_delete", "message_id": mid}))["type"] == \
            "ack"
        assert (await h.publish(room, {"type": "annotation_delete",
                                       "annotation_id": aid}))["type"] == "ack"
        rid = rest["result"]["message_id"]
        resp = await http.delete(f"/api/v1/sessions/{sid}/messages/{rid}", headers=host.headers)
        assert resp.status_code == 200, resp.text
        await h.wait(lambda f: f.get("event") == "chat_deleted" and f["data"]["id"] == rid)
    async with WS(server.ws_url, reader.access_token) as r2:
        ack = await r2.subscribe(room, since=since)
        assert ack["result"]["recovered"] is True, ack
        await r2.wait(lambda f: f.get("event") == "chat_deleted" and f["data"]["id"] == rid)
        events = [f for f in r2.frames if f["type"] == "event"]
        assert [e["event"] for e in events] == ["chat", "chat_deleted", "annotation_deleted",
                                                "chat_deleted"]
        assert events[0]["data"]["id"] == kept["result"]["message_id"]
        text = json.dumps(r2.frames)
        assert secret not in text and note not in text and other not in text
        offsets = [e["offset"] for e in events]
        assert offsets == sorted(offsets) and offsets[-1] == ack["result"]["offset"]
    stored = b"".join(f[b"d"] for _, f in await redis.xrange(history_key(room)))
    assert secret.encode() not in stored and note.encode() not in stored
    assert other.encode() not in stored


async def test_a_short_history_costs_about_a_kilobyte(redis: Redis) -> None:
    """A `user:` room with one notification-sized event costs under 2 KB of Redis (Valkey's
    default stream-node-max-bytes, 4096, preallocates 4.3 KB for every such room: 43 MB per
    10,000 readers with a notification); a long history is capped at READALONG_HISTORY_SIZE."""
    publisher = Publisher(redis, Settings(history_size=50))
    room = f"user:{new_user()}"
    await publisher.publish(room, RoomEvent("notification", {"text": "x" * 300}))
    assert (await redis.memory_usage(history_key(room), samples=0) or 0) < 2048
    busy = f"session:{new_user()}"
    for i in range(120):
        await publisher.publish(busy, RoomEvent("chat", {"text": f"message {i} " + "y" * 100}))
    assert await redis.xlen(history_key(busy)) == 50
    assert (await redis.memory_usage(history_key(busy), samples=0) or 0) < 50 * 400


async def test_a_readers_own_room_keeps_a_shorter_history(redis: Redis) -> None:
    """A `user:` room keeps READALONG_USER_HISTORY_SIZE events (one such room per reader, so
    its cap bounds Redis per reader): past it, a reader who was away longer is told
    `recovered: false` and reads their notifications over REST; other rooms keep
    READALONG_HISTORY_SIZE."""
    publisher = Publisher(redis, Settings(history_size=50, user_history_size=10))
    mine, shared = f"user:{new_user()}", f"session:{new_user()}"
    for i in range(30):
        await publisher.publish(mine, RoomEvent("notification", {"text": f"note {i}"}))
        await publisher.publish(shared, RoomEvent("chat", {"text": f"message {i}"}))
    assert await redis.xlen(history_key(mine)) == 10
    assert await redis.xlen(history_key(shared)) == 30
    kept = [f[b"d"] for _, f in await redis.xrange(history_key(mine))]
    assert b"note 29" in kept[-1] and b"note 20" in kept[0]


async def test_live_only_events_are_not_stored(redis: Redis) -> None:
    """A `live_only` event in a room that keeps history leaves the history and the room's
    offset as they were (nothing to replay, nothing kept in Redis)."""
    publisher = Publisher(redis, Settings())
    room = f"user:{new_user()}"
    assert await publisher.publish(room, RoomEvent("leaderboard_rank", {"rank": 3},
                                                   live_only=True)) is None
    assert not await redis.exists(history_key(room))
    stored = await publisher.publish(room, RoomEvent("notification", {"text": "hi"}))
    assert stored is not None and stored[1] == 1
    await publisher.publish(room, RoomEvent("leaderboard_rank", {"rank": 2}, live_only=True))
    assert await redis.xlen(history_key(room)) == 1
