"""The one reading state per (reader, book) is what every spoiler gate of co-reading uses: a
progress update over REST or a KOReader sync unlocks live session content on every node,
session moves write through to the reading state, and a finished book stays finished."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from domain.db import Database
from domain.reading import progress
from migrations.m0025_reading_backfill import BACKFILL_SQL
from tests.clubs_helpers import join, make_club
from tests.conftest import Engines
from tests.reading_helpers import put_state
from tests.support import ServerProcess, eventually
from tests.test_kosync_protocol import device, update
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users

KOSYNC_ME = "/api/v1/me/kosync"


def _chat_of(message_id: int) -> Any:
    return lambda f: f.get("event") == "chat" and f["data"]["id"] == message_id


async def _hidden_message(room: str, reader: WS, writer: WS, gate: float) -> int:
    """The reader (at 0.1) sees the writer's chat message (at `gate`) redacted: its id."""
    for ws in (reader, writer):
        assert (await ws.subscribe(room))["type"] == "ack"
    await reader.move(room, 0.1)
    await writer.move(room, gate)
    sent = (await writer.publish(room, {"type": "chat", "body": "the twist"}))["result"]
    ev = await reader.wait(_chat_of(sent["message_id"]))
    assert ev["data"]["body"] is None  # behind it: redacted
    return int(sent["message_id"])


