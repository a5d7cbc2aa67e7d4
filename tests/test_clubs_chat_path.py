"""Club chat and section-thread posts on the socket's path (the discussion command run on one
checked-out connection, as `discussion_commands.handle` does): each reads the club (or the
section) and its writer in one statement, so a post is two statements, and every rule still
holds (members only, mutes, the gate at the writer's furthest, a thread's opening, floor and
lock, organisers under the lock)."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from domain.accounts.tokens import Principal
from domain.clubs.venue import CLUB_VENUE, THREAD_VENUE
from domain.errors import DomainError
from domain.sessions.onconn import OnConnection
from load.chat_cost import Counting
from realtime.rooms import discussion_commands
from realtime.rooms.discussion_commands import DiscussionCommand
from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, read_to
from tests.conftest import Engines
from tests.test_sessions_helpers import db_exec, make_book


class Path:
    """Runs one discussion command of a club place on one counted connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = Counting(conn)

    async def run(self, venue: Any, place_id: int, user_id: int, data: dict[str, Any],
                  ) -> tuple[Any, int]:
        """(the command's result, the statements it sent) or the DomainError it raised."""
        cmd = discussion_commands.decode(data, DiscussionCommand, "club command")
        self.conn.statements = 0
        who = Principal(user_id=user_id, role="reader", jti="", exp=0)
        out = await discussion_commands.run(OnConnection(self.conn), venue,  # type: ignore[arg-type]
                                            place_id, who, "name", cmd)
        return out.result, self.conn.statements

    async def refused(self, venue: Any, place_id: int, user_id: int,
                      data: dict[str, Any]) -> str:
        with pytest.raises(DomainError) as got:
            await self.run(venue, place_id, user_id, data)
        return got.value.code


async def test_club_chat_and_thread_posts_read_place_and_writer_at_once(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """A member's club chat is gated at their furthest and costs two statements once the book's
    chapters are cached (place with writer, insert); an outsider gets `not_member`, a muted
    member `muted`. A thread refuses members before it opens (not its organisers), then gates
    a post at least at the section's end, a spoiler-free one at its start, in two statements;
    the lock stops members only."""
    owner, member, muted, outsider = [await register(http, unique, prefix=p)
                                      for p in ("ow", "me", "mu", "ou")]
    book = await make_book(engines.database_url, f"Club path {unique}")
    club = await make_club(http, owner, f"path-{unique}", book_id=book)
    cid = club["id"]
    for u in (member, muted):
        assert (await join(http, cid, u)).status_code == 200
    await read_to(http, member, book, 0.4)
    await db_exec(engines.database_url, "UPDATE club_members SET muted = true WHERE club_id = $1"
                  " AND user_id = $2", cid, muted.id)
    (section,) = await db_exec(
        engines.database_url, "INSERT INTO club_sections (club_id, book_id, position, title,"
        " range_start, range_end, opens_at) VALUES ($1, $2, 0, 'Part one', 0.2, 0.5, now()"
        " + interval '1 day') RETURNING id", cid, book)
    sid = int(section["id"])
    chat = {"type": "chat", "body": "the gardener did it"}
    conn = await asyncpg.connect(engines.database_url)
    try:
        path = Path(conn)
        await path.run(CLUB_VENUE, cid, owner.id, chat)  # reads the book (cached from now on)
        msg, statements = await path.run(CLUB_VENUE, cid, member.id, chat)
        assert msg.gate == pytest.approx(0.4) and statements == 2
        assert await path.refused(CLUB_VENUE, cid, outsider.id, chat) == "not_member"
        assert await path.refused(CLUB_VENUE, cid, muted.id, chat) == "muted"
        assert (await path.run(CLUB_VENUE, cid, muted.id, {
            "type": "react", "emoji": "🔥", "message_id": msg.id}))[0].count == 1
        assert await path.refused(THREAD_VENUE, sid, member.id, chat) == "section_not_open"
        early, _ = await path.run(THREAD_VENUE, sid, owner.id, chat)
        assert early.gate == pytest.approx(0.5)
        await db_exec(engines.database_url,
                      "UPDATE club_sections SET opened_at = now() WHERE id = $1", sid)
        post, statements = await path.run(THREAD_VENUE, sid, member.id, chat)
        assert post.gate == pytest.approx(0.5) and statements == 2
        free, _ = await path.run(THREAD_VENUE, sid, member.id, {**chat, "spoiler_free": True})
        assert free.gate == pytest.approx(0.2)
        assert await path.refused(THREAD_VENUE, sid, outsider.id, chat) == "not_member"
        await db_exec(engines.database_url,
                      "UPDATE club_sections SET thread_locked = true WHERE id = $1", sid)
        assert await path.refused(THREAD_VENUE, sid, member.id, chat) == "thread_locked"
        assert (await path.run(THREAD_VENUE, sid, owner.id, chat))[0].author_id == owner.id
    finally:
        await conn.close()


async def test_a_reaction_on_a_message_reads_whom_the_reactor_hides_once(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """A reaction on a club message is three statements (the club with the reactor and their
    view: furthest and whom they hide; the message; the insert with its counts); the ack
    counts what the reactor may see, and a message by someone they muted or who blocked them
    is `message_not_found` for them (in a thread too)."""
    owner, a, b, c = [await register(http, unique, prefix=p) for p in ("ro", "ra", "rb", "rc")]
    book = await make_book(engines.database_url, f"React path {unique}")
    club = await make_club(http, owner, f"react-{unique}", book_id=book)
    cid = club["id"]
    for u in (a, b, c):
        assert (await join(http, cid, u)).status_code == 200
        await read_to(http, u, book, 0.6)
    (section,) = await db_exec(
        engines.database_url, "INSERT INTO club_sections (club_id, book_id, position, title,"
        " range_start, range_end, opens_at, opened_at) VALUES ($1, $2, 0, 'One', 0, 0.5,"
        " now(), now()) RETURNING id", cid, book)
    sid = int(section["id"])
    await db_exec(engines.database_url, "INSERT INTO mutes (muter_id, muted_id) VALUES ($1, $2)",
                  b.id, a.id)
    await db_exec(engines.database_url, "INSERT INTO blocks (blocker_id, blocked_id) VALUES"
                  " ($1, $2)", a.id, c.id)
    conn = await asyncpg.connect(engines.database_url)
    try:
        path = Path(conn)
        msg, _ = await path.run(CLUB_VENUE, cid, a.id, {"type": "chat", "body": "at 60"})
        fire = {"type": "react", "emoji": "🔥", "message_id": msg.id}
        await path.run(CLUB_VENUE, cid, owner.id, fire)
        mine, statements = await path.run(CLUB_VENUE, cid, a.id, fire)
        assert mine.count == 2 and statements == 3
        assert await path.refused(CLUB_VENUE, cid, b.id, fire) == "message_not_found"
        assert await path.refused(CLUB_VENUE, cid, c.id, fire) == "message_not_found"
        post, _ = await path.run(THREAD_VENUE, sid, a.id, {"type": "chat", "body": "here"})
        on_post = {**fire, "message_id": post.id}
        assert (await path.run(THREAD_VENUE, sid, owner.id, on_post))[0].count == 1
        assert await path.refused(THREAD_VENUE, sid, b.id, on_post) == "message_not_found"
    finally:
        await conn.close()
