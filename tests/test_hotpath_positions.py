"""Session moves acked in Redis and written behind to PostgreSQL, on two real server processes:
the shield never shows more than the reader's furthest on any node, REST never shows more than
the live shield, and no acked move is lost when a node stops or dies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from realtime.rooms.positions.writebehind import INFLIGHT, inflight_key
from tests.conftest import Engines
from tests.fixture_helpers import running_nodes
from tests.hub_support import start_nodes
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users


@pytest.fixture(scope="module")
def two_nodes(engines: Engines, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[list[ServerProcess]]:
    with running_nodes(engines.env(READALONG_REGISTER_RATE="100000",
                                   READALONG_POSITIONS_RECLAIM_AFTER="1"),
                       Path(tmp_path_factory.mktemp("hotpath-nodes"))) as nodes:
        yield nodes


def _chat(frames: list[dict[str, Any]], mid: int) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("event") == "chat" and f["data"]["id"] == mid]


async def _listed(http: httpx.AsyncClient, sid: int, headers: dict[str, str],
                  mid: int) -> dict[str, Any]:
    r = await http.get(f"/api/v1/sessions/{sid}/messages", headers=headers)
    assert r.status_code == 200, r.text
    (msg,) = [m for m in r.json()["items"] if m["id"] == mid]
    return msg  # type: ignore[no-any-return]


async def _stored(engines: Engines, sid: int, uid: int) -> tuple[Any, Any]:
    rows = await db_exec(engines.database_url,
                         "SELECT progression, furthest FROM session_participants"
                         " WHERE session_id = $1 AND user_id = $2", sid, uid)
    return (rows[0]["progression"], rows[0]["furthest"]) if rows else (None, None)


async def test_the_shield_and_rest_never_show_more_than_the_furthest_on_any_node(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader with tabs on both nodes who moves to 0.6 gets the message gated at 0.5 in full
    on both tabs and over REST on either node, never the one gated at 0.8; a message an author
    posts right after moving to 0.9 is gated at 0.9 although PostgreSQL may not have the move
    yet; the write-behind stores the move shortly after the ack."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as a_http, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as b_http:
        host, reader, author = await users(a_http, unique, 3)
        book = await make_book(engines.database_url, f"Hotpath {unique}")
        s = await live_session(a_http, host, book)
        room, sid = s["room"], s["id"]
        async with WS(a_node.ws_url, author.access_token) as w, \
                WS(a_node.ws_url, reader.access_token) as x, \
                WS(b_node.ws_url, reader.access_token) as y:
            for ws in (w, x, y):
                assert (await ws.subscribe(room))["type"] == "ack"
            assert (await w.move(room, 0.5))["type"] == "ack"
            half = (await w.publish(room, {"type": "chat", "body": "at the half"}))["result"]
            assert (await w.move(room, 0.8))["type"] == "ack"
            late = (await w.publish(room, {"type": "chat", "body": "the late twist"}))["result"]
            for ws in (x, y):  # both redacted live: the reader is at 0
                for mid in (half["message_id"], late["message_id"]):
                    ev = await ws.wait(lambda f, m=mid: bool(_chat([f], m)))
                    assert ev["data"]["body"] is None
            assert (await x.move(room, 0.6))["type"] == "ack"
            # right after the ack, REST on either node never shows more than the live shield
            for http in (a_http, b_http):
                assert (await _listed(http, sid, reader.headers,
                                      late["message_id"]))["redacted"] is True
                assert (await _listed(http, sid, reader.headers,
                                      half["message_id"]))["redacted"] is False
            # both tabs (one per node) get the message the move passed, in full
            for ws in (x, y):
                ev = await ws.wait(lambda f: any(c["data"]["body"] == "at the half"
                                                 for c in _chat([f], half["message_id"])))
                assert ev["data"].get("unlocked") is True
            # the author moves on and posts at once over REST on the other node: gated at 0.9
            assert (await w.move(room, 0.9))["type"] == "ack"
            r = await b_http.post(f"/api/v1/sessions/{sid}/messages",
                                  json={"body": "the ending"}, headers=author.headers)
            assert r.status_code == 201, r.text
            ending = r.json()
            assert ending["gate"] >= 0.9
            for ws in (x, y):
                ev = await ws.wait(lambda f: bool(_chat([f], ending["id"])))
                assert ev["data"]["body"] is None
            # the move reaches PostgreSQL behind the ack; REST still agrees after it
            assert await eventually(lambda: _furthest_is(engines, sid, reader.id, 0.6))
            for http in (a_http, b_http):
                assert (await _listed(http, sid, reader.headers,
                                      late["message_id"]))["redacted"] is True
            for ws in (x, y):  # never, on any node, the text past the reader's furthest
                assert all(c["data"]["body"] is None
                           for mid in (late["message_id"], ending["id"])
                           for c in _chat(ws.frames, mid))


async def test_chat_is_acked_while_the_write_behind_is_stuck_in_postgresql(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """While the database holds up the writing of a room's moves (its row is locked), readers
    who moved are still acked at once when they chat, in that room and in rooms on both nodes
    (a chat never waits for the write-behind); the moves are stored once the lock goes."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, stuck, y_reader, z_reader = await users(http, unique, 4)
        book = await make_book(engines.database_url, f"Stuck {unique}")
        s1 = await live_session(http, host, book)
        s2 = await live_session(http, host, book)
    lock = await asyncpg.connect(engines.database_url)
    try:
        async with WS(a_node.ws_url, stuck.access_token) as x, \
                WS(a_node.ws_url, y_reader.access_token) as y, \
                WS(b_node.ws_url, z_reader.access_token) as z:
            assert (await x.subscribe(s1["room"]))["type"] == "ack"
            for ws in (y, z):
                assert (await ws.subscribe(s2["room"]))["type"] == "ack"
            tx = lock.transaction()
            await tx.start()
            await lock.execute("SELECT 1 FROM session_participants WHERE session_id = $1"
                               " AND user_id = $2 FOR NO KEY UPDATE", s1["id"], stuck.id)
            assert (await x.move(s1["room"], 0.3))["type"] == "ack"
            redis = Redis.from_url(engines.redis_url)
            try:  # a node took the room's moves and waits on the row lock
                assert await eventually(lambda: redis.zscore(INFLIGHT, s1["room"]))
            finally:
                await redis.aclose()
            for ws, room in ((x, s1["room"]), (y, s2["room"]), (z, s2["room"])):
                assert (await ws.move(room, 0.4))["type"] == "ack"
                acked = await ws.publish(room, {"type": "chat", "body": f"still here {room}"})
                assert acked["type"] == "ack", acked
            assert await _stored(engines, s1["id"], stuck.id) == (None, None)  # still behind
            await tx.rollback()
            assert await eventually(lambda: _furthest_is(engines, s1["id"], stuck.id, 0.4))
            assert await eventually(lambda: _furthest_is(engines, s2["id"], z_reader.id, 0.4))
    finally:
        await lock.close()


