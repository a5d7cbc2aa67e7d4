"""Club moves (`club:<id>` and a section's thread `club_thread:<id>`) acked in Redis and written
behind to PostgreSQL (the session move path), on two real server processes: the live shield on
the other node follows a move at once, REST hides more until the write-behind has stored it and
agrees after, an author's gate at writing time takes the live furthest, a member who left is
refused with `not_member` (in a thread too, where a move before the section opened is not
taken), a club switching books starts each reader from that book's furthest, and a batch a dead
node left in flight is written by another node."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from realtime.rooms.positions.writebehind import INFLIGHT, inflight_key
from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, open_sections_at, read_to
from tests.conftest import Engines
from tests.fixture_helpers import running_nodes
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, db_exec, make_book


@pytest.fixture(scope="module")
def nodes(engines: Engines, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[ServerProcess]]:
    with running_nodes(engines.env(READALONG_REGISTER_RATE="100000",
                                   READALONG_POSITIONS_RECLAIM_AFTER="1"),
                       Path(tmp_path_factory.mktemp("club-hotpath"))) as procs:
        yield procs


def _chat(mid: int) -> Any:
    return lambda f: f.get("event") == "chat" and f["data"]["id"] == mid


def _messages(club_id: int, section_id: int | None = None) -> str:
    """The REST path of club chat, or of a section's thread posts."""
    if section_id is None:
        return f"/api/v1/clubs/{club_id}/messages"
    return f"/api/v1/clubs/{club_id}/sections/{section_id}/posts"


async def _listed(http: httpx.AsyncClient, where: int | str, headers: dict[str, str],
                  mid: int) -> dict[str, Any]:
    """A message as listed over REST (`where`: a club id, or a `_messages` path)."""
    r = await http.get(_messages(where) if isinstance(where, int) else where, headers=headers)
    assert r.status_code == 200, r.text
    (msg,) = [m for m in r.json()["items"] if m["id"] == mid]
    return msg  # type: ignore[no-any-return]