async def _progress(http: httpx.AsyncClient, who: object, book: int,
                    progression: float) -> dict[str, object]:
    r = await http.post(f"/api/v1/me/books/{book}/progress", headers=who.headers,  # type: ignore[attr-defined]
                        json={"progression": progression})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_rest_progress_unlocks_session_message_on_another_node(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader connected to node A sees a chat message redacted; a progress update over REST
    on node B past its gate pushes the full text to their socket on node A."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http_a, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as http_b:
        host, low = await users(http_a, unique, 2)
        book = await make_book(engines.database_url, f"Unlock {unique}")
        s = await live_session(http_a, host, book)
        room = s["room"]
        async with WS(a_node.ws_url, low.access_token) as x, \
                WS(a_node.ws_url, host.access_token) as h:
            sent = {"message_id": await _hidden_message(room, x, h, 0.6)}
            out = await _progress(http_b, low, book, 0.7)
            assert out["advance"]["moved"] is True  # type: ignore[index]
            full = await x.wait(lambda f: f.get("data", {}).get("id") == sent["message_id"]
                                and f["data"].get("body") == "the twist")
            assert full["data"]["body"] == "the twist"
            # from now on the socket's shield uses the new progress: a message gated at 0.65
            # arrives in full at once
            await h.move(room, 0.65)
            later = (await h.publish(room, {"type": "chat", "body": "second twist"}))["result"]
            ev2 = await x.wait(lambda f: f.get("event") == "chat"
                               and f["data"]["id"] == later["message_id"])
            assert ev2["data"]["body"] == "second twist"


async def test_a_page_turned_on_the_e_reader_unlocks_the_message_on_the_other_node(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader in a live session (socket on node B) sees a later message redacted; their
    KOReader PUTs progress past it to node A (x-auth-user / x-auth-key), and the message's full
    text arrives on their node-B socket, while a PUT that stays behind unlocks nothing."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, reader, writer = await users(http, unique, 3)
        book = await make_book(engines.database_url, f"KoLive {unique}")
        s = await live_session(http, host, book)
        r = await http.post(f"{KOSYNC_ME}/identities", headers=reader.headers,
                            json={"username": f"kl{unique}", "password": "kopw"})
        assert r.status_code == 201, r.text
        r = await http.put(f"{KOSYNC_ME}/documents/kolive{unique}", headers=reader.headers,
                           json={"book_id": book})
        assert r.status_code == 200, r.text
        room = s["room"]
        async with WS(b_node.ws_url, reader.access_token) as there, \
                WS(a_node.ws_url, writer.access_token) as w:
            sent = {"message_id": await _hidden_message(room, there, w, 0.5)}
            ko = device(f"kl{unique}", "kopw")
            r = await http.put("/kosync/syncs/progress", headers=ko,
                               json=update(f"kolive{unique}", 0.3))
            assert r.status_code == 200 and r.json()["document"] == f"kolive{unique}"
            r = await http.put("/kosync/syncs/progress", headers=ko,
                               json=update(f"kolive{unique}", 0.55))
            assert r.status_code == 200 and isinstance(r.json()["timestamp"], int)
            ev = await there.wait(lambda f: _chat_of(sent["message_id"])(f)
                                  and f["data"]["body"] == "the twist")
            assert ev["data"]["body"] == "the twist"
            # the 0.3 PUT came first and unlocked nothing: one full copy, after the 0.55 PUT
            full = [f for f in there.frames if _chat_of(sent["message_id"])(f)
                    and f["data"]["body"] == "the twist"]
            assert len(full) == 1


async def test_a_page_turned_on_the_e_reader_unlocks_the_clubs_discussion(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A club member behind a message sees it redacted in the club room on node A; their
    KOReader PUTs progress past it to node B and the full text arrives on their socket."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http_a, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as http_b:
        owner, low, author = await users(http_a, unique, 3)
        book = await make_book(engines.database_url, f"KoClub {unique}")
        club = await make_club(http_a, owner, f"ko-{unique}", book_id=book)
        for member in (low, author):
            assert (await join(http_a, club["id"], member)).status_code == 200
        await _progress(http_a, author, book, 0.6)
        r = await http_a.post(f"{KOSYNC_ME}/identities", headers=low.headers,
                              json={"username": f"kc{unique}", "password": "kopw"})
        assert r.status_code == 201, r.text
        r = await http_a.put(f"{KOSYNC_ME}/documents/koclub{unique}", headers=low.headers,
                             json={"book_id": book})
        assert r.status_code == 200, r.text
        async with WS(a_node.ws_url, low.access_token) as lo, \
                WS(b_node.ws_url, author.access_token) as au:
            for ws in (lo, au):
                assert (await ws.subscribe(club["room"]))["type"] == "ack"
            sent = (await au.publish(club["room"], {"type": "chat", "body": "the butler"}))
            mid = sent["result"]["message_id"]
            assert (await lo.wait(_chat_of(mid)))["data"]["body"] is None
            r = await http_b.put("/kosync/syncs/progress", headers=device(f"kc{unique}", "kopw"),
                                 json=update(f"koclub{unique}", 0.65))
            assert r.status_code == 200, r.text
            full = await lo.wait(lambda f: _chat_of(mid)(f) and f["data"]["body"] == "the butler")
            assert full["data"]["body"] == "the butler"


async def test_session_move_advances_reading_state(http: httpx.AsyncClient, engines: Engines,
                                                   server: ServerProcess, unique: str) -> None:
    """A position reported in a session moves the reader's reading state: REST shows the
    furthest progression and a `session` entry in the reading log."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Through {unique}", pages=200)
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
        assert (await ws.move(s["room"], 0.3))["type"] == "ack"
        assert (await ws.move(s["room"], 0.2))["type"] == "ack"

    async def written() -> dict[str, Any] | None:  # moves are written behind the ack
        r = await http.get(f"/api/v1/me/books/{book}", headers=reader.headers)
        return r.json() if r.status_code == 200 else None  # type: ignore[no-any-return]
    state = await eventually(written)
    assert state["status"] == "reading" and state["furthest"] == 0.3
    log = (await http.get(f"/api/v1/me/books/{book}/log", headers=reader.headers)).json()
    assert [(e["source"], e["progression"]) for e in log["items"]] == [("session", 0.3)]


async def test_reader_ahead_in_reading_state_sees_session_content(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader who got to 0.8 over REST and never moved in the session sees a message gated
    at 0.5 in full, in the session's REST listing and live on their socket."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Ahead {unique}")
    s = await live_session(http, host, book)
    sid, room = s["id"], s["room"]
    await _progress(http, reader, book, 0.8)
    async with WS(server.ws_url, host.access_token) as h, \
            WS(server.ws_url, reader.access_token) as r:
        assert (await h.subscribe(room))["type"] == "ack"
        assert (await r.subscribe(room))["type"] == "ack"
        await h.move(room, 0.5)
        sent = (await h.publish(room, {"type": "chat", "body": "halfway news"}))["result"]
        ev = await r.wait(lambda f: f.get("event") == "chat"
                          and f["data"]["id"] == sent["message_id"])
        assert ev["data"]["body"] == "halfway news"
    page = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=reader.headers)).json()
    bodies = {m["id"]: m["body"] for m in page["items"]}
    assert bodies[sent["message_id"]] == "halfway news"


async def test_session_move_never_reopens_a_finished_book(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader who marked a book read keeps it read (one read) when they then move in a
    session of that book."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Done {unique}")
    r = await http.put(f"/api/v1/me/books/{book}", headers=reader.headers,
                       json={"status": "read"})
    assert r.status_code == 200, r.text
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
        assert (await ws.move(s["room"], 0.4))["type"] == "ack"
    state = (await http.get(f"/api/v1/me/books/{book}", headers=reader.headers)).json()
    assert state["status"] == "read" and state["furthest"] == 1.0
    assert len(state["reads"]) == 1


async def test_backfill_gives_session_readers_their_reading_state(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """m0025 gives readers who moved in sessions before the write-through a reading state:
    the furthest over their sessions, `read` when they finished there, a larger existing
    furthest kept, and no reading-log rows."""
    host, fresh, done, ahead = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"Backfill {unique}")
    one, two = (await live_session(http, host, book)), (await live_session(http, host, book))
    for who, moves in ((fresh, [(one, 0.3), (two, 0.5)]), (done, [(one, 0.99)]),
                       (ahead, [(one, 0.2)])):
        async with WS(server.ws_url, who.access_token) as ws:
            for s, p in moves:
                assert (await ws.subscribe(s["room"]))["type"] == "ack"
                assert (await ws.move(s["room"], p))["type"] == "ack"
    await _progress(http, ahead, book, 0.9)

    async def finished_there() -> bool:  # the session's finish is recorded after the ack
        rows = await db_exec(engines.database_url, "SELECT finished_at FROM book_readings"
                             " WHERE user_id = $1 AND book_id = $2", done.id, book)
        return bool(rows) and rows[0]["finished_at"] is not None

    await eventually(finished_there)
    ids = [fresh.id, done.id, ahead.id]
    conn = await asyncpg.connect(engines.database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        # as before the write-through: only the REST-made state, no session log entries
        await conn.execute("DELETE FROM reading_states WHERE book_id = $1 AND user_id = ANY($2)",
                           book, [fresh.id, done.id])
        await conn.execute("DELETE FROM reading_log WHERE book_id = $1 AND source = 'session'",
                           book)
        await conn.execute(BACKFILL_SQL)
        rows = await conn.fetch(
            "SELECT s.user_id, s.status, s.furthest, (SELECT count(*) FROM reading_reads r"
            " WHERE r.state_id = s.id) AS reads, (SELECT count(*) FROM reading_log l"
            " WHERE l.state_id = s.id) AS logs FROM reading_states s WHERE s.book_id = $1"
            " AND s.user_id = ANY($2)", book, ids)
        await tx.rollback()
    finally:
        await conn.close()
    got = {r["user_id"]: (r["status"], r["furthest"], r["reads"], r["logs"]) for r in rows}
    assert got == {fresh.id: ("reading", 0.5, 1, 0), done.id: ("read", 0.99, 1, 0),
                   ahead.id: ("reading", 0.9, 1, 1)}


async def test_session_pages_count_on_the_leaderboard(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """Pages read in a session (30% of a 200-page book) show on this week's pages board."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Board {unique}", pages=200)
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
        assert (await ws.move(s["room"], 0.3))["type"] == "ack"

    async def score() -> int | None:
        page = (await http.get("/api/v1/leaderboards/pages-week/owners",
                               params={"id": [reader.id]})).json()
        return page["items"][0]["score"] if page["items"] else None

    assert await eventually(score) == 60


async def test_advance_many_applies_the_passive_rules(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """One batched advance creates a missing state, starts a want-to-read one, leaves a read
    one read, keeps the furthest of two moves of one reader, and logs only forward moves."""
    new, want, done = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Many {unique}", pages=100)
    await put_state(http, want, book, status="want_to_read")
    await put_state(http, done, book, status="read")
    # the first reader's day is already tomorrow: their new read starts on their own date
    assert (await http.put("/api/v1/me/reading/settings", headers=new.headers,
                           json={"time_zone": "Pacific/Kiritimati"})).status_code == 200
    noon = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    db = Database(engines.database_url, pool_size=1)
    await db.connect()
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            got = await progress.advance_many(conn, [
                progress.Passive(new.id, book, 0.2), progress.Passive(new.id, book, 0.4),
                progress.Passive(want.id, book, 0.1), progress.Passive(done.id, book, 0.5)],
                now=noon)
    finally:
        await db.close()
    a, w, d = got[(new.id, book)], got[(want.id, book)], got[(done.id, book)]
    assert (a.created, a.opened, a.moved, a.furthest, a.pages) == (True, True, True, 0.4, 40)
    assert (w.opened, w.status, w.furthest) == (True, "reading", 0.1)
    assert (d.opened, d.moved, d.status, d.furthest, d.logged) == (False, False, "read", 1.0,
                                                                    False)
    for who, status, furthest, logs in ((new, "reading", 0.4, [0.4]), (want, "reading", 0.1,
                                                                      [0.1]),
                                        (done, "read", 1.0, [1.0])):
        state = (await http.get(f"/api/v1/me/books/{book}", headers=who.headers)).json()
        assert (state["status"], state["furthest"], len(state["reads"])) == (status, furthest, 1)
        if who is not done:  # (the finished read was dated by its own PUT)
            assert state["reads"][0]["started_on"] == ("2026-12-04" if who is new
                                                       else "2026-12-03")
        log = (await http.get(f"/api/v1/me/books/{book}/log", headers=who.headers)).json()
        assert [e["progression"] for e in log["items"]] == logs


async def test_a_move_in_the_club_room_unlocks_the_readers_live_session_on_another_node(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader sees a session message redacted on node A; they report a place past it in
    their club's room on node B (a club is a source like any other) and the full text arrives
    on their session socket on node A."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http_a:
        host, low = await users(http_a, unique, 2)
        book = await make_book(engines.database_url, f"ClubMove {unique}")
        club = await make_club(http_a, host, f"cm-{unique}", book_id=book)
        assert (await join(http_a, club["id"], low)).status_code == 200
        s = await live_session(http_a, host, book)
        async with WS(a_node.ws_url, low.access_token) as x, \
                WS(a_node.ws_url, host.access_token) as h, \
                WS(b_node.ws_url, low.access_token) as in_club:
            mid = await _hidden_message(s["room"], x, h, 0.6)
            assert (await in_club.subscribe(club["room"]))["type"] == "ack"
            assert (await in_club.move(club["room"], 0.7))["type"] == "ack"
            full = await x.wait(lambda f: _chat_of(mid)(f) and f["data"]["body"] == "the twist")
            assert full["data"]["body"] == "the twist"


async def test_ive_read_this_section_unlocks_the_club_room_live(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A member behind a club chat message sees it redacted; "I've read up to here" on a
    section past it (REST, the other node) pushes the full text to their open club socket."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http_a, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as http_b:
        owner, low = await users(http_a, unique, 2)
        book = await make_book(engines.database_url, f"SecRead {unique}")
        club = await make_club(http_a, owner, f"sr-{unique}", book_id=book)
        assert (await join(http_a, club["id"], low)).status_code == 200
        opens = "2026-01-01T09:00:00Z"
        r = await http_a.post(f"/api/v1/clubs/{club['id']}/schedule", headers=owner.headers,
                              json={"sections": [
                                  {"title": "Part 1", "start": 0, "end": 0.5, "opens_at": opens},
                                  {"title": "Part 2", "start": 0.5, "end": 0.9,
                                   "opens_at": opens}]})
        assert r.status_code in (200, 201), r.text
        sections = (await http_a.get(f"/api/v1/clubs/{club['id']}/sections",
                                     headers=low.headers)).json()["items"]
        last = sections[-1]
        async with WS(a_node.ws_url, low.access_token) as lo, \
                WS(a_node.ws_url, owner.access_token) as ow:
            mid = await _hidden_message(club["room"], lo, ow, 0.6)
            r = await http_b.post(f"/api/v1/clubs/{club['id']}/sections/{last['id']}/read",
                                  headers=low.headers)
            assert r.status_code == 200, r.text
            full = await lo.wait(lambda f: _chat_of(mid)(f) and f["data"]["body"] == "the twist")
            assert full["data"]["body"] == "the twist"
