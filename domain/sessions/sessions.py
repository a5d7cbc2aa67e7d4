"""Session use-cases: create, read, list (live, upcoming, mine), start, end and host settings."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.keys import PRESENCE_PART, room_key
from domain.sessions.admission import may_see
from domain.sessions.books import get_book
from domain.sessions.record import close_attendance
from domain.sessions.rows import SESSION_COLS, fetch_session, require_host, room_of, session_out
from domain.sessions.schemas import SessionCreate, SessionOut, SessionPage, SessionUpdate

# what a non-staff viewer ($1) may list: visible to them, and no block either way with the host
_VISIBLE_SQL = (
    "(s.visibility = 'public' OR s.host_id = $1"
    " OR (s.visibility = 'followers' AND EXISTS (SELECT 1 FROM follows f"
    "     WHERE f.follower_id = $1 AND f.followee_id = s.host_id"
    "     AND f.status = 'accepted'))"
    " OR EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = s.id"
    "     AND p.user_id = $1 AND NOT p.kicked)"
    " OR EXISTS (SELECT 1 FROM session_invitations i WHERE i.session_id = s.id"
    "     AND i.user_id = $1))")
_UNBLOCKED_SQL = ("NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND"
                  " b.blocked_id = s.host_id) OR (b.blocker_id = s.host_id AND"
                  " b.blocked_id = $1))")
_MINE_SQL = ("(s.host_id = $1 OR EXISTS (SELECT 1 FROM session_participants p"
             " WHERE p.session_id = s.id AND p.user_id = $1 AND NOT p.kicked))")


async def present_counts(redis: Redis | None, session_ids: list[int]) -> dict[int, int]:
    """Readers present right now, per session, from the hub's presence hashes (one member per
    user, kept across nodes): one pipelined HLEN per session."""
    if not session_ids or redis is None:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for sid in session_ids:
            pipe.hlen(room_key(room_of(sid), PRESENCE_PART))
        counts = await pipe.execute()
    return {sid: int(n) for sid, n in zip(session_ids, counts, strict=True)}


async def create_session(db: Database, host: Principal, data: SessionCreate) -> SessionOut:
    """A new scheduled session for an existing book, hosted by its creator."""
    title = data.title.strip()
    if not title:
        raise Invalid("title must not be blank", code="invalid_title", field="title")
    await get_book(db, data.book_id)
    scheduled = data.scheduled_at
    if scheduled is not None and scheduled.tzinfo is None:
        raise Invalid("scheduled_at needs a time zone", code="invalid_time", field="scheduled_at")
    code = secrets.token_urlsafe(12) if data.visibility == "invite" else None
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO reading_sessions (book_id, host_id, created_by, title, mode, visibility,"
            " invite_code, capacity, scheduled_at, shield_default)"
            " VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9)"
            f" RETURNING {SESSION_COLS}",
            data.book_id, host.user_id, title, data.mode, data.visibility, code, data.capacity,
            scheduled, data.shield_default)
        await conn.execute(
            "INSERT INTO session_participants (session_id, user_id) VALUES ($1, $2)",
            row["id"], host.user_id)
    return session_out(row, host)


async def get_session(db: Database, session_id: int, viewer: Principal | None,
                      redis: Redis | None = None) -> SessionOut:
    """One session the viewer may see (else `NotFound`), with its readers present now."""
    row = await fetch_session(db, session_id)
    if not await may_see(db, row, viewer):
        raise NotFound(f"no session {session_id}", code="session_not_found")
    counts = await present_counts(redis, [session_id])
    return session_out(row, viewer, counts.get(session_id, 0))


def parse_cursor(value: str | None) -> int | None:
    """An id cursor this API gave out (None: the first page), else `Invalid(invalid_cursor)`."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid("cursor is not one this API gave out", code="invalid_cursor",
                      field="cursor") from None


async def list_sessions(db: Database, viewer: Principal | None, which: str,
                        cursor: str | None = None, limit: int = 20,
                        redis: Redis | None = None) -> SessionPage:
    """`live` (running now), `upcoming` (scheduled) or `mine` (hosting or joined), newest first,
    each with its count of readers present; only sessions the viewer may see (a block either
    way with the host hides a session from every list)."""
    if which not in ("live", "upcoming", "mine"):
        raise Invalid("list must be live, upcoming or mine", code="invalid_list", field="list")
    if which == "mine" and viewer is None:
        raise Forbidden("log in to see your sessions", code="auth_required")
    limit = max(1, min(limit, 100))
    before = parse_cursor(cursor)
    uid = viewer.user_id if viewer is not None else 0
    staff = viewer is not None and viewer.is_moderator
    where = ["($2::bigint IS NULL OR s.id < $2)", "$1::bigint IS NOT NULL"]  # $1 typed for staff
    if which == "mine":
        where.append(_MINE_SQL)
    else:
        where.append("s.status = 'live'" if which == "live" else "s.status = 'scheduled'")
        if not staff:
            where.append(_VISIBLE_SQL)
    if not staff:
        where.append(_UNBLOCKED_SQL)
    cols = ", ".join(f"s.{c.strip()}" for c in SESSION_COLS.split(","))
    rows = await db.pool.fetch(
        f"SELECT {cols} FROM reading_sessions s WHERE {' AND '.join(where)}"
        f" ORDER BY s.id DESC LIMIT {limit + 1}", uid, before)
    more = len(rows) > limit
    rows = rows[:limit]
    counts = await present_counts(redis, [r["id"] for r in rows])
    items = [session_out(r, viewer, counts.get(r["id"], 0)) for r in rows]
    return SessionPage(items=items, next_cursor=str(rows[-1]["id"]) if more and rows else None)


async def start_session(db: Database, actor: Principal, session_id: int) -> SessionOut:
    """Host: scheduled -> live; readers already in the room start counting attendance."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        require_host(row, actor)
        if row["status"] != "scheduled":
            raise Conflict(f"the session is {row['status']}", code=f"session_{row['status']}")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET status = 'live', started_at = now() WHERE id = $1"
            f" RETURNING {SESSION_COLS}", session_id)
        await conn.execute(
            "UPDATE session_participants SET present_since = now() WHERE session_id = $1"
            " AND connections > 0 AND NOT kicked AND present_since IS NULL", session_id)
    return session_out(row, actor)


async def end_session(db: Database, actor: Principal, session_id: int) -> SessionOut:
    """Live (or scheduled) -> ended; attendance of readers still present is closed."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("the session has already ended", code="session_ended")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET status = 'ended', ended_at = now() WHERE id = $1"
            f" RETURNING {SESSION_COLS}", session_id)
        await close_attendance(conn, [session_id], row["ended_at"])
    return session_out(row, actor)


async def update_session(db: Database, actor: Principal, session_id: int,
                         data: SessionUpdate) -> SessionOut:
    """Host settings: lock chat, the room's shield default, the title (not once ended)."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("an ended session is read-only", code="session_ended")
        title = data.title.strip() if data.title is not None else None
        if title == "":
            raise Invalid("title must not be blank", code="invalid_title", field="title")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET chat_locked = COALESCE($2, chat_locked),"
            " shield_default = COALESCE($3, shield_default), title = COALESCE($4, title)"
            f" WHERE id = $1 RETURNING {SESSION_COLS}",
            session_id, data.chat_locked, data.shield_default, title)
    return session_out(row, actor)