async def _post(http: httpx.AsyncClient, where: int | str, who: Any,
                body: str) -> dict[str, Any]:
    r = await http.post(_messages(where) if isinstance(where, int) else where,
                        json={"body": body}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _furthest(engines: Engines, user_id: int, book_id: int) -> float | None:
    rows = await db_exec(engines.database_url, "SELECT furthest FROM reading_states"
                         " WHERE user_id = $1 AND book_id = $2", user_id, book_id)
    return float(rows[0]["furthest"]) if rows else None


async def _section(http: httpx.AsyncClient, engines: Engines, club_id: int, owner: Any,
                   opened: bool) -> int:
    """The club's one section (0 to 0.3): opened an hour ago, or opening tomorrow."""
    at = datetime.now(UTC) + (timedelta(hours=-1) if opened else timedelta(days=1))
    r = await http.post(f"/api/v1/clubs/{club_id}/schedule", headers=owner.headers, json={
        "sections": [{"title": "One", "start": 0.0, "end": 0.3, "opens_at": at.isoformat()}]})
    assert r.status_code in (200, 201), r.text
    if opened:
        await open_sections_at(engines, datetime.now(UTC))
    return int(r.json()["items"][0]["id"])


@pytest.mark.parametrize("kind", ["club", "club_thread"])
async def test_the_live_shield_follows_on_the_other_node_and_rest_catches_up(
        nodes: list[ServerProcess], engines: Engines, unique: str, kind: str) -> None:
    """(Club chat, and a section's thread.) A member with tabs on both nodes moves from 0.1
    to 0.6 while PostgreSQL holds up the write (their reading state is locked): the move is
    acked; a message gated at 0.5 posted next reaches both tabs in full (the live shield on
    the other node followed), one gated at 0.9 stays redacted; REST on either node still hides
    the earlier 0.5 message (it reads the stored furthest: more hidden, never less); the
    mover's own post over REST on the other node is gated at 0.6 already. Once the lock goes
    the move is stored, the earlier message is pushed unlocked to both tabs, and REST agrees
    with the live shield."""
    a_node, b_node = nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as a_http, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as b_http:
        owner, hi, mid, reader = [await register(a_http, unique, prefix=p)
                                  for p in ("ow", "hi", "mi", "rd")]
        book = await make_book(engines.database_url, f"ClubHot {unique}")
        club = await make_club(a_http, owner, f"hot-{kind[-1]}{unique}", book_id=book,
                               visibility="private")
        cid, room = club["id"], club["room"]
        for u in (hi, mid, reader):
            assert (await join(a_http, cid, u)).status_code == 200
        for u, at in ((hi, 0.9), (mid, 0.5), (reader, 0.1)):
            await read_to(a_http, u, book, at)
        where = _messages(cid)
        if kind == "club_thread":
            sid = await _section(a_http, engines, cid, owner, opened=True)
            room, where = f"club_thread:{sid}", _messages(cid, sid)
        half = await _post(a_http, where, mid, "the half clue")
        late = await _post(a_http, where, hi, "the late twist")
        assert (half["gate"], late["gate"]) == (0.5, 0.9)
        lock = await asyncpg.connect(engines.database_url)
        try:
            async with WS(a_node.ws_url, reader.access_token) as x, \
                    WS(b_node.ws_url, reader.access_token) as y:
                for ws in (x, y):
                    assert (await ws.subscribe(room))["type"] == "ack"
                tx = lock.transaction()
                await tx.start()
                await lock.execute("SELECT 1 FROM reading_states WHERE user_id = $1 AND"
                                   " book_id = $2 FOR UPDATE", reader.id, book)
                assert (await x.move(room, 0.6))["type"] == "ack"  # PostgreSQL held up
                again = await _post(a_http, where, mid, "half again")
                twist = await _post(a_http, where, hi, "twist again")
                for ws in (x, y):  # the live shield at 0.6 on both nodes
                    assert (await ws.wait(_chat(again["id"])))["data"]["body"] == "half again"
                    assert (await ws.wait(_chat(twist["id"])))["data"]["body"] is None
                mine = await _post(b_http, where, reader, "where I am")  # the other node
                assert mine["gate"] == 0.6
                assert await _furthest(engines, reader.id, book) == 0.1  # still behind
                for http in (a_http, b_http):  # the stored 0.1: REST hides more, never less
                    assert (await _listed(http, where, reader.headers,
                                          half["id"]))["redacted"] is True
                    assert (await _listed(http, where, reader.headers,
                                          late["id"]))["redacted"] is True
                await tx.rollback()
                assert await eventually(lambda: _furthest_is(engines, reader.id, book, 0.6))
                for ws in (x, y):  # written: what the move passed is pushed in full
                    got = await ws.wait(lambda f: f.get("event") == "chat"
                                        and f["data"]["id"] == half["id"]
                                        and f["data"].get("unlocked"))
                    assert got["data"]["body"] == "the half clue"
                for http in (a_http, b_http):  # and REST agrees with the live shield
                    assert (await _listed(http, where, reader.headers,
                                          half["id"]))["redacted"] is False
                    assert (await _listed(http, where, reader.headers,
                                          late["id"]))["redacted"] is True
                for ws in (x, y):  # never, on any node, the text past the furthest
                    assert all(f["data"]["body"] is None for f in ws.frames
                               if f.get("event") == "chat"
                               and f["data"]["id"] in (late["id"], twist["id"]))
        finally:
            await lock.close()


async def _furthest_is(engines: Engines, user_id: int, book_id: int, want: float) -> bool:
    return await _furthest(engines, user_id, book_id) == want


async def test_a_member_who_left_is_refused_and_one_who_joined_may_move(
        nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A member moving in a public club's room on node B leaves over REST on node A: back in
    the room (a public club is readable), their next move gets an `error` frame `not_member`
    and their reading state stays where it was; a reader who joins while in the room moves
    at once."""
    a_node, b_node = nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, member, newcomer = [await register(http, unique, prefix=p)
                                   for p in ("ow", "mm", "nw")]
        book = await make_book(engines.database_url, f"ClubLeave {unique}")
        club = await make_club(http, owner, f"leave-{unique}", book_id=book,
                               visibility="public")
        cid, room = club["id"], club["room"]
        assert (await join(http, cid, member)).status_code == 200
        async with WS(b_node.ws_url, member.access_token) as m, \
                WS(b_node.ws_url, newcomer.access_token) as n:
            for ws in (m, n):
                assert (await ws.subscribe(room))["type"] == "ack"
            assert (await m.move(room, 0.3))["type"] == "ack"
            assert await eventually(lambda: _furthest_is(engines, member.id, book, 0.3))
            refused = await n.move(room, 0.2)  # not a member (yet)
            assert refused["type"] == "error" and refused["code"] == "not_member", refused
            r = await http.post(f"/api/v1/clubs/{cid}/leave", headers=member.headers)
            assert r.status_code == 200, r.text
            await m.wait(lambda f: f.get("event") == "left")
            assert (await m.subscribe(room))["type"] == "ack"  # public: still readable
            gone = await m.move(room, 0.4)
            assert gone["type"] == "error" and gone["code"] == "not_member", gone
            assert (await join(http, cid, newcomer)).status_code == 200
            assert (await n.move(room, 0.2))["type"] == "ack"
            assert await eventually(lambda: _furthest_is(engines, newcomer.id, book, 0.2))
        assert await _furthest(engines, member.id, book) == 0.3


async def test_a_thread_takes_no_move_before_it_opens_nor_of_a_member_who_left(
        nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """In a public club's thread room on node B: before the section opens a member's move is
    answered but not taken; once open their move is stored; after they leave over REST on
    node A the thread's room drops them (`left`), and back in it (a public club's thread is
    readable) their next move gets `not_member` and nothing moves."""
    a_node, b_node = nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, member = [await register(http, unique, prefix=p) for p in ("ow", "mm")]
        book = await make_book(engines.database_url, f"ThreadLeave {unique}")
        club = await make_club(http, owner, f"tleave-{unique}", book_id=book,
                               visibility="public")
        cid = club["id"]
        assert (await join(http, cid, member)).status_code == 200
        await read_to(http, member, book, 0.1)
        sid = await _section(http, engines, cid, owner, opened=False)
        room = f"club_thread:{sid}"
        async with WS(b_node.ws_url, member.access_token) as m:
            assert (await m.subscribe(room))["type"] == "ack"
            assert (await m.move(room, 0.3))["type"] == "ack"  # not open yet: not taken
            await db_exec(engines.database_url,
                          "UPDATE club_sections SET opened_at = now() WHERE id = $1", sid)
            assert (await m.move(room, 0.2))["type"] == "ack"
            # the furthest is 0.2, not 0.3: the move before the opening never counted
            assert await eventually(lambda: _furthest_is(engines, member.id, book, 0.2))
            r = await http.post(f"/api/v1/clubs/{cid}/leave", headers=member.headers)
            assert r.status_code == 200, r.text
            await m.wait(lambda f: f.get("room") == room and f.get("event") == "left")
            assert (await m.subscribe(room))["type"] == "ack"  # public: still readable
            gone = await m.move(room, 0.4)
            assert gone["type"] == "error" and gone["code"] == "not_member", gone
        assert await _furthest(engines, member.id, book) == 0.2


async def test_a_club_switching_books_starts_each_reader_from_that_books_furthest(
        nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader at 0.7 in the club's first book (live, on node B) when the club switches to a
    book they read to 0.2: a message gated at 0.3 in the new book reaches them redacted (their
    progress is the new book's, on every node), a move to 0.35 unlocks the next one, and the
    write-behind moves the new book's reading state only."""
    a_node, b_node = nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, author, reader = [await register(http, unique, prefix=p)
                                 for p in ("ow", "au", "rd")]
        first = await make_book(engines.database_url, f"First {unique}")
        second = await make_book(engines.database_url, f"Second {unique}")
        club = await make_club(http, owner, f"switch-{unique}", book_id=first,
                               visibility="private")
        cid, room = club["id"], club["room"]
        for u in (author, reader):
            assert (await join(http, cid, u)).status_code == 200
        await read_to(http, author, second, 0.3)
        await read_to(http, reader, second, 0.2)
        async with WS(b_node.ws_url, reader.access_token) as x:
            assert (await x.subscribe(room))["type"] == "ack"
            assert (await x.move(room, 0.7))["type"] == "ack"
            assert await eventually(lambda: _furthest_is(engines, reader.id, first, 0.7))
            r = await http.patch(f"/api/v1/clubs/{cid}", json={"book_id": second},
                                 headers=owner.headers)
            assert r.status_code == 200, r.text
            msg = await _post(http, cid, author, "second book clue")
            assert msg["gate"] == 0.3
            assert (await x.wait(_chat(msg["id"])))["data"]["body"] is None
            assert (await x.move(room, 0.35))["type"] == "ack"
            nxt = await _post(http, cid, author, "seen now")
            assert (await x.wait(_chat(nxt["id"])))["data"]["body"] == "seen now"
            assert await eventually(lambda: _furthest_is(engines, reader.id, second, 0.35))
        assert await _furthest(engines, reader.id, first) == 0.7


async def test_a_batch_left_in_flight_by_a_dead_node_is_written(
        nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A club room's batch that a node took and died with (its in-flight copy and note left
    in Redis) is reclaimed by a live node and written to the reader's reading state."""
    a_node, _ = nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, reader = [await register(http, unique, prefix=p) for p in ("ow", "rd")]
        book = await make_book(engines.database_url, f"ClubDead {unique}")
        club = await make_club(http, owner, f"dead-{unique}", book_id=book,
                               visibility="private")
        assert (await join(http, club["id"], reader)).status_code == 200
    room = club["room"]
    redis = Redis.from_url(engines.redis_url)
    try:
        await redis.hset(inflight_key(room), f"{reader.id}:{book}",  # type: ignore[misc]
                         "0.7|0.6|0.65||epubcfi(/6/4)")
        await redis.zadd(INFLIGHT, {room: time.time() - 30})
        assert await eventually(lambda: _furthest_is(engines, reader.id, book, 0.7),
                                timeout=15)

        async def released() -> bool:  # after the batch's after-phase (its pushes)
            return not await redis.exists(inflight_key(room)) \
                and await redis.zscore(INFLIGHT, room) is None
        assert await eventually(released)
    finally:
        await redis.aclose()
