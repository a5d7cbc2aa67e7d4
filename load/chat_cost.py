"""CPU per chat on the web side and in PostgreSQL, and statements per chat, through the socket's
own path minus the network: decode the `publish.data`, run the use-case on one checked-out
connection (as `discussion_commands.handle` does), build the event's carrier and encode it once
(as the hub's publish does). Real engines (embedded PostgreSQL and Redis); figures do not depend
on how busy the machine is: process CPU time of this process, of the PostgreSQL backend serving
the connection (/proc), and statements counted on the connection.

    python -m load.chat_cost --chats 2000
    python -m load.chat_cost --place club          # club chat (`club:<id>`); club_thread: posts
    PYTHONPATH=/tmp/tree-of-58fdd46 python load/chat_cost.py   # the same on another tree
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Counting:
    """One asyncpg connection that counts the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            async def counted(*args: Any, **kwargs: Any) -> Any:
                self.statements += 1
                return await target(*args, **kwargs)
            return counted
        return target


def _venue(place: str) -> tuple[Any, Any]:
    """The venue of a place kind and the command union its room decodes."""
    from realtime.rooms.discussion_commands import DiscussionCommand

    if place == "club":
        from domain.clubs.venue import CLUB_VENUE
        return CLUB_VENUE, DiscussionCommand
    if place == "club_thread":
        from domain.clubs.venue import THREAD_VENUE
        return THREAD_VENUE, DiscussionCommand
    from domain.sessions.venue import VENUE
    from realtime.rooms.session.commands import SessionCommand
    return VENUE, SessionCommand


async def measure(database_url: str, sid: int, readers: list[int], chats: int,
                  kind: str, place: str = "session") -> dict[str, float]:
    from domain.accounts.tokens import Principal
    from domain.db import Database
    from domain.discussion.commit import Outcome
    from domain.sessions.onconn import OnConnection
    from realtime.rooms import discussion_commands
    from realtime.rooms.discussion import room_event
    from realtime.wire import encode_event

    venue, commands = _venue(place)

    db = Database(database_url, pool_size=2)
    await db.connect()
    try:
        who = [Principal(user_id=u, role="reader", jti="", exp=0) for u in readers]
        async with db.pool.acquire() as raw:
            backend = int(await raw.fetchval("SELECT pg_backend_pid()"))
            conn = Counting(raw)
            mid = None

            def data(i: int) -> dict[str, Any]:
                if kind == "react" and mid is not None:
                    return {"type": "react", "emoji": "🔥", "message_id": mid}
                return {"type": "chat", "body": f"chat {i} about the book"}

            async def one(i: int) -> Outcome[Any]:
                cmd = discussion_commands.decode(data(i), commands, f"{place} command")
                out = await discussion_commands.run(OnConnection(conn), venue, sid,  # type: ignore[arg-type]
                                                    who[i % len(who)], "bench", cmd)
                for ev in out.events:
                    encode_event(room_event(ev))
                return out

            first = await one(0)  # warm: prepared statements, caches
            mid = first.result.id
            for i in range(20):
                await one(i)
            conn.statements = 0
            web0, pg0, t0 = time.process_time(), _proc_cpu(backend), time.monotonic()
            for i in range(chats):
                await one(i)
            web, pg = time.process_time() - web0, _proc_cpu(backend) - pg0
            wall = time.monotonic() - t0
        return {"web_ms": 1000 * web / chats, "pg_ms": 1000 * pg / chats,
                "statements": conn.statements / chats, "wall_ms": 1000 * wall / chats}
    finally:
        await db.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chats", type=int, default=2000)
    p.add_argument("--readers", type=int, default=8)
    p.add_argument("--kind", choices=("chat", "react"), default="chat")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--place", choices=("session", "club", "club_thread"), default="session",
                   help="a co-reading session, a club's chat or an open section's thread")
    args = p.parse_args()
    from load.procs import ROOT  # noqa: F401  (the repository root is importable)
    from load.scenarios.rooms_setup import make_sessions
    from load.stack import Pinning, Stack
    from load.users import ensure_users

    with Stack(Pinning("off")) as stack:
        stack.start_engines()
        users = ensure_users(stack, args.readers)
        if args.place == "session":
            sid = make_sessions(stack, users[:1])[0]
            asyncio.run(_join(stack.database_url, sid, users))
        else:
            sid = asyncio.run(_club(stack.database_url, users, args.place))
        for r in range(args.runs):
            got = asyncio.run(measure(stack.database_url, sid, users, args.chats, args.kind,
                                      args.place))
            print(f"run {r + 1}: {args.place} {args.kind} x {args.chats}:"
                  f" web {got['web_ms']:.3f} ms,"
                  f" PostgreSQL {got['pg_ms']:.3f} ms, {got['statements']:.2f} statements,"
                  f" wall {got['wall_ms']:.3f} ms per {args.kind}", flush=True)


async def _club(database_url: str, users: list[int], place: str) -> int:
    """A club every user is a member of (the bench club of `load.scenarios.clubs`), each at
    0.3 in its book: the club's id, or (`club_thread`) its section's, opened now."""
    import asyncpg

    from load.scenarios.clubs import _setup

    club, section = await _setup(database_url, users)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE club_sections SET opened_at = now() WHERE id = $1", section)
        await conn.execute(
            "INSERT INTO reading_states (user_id, book_id, status, position, furthest)"
            " SELECT u, c.book_id, 'reading', 0.3, 0.3 FROM unnest($1::bigint[]) AS u, clubs c"
            " WHERE c.id = $2 ON CONFLICT DO NOTHING", users, club)
    finally:
        await conn.close()
    return club if place == "club" else section


async def _join(database_url: str, sid: int, users: list[int]) -> None:
    from domain.accounts.tokens import Principal
    from domain.db import Database
    from domain.sessions import admission

    db = Database(database_url, pool_size=2)
    await db.connect()
    try:
        for u in users:
            await admission.connect(db, Principal(user_id=u, role="reader", jti="", exp=0), sid)
    finally:
        await db.close()


if __name__ == "__main__":
    main()