async def _furthest_is(engines: Engines, sid: int, uid: int, want: float) -> bool:
    return (await _stored(engines, sid, uid))[1] == want


def _isolated_redis(url: str) -> str:
    """The same Redis server, another database: this test's nodes drain only their own moves."""
    if url.startswith("unix://"):
        return f"{url.partition('?')[0]}?db=9"
    base = url.partition("?")[0]
    head, sep, tail = base.rpartition("/")
    return f"{head}/9" if sep and tail.isdigit() and head.count("/") > 2 else f"{base}/9"


async def test_acked_moves_survive_a_node_stop_and_a_node_crash(
        engines: Engines, tmp_path_factory: pytest.TempPathFactory, unique: str) -> None:
    """A move acked just before the node is stopped is in PostgreSQL when it has stopped (the
    reader's first: with the book they started); a move acked just before the node is killed
    is written by the next node that starts; a flush left half done by a dead node is written
    again by another node."""
    logs = Path(tmp_path_factory.mktemp("hotpath-restart"))
    redis_url = _isolated_redis(engines.redis_url)
    slow = {"REDIS_URL": redis_url, "READALONG_REGISTER_RATE": "100000",
            "READALONG_POSITIONS_FLUSH_INTERVAL": "60", "READALONG_POSITIONS_RECLAIM_AFTER": "1"}
    (node,) = start_nodes(engines.env(**slow), logs, 1)
    try:
        async with httpx.AsyncClient(base_url=node.base_url, timeout=15) as http:
            host, reader = await users(http, unique, 2)
            book = await make_book(engines.database_url, f"Restart {unique}")
            s = await live_session(http, host, book)
        room, sid = s["room"], s["id"]
        async with WS(node.ws_url, reader.access_token) as x:
            assert (await x.subscribe(room))["type"] == "ack"
            assert (await x.move(room, 0.42))["type"] == "ack"
        assert await _stored(engines, sid, reader.id) == (None, None)  # not yet: behind
        node.stop()  # SIGTERM: drains before the pools close
        assert await _stored(engines, sid, reader.id) == (0.42, 0.42)
        # the first stored position says the reader started the book (written with it)
        started = await db_exec(engines.database_url, "SELECT finished_at FROM book_readings"
                                " WHERE user_id = $1 AND book_id = $2", reader.id, book)
        assert [r["finished_at"] for r in started] == [None]
        (node,) = start_nodes(engines.env(**slow), logs, 1)
        async with WS(node.ws_url, reader.access_token) as x:
            joined = await x.subscribe(room)
            assert joined["type"] == "ack"
            assert (await x.move(room, 0.55))["type"] == "ack"
        node.kill()  # SIGKILL: nothing flushed, the move waits in Redis
        assert await _stored(engines, sid, reader.id) == (0.42, 0.42)
        (node,) = start_nodes(engines.env(**{**slow, "READALONG_POSITIONS_FLUSH_INTERVAL":
                                             "0.1"}), logs, 1)
        assert await eventually(lambda: _furthest_is(engines, sid, reader.id, 0.55))
        # a flush taken by a node that died before its commit: the in-flight copy is left
        redis = Redis.from_url(redis_url)
        try:
            # the batch that wrote 0.55 releases the room after its pushes: a copy written
            # into its in-flight hash before that would be dropped with it
            async def released() -> bool:
                return not await redis.exists(inflight_key(room)) \
                    and await redis.zscore(INFLIGHT, room) is None
            assert await eventually(released)
            await redis.hset(inflight_key(room), str(reader.id),  # type: ignore[misc]
                             "0.7|0.6|0.65|2|epubcfi(/6/4)")
            await redis.zadd(INFLIGHT, {room: time.time() - 30})
            got = await eventually(lambda: _stored_if(engines, sid, reader.id, 0.7),
                                   timeout=15)
            assert got == (0.65, 0.7)
            assert not await redis.exists(inflight_key(room))
        finally:
            await redis.aclose()
    finally:
        node.stop()


async def _stored_if(engines: Engines, sid: int, uid: int, furthest: float) -> Any:
    got = await _stored(engines, sid, uid)
    return got if got[1] == furthest else None
