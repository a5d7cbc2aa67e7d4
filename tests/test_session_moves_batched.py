"""Position moves written together (group commit): same answers as one by one, durable at ack."""

from __future__ import annotations

import asyncio

import httpx

from domain.db import Database
from domain.sessions.positions import MOVE_SQL, MoveWriter
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


async def test_concurrent_moves_are_visible_over_rest_at_ack(
        http: httpx.AsyncClient, server: ServerProcess, engines: Engines, unique: str) -> None:
    """Readers moving at the same moment are each acked after their furthest progression is
    stored: a REST listing right after the ack shows a message past their old place in full
    to those who moved beyond it and redacted to those who did not."""
    host, *readers = await users(http, unique, 7)
    book = await make_book(engines.database_url, f"Batch {unique}")
    s = await live_session(http, host, book, mode="free")
    room, sid = s["room"], s["id"]
    async with WS(server.ws_url, host.access_token) as h:
        assert (await h.subscribe(room))["type"] == "ack"
        assert (await h.move(room, 0.5))["type"] == "ack"
        sent = await h.publish(room, {"type": "chat", "body": "the twist at the half"})
        assert sent["type"] == "ack", sent
    socks = [WS(server.ws_url, r.access_token) for r in readers]
    for ws in socks:
        await ws.__aenter__()
    try:
        for ws in socks:
            assert (await ws.subscribe(room))["type"] == "ack"
        targets = [0.6, 0.4, 0.7, 0.45, 0.55, 0.2]
        acks = await asyncio.gather(*(ws.move(room, t)
                                      for ws, t in zip(socks, targets, strict=True)))
        assert all(a["type"] == "ack" for a in acks), acks
        for reader, target in zip(readers, targets, strict=False):
            r = await http.get(f"/api/v1/sessions/{sid}/messages", headers=reader.headers)
            assert r.status_code == 200, r.text
            (msg,) = [m for m in r.json()["items"] if m["id"] == sent["result"]["message_id"]]
            assert msg["redacted"] is (target < 0.5), (target, msg)
            assert (msg["body"] == "the twist at the half") is (target >= 0.5)
    finally:
        for ws in socks:
            await ws.__aexit__(None, None, None)


async def test_a_batch_answers_each_move_like_the_single_statement(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """Moves queued together get the single statement's answer each: a reader's second move
    sees the first one's furthest, strangers and unknown sessions get their own refusal."""
    host, reader, stranger = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Batch2 {unique}")
    s = await live_session(http, host, book, mode="free")
    sid = s["id"]
    assert (await http.post(f"/api/v1/sessions/{sid}/join", json={},
                            headers=reader.headers)).status_code in (200, 201)
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    try:
        writer = MoveWriter(db, MOVE_SQL)
        rows = await asyncio.gather(
            writer.write((sid, reader.id, 0.3, "a", None)),
            writer.write((sid, host.id, 0.1, None, 2)),
            writer.write((sid, reader.id, 0.2, "b", None)),  # the same reader again: next batch
            writer.write((sid, stranger.id, 0.5, None, None)),
            writer.write((987654321, reader.id, 0.1, None, None)))
        assert writer.batches == 2 and writer.moves == 5
        first, hosted, second, strange, unknown = rows
        assert first["old_furthest"] is None and first["new_furthest"] == 0.3
        assert hosted["new_furthest"] == 0.1 and hosted["status"] == "live"
        assert second["old_furthest"] == 0.3 and second["new_furthest"] == 0.3
        assert strange is not None and strange["new_furthest"] is None
        assert unknown is None
        # a kicked reader and an ended session, in one batch: refused like one by one
        assert (await http.post(f"/api/v1/sessions/{sid}/participants/{reader.id}/kick",
                                headers=host.headers)).status_code == 200
        ended = await live_session(http, stranger, book, mode="free")
        assert (await http.post(f"/api/v1/sessions/{ended['id']}/end",
                                headers=stranger.headers)).status_code == 200
        kicked, over = await asyncio.gather(
            writer.write((sid, reader.id, 0.9, None, None)),
            writer.write((ended["id"], stranger.id, 0.9, None, None)))
        assert writer.batches == 3
        assert kicked["kicked"] is True and kicked["new_furthest"] is None
        assert over["status"] == "ended" and over["new_furthest"] is None
        stored = await db.pool.fetchrow(
            "SELECT progression, locator, furthest FROM session_participants"
            " WHERE session_id = $1 AND user_id = $2", sid, reader.id)
        assert tuple(stored) == (0.2, "b", 0.3)
    finally:
        await db.close()


async def test_batched_hidden_sets_follow_the_block_and_mute_rules(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """Readers whose hidden-author sets are read together get exactly what the one-reader
    rule gives: blocks either way and their own mutes."""
    from domain.sessions.positions import HiddenReader
    from domain.social.rules import hidden_user_ids

    a, b, c, d = await users(http, unique, 4)
    assert (await http.post(f"/api/v1/users/{b.handle}/block",
                            headers=a.headers)).status_code == 204
    assert (await http.post(f"/api/v1/users/{a.handle}/mute",
                            headers=c.headers)).status_code == 204
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    try:
        reader = HiddenReader(db)
        got = await asyncio.gather(*(reader.read(u.id) for u in (a, b, c, d, a)))
        assert reader.queries == 1
        for u, hidden in zip((a, b, c, d, a), got, strict=False):
            assert hidden == frozenset(await hidden_user_ids(db, u.id)), u.handle
        assert got[0] == {b.id} and got[1] == {a.id} and got[2] == {a.id} and got[3] == set()
    finally:
        await db.close()


async def test_the_write_behind_reads_each_readers_row_before_it_changes_it(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """A reader who turned the spoiler shield on in a session whose default is off, and who
    had read to 0.3: their written move knows it (their shield decides whether what the move
    unlocks is pushed to them, their old furthest whether it is their first position)."""
    import asyncpg

    from domain.sessions.behind import Behind, write_behind

    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Behind {unique}")
    s = await live_session(http, host, book, mode="free")
    sid = s["id"]
    assert (await http.post(f"/api/v1/sessions/{sid}/join", json={},
                            headers=reader.headers)).status_code in (200, 201)
    conn = await asyncpg.connect(engines.database_url)
    try:
        await conn.execute("UPDATE reading_sessions SET shield_default = false WHERE id = $1",
                           sid)
        await conn.execute("UPDATE session_participants SET shield = true, furthest = 0.3"
                           " WHERE session_id = $1 AND user_id = $2", sid, reader.id)
        async with conn.transaction():
            (written,) = await write_behind(conn, [Behind(
                session_id=sid, user_id=reader.id, progression=0.5, locator="c3",
                chapter=None, furthest=0.5, start=0.5)])
        assert written.shield is True
        assert written.old_furthest == 0.3
        assert written.new_furthest == 0.5
        assert written.seen_before >= 0.3
    finally:
        await conn.close()
