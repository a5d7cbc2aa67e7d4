"""Session use-cases: create, view, list, start/end, settings, host powers and admission."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.keys import PRESENCE
from domain.sessions.books import get_book
from domain.sessions.schemas import (
    ParticipantOut,
    Position,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionRecord,
    SessionUpdate,
)
from domain.social.rules import blocked_either_way

ROOM_PREFIX = "session:"
_SESSION_COLS = ("id, book_id, title, host_id, mode, visibility, status, capacity, chat_locked, "
                 "shield_default, scheduled_at, started_at, ended_at, created_at, invite_code, "
                 "host_progression, host_locator, host_chapter")


def room_of(session_id: int) -> str:
    return f"{ROOM_PREFIX}{session_id}"


def _now() -> datetime:
    return datetime.now(UTC)


def session_out(row: Any, viewer: Principal | None, participants: int = 0) -> SessionOut:
    privileged = viewer is not None and (viewer.user_id == row["host_id"] or viewer.is_moderator)
    host_position = None
    if row["host_progression"] is not None:
        host_position = Position(progression=row["host_progression"], locator=row["host_locator"],
                                 chapter=row["host_chapter"])
    return SessionOut(
        id=row["id"], book_id=row["book_id"], title=row["title"], host_id=row["host_id"],
        mode=row["mode"], visibility=row["visibility"], status=row["status"],
        capacity=row["capacity"], chat_locked=row["chat_locked"],
        shield_default=row["shield_default"], scheduled_at=row["scheduled_at"],
        started_at=row["started_at"], ended_at=row["ended_at"], created_at=row["created_at"],
        room=room_of(row["id"]), participants=participants,
        invite_code=row["invite_code"] if privileged else None, host_position=host_position)


async def fetch_session(db: Database, session_id: int, *, lock: bool = False,
                        conn: Any = None) -> Any:
    sql = f"SELECT {_SESSION_COLS} FROM reading_sessions WHERE id = $1" + (
        " FOR UPDATE" if lock else "")
    row = await (conn or db.pool).fetchrow(sql, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    return row


async def _participant(db: Database, session_id: int, user_id: int, conn: Any = None) -> Any:
    return await (conn or db.pool).fetchrow(
        "SELECT * FROM session_participants WHERE session_id = $1 AND user_id = $2",
        session_id, user_id)


async def may_see(db: Database, row: Any, viewer: Principal | None) -> bool:
    """Public: everyone; followers: the host's followers; invite: admitted readers. Staff and
    the host always; invited users too; a block between the viewer and the host hides it."""
    if viewer is not None and (viewer.is_moderator or viewer.user_id == row["host_id"]):
        return True
    if viewer is not None and await blocked_either_way(db, viewer.user_id, row["host_id"]):
        return False
    if row["visibility"] == "public":
        return True
    if viewer is None:
        return False
    part = await _participant(db, row["id"], viewer.user_id)
    if part is not None and not part["kicked"]:
        return True
    if await invited(db, row["id"], viewer.user_id):
        return True
    if row["visibility"] == "followers":
        return await _follows(db, viewer.user_id, row["host_id"])
    return False


async def invited(db: Database, session_id: int, user_id: int) -> bool:
    """The host invited this user to this session (`POST /sessions/{id}/invitations`)."""
    return bool(await db.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM session_invitations WHERE session_id = $1"
        " AND user_id = $2)", session_id, user_id))


async def _follows(db: Database, follower: int, followee: int) -> bool:
    return bool(await db.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2 "
        "AND status = 'accepted')", follower, followee))


async def present_counts(redis: Redis | None, session_ids: list[int]) -> dict[int, int]:
    """Readers present right now, per session, from the hub's presence hashes (one member per
    user, kept across nodes): one pipelined HLEN per session."""
    if not session_ids or redis is None:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for sid in session_ids:
            pipe.hlen(f"{PRESENCE}{room_of(sid)}")
        counts = await pipe.execute()
    return {sid: int(n) for sid, n in zip(session_ids, counts)}


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
            f" RETURNING {_SESSION_COLS}",
            data.book_id, host.user_id, title, data.mode, data.visibility, code, data.capacity,
            scheduled, data.shield_default)
        await conn.execute(
            "INSERT INTO session_participants (session_id, user_id) VALUES ($1, $2)",
            row["id"], host.user_id)
    return session_out(row, host)


async def get_session(db: Database, session_id: int, viewer: Principal | None,
                      redis: Redis | None = None) -> SessionOut:
    row = await fetch_session(db, session_id)
    if not await may_see(db, row, viewer):
        raise NotFound(f"no session {session_id}", code="session_not_found")
    counts = await present_counts(redis, [session_id])
    return session_out(row, viewer, counts.get(session_id, 0))


def parse_cursor(value: str | None) -> int | None:
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
    each with its count of readers present; only sessions the viewer may see."""
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
        where.append("(s.host_id = $1 OR EXISTS (SELECT 1 FROM session_participants p"
                     " WHERE p.session_id = s.id AND p.user_id = $1 AND NOT p.kicked))")
    else:
        where.append("s.status = 'live'" if which == "live" else "s.status = 'scheduled'")
        if not staff:
            where.append(
                "(s.visibility = 'public' OR s.host_id = $1"
                " OR (s.visibility = 'followers' AND EXISTS (SELECT 1 FROM follows f"
                "     WHERE f.follower_id = $1 AND f.followee_id = s.host_id"
                "     AND f.status = 'accepted'))"
                " OR EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = s.id"
                "     AND p.user_id = $1 AND NOT p.kicked)"
                " OR EXISTS (SELECT 1 FROM session_invitations i WHERE i.session_id = s.id"
                "     AND i.user_id = $1))")
            where.append("NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND"
                         " b.blocked_id = s.host_id) OR (b.blocker_id = s.host_id AND"
                         " b.blocked_id = $1))")
    cols = ", ".join(f"s.{c.strip()}" for c in _SESSION_COLS.split(","))
    rows = await db.pool.fetch(
        f"SELECT {cols} FROM reading_sessions s WHERE {' AND '.join(where)}"
        f" ORDER BY s.id DESC LIMIT {limit + 1}", uid, before)
    more = len(rows) > limit
    rows = rows[:limit]
    counts = await present_counts(redis, [r["id"] for r in rows])
    items = [session_out(r, viewer, counts.get(r["id"], 0)) for r in rows]
    return SessionPage(items=items, next_cursor=str(rows[-1]["id"]) if more and rows else None)


def _require_host(row: Any, actor: Principal) -> None:
    if actor.user_id != row["host_id"] and not actor.is_moderator:
        raise Forbidden("only the host or a moderator may do this", code="not_host")


async def start_session(db: Database, actor: Principal, session_id: int) -> SessionOut:
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        _require_host(row, actor)
        if row["status"] != "scheduled":
            raise Conflict(f"the session is {row['status']}", code=f"session_{row['status']}")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET status = 'live', started_at = now() WHERE id = $1"
            f" RETURNING {_SESSION_COLS}", session_id)
        # readers already in the room start counting attendance now
        await conn.execute(
            "UPDATE session_participants SET present_since = now() WHERE session_id = $1"
            " AND connections > 0 AND NOT kicked AND present_since IS NULL", session_id)
    return session_out(row, actor)


async def last_position(db: Database, session_id: int, user_id: int) -> Position | None:
    """A reader's last reported position in a session (None before the first report)."""
    row = await db.pool.fetchrow(
        "SELECT progression, locator, chapter FROM session_participants WHERE session_id = $1"
        " AND user_id = $2", session_id, user_id)
    if row is None or row["progression"] is None:
        return None
    return Position(progression=row["progression"], locator=row["locator"],
                    chapter=row["chapter"])


async def end_session(db: Database, actor: Principal, session_id: int) -> SessionOut:
    """Live (or scheduled) -> ended; attendance of readers still present is closed."""
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        _require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("the session has already ended", code="session_ended")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET status = 'ended', ended_at = now() WHERE id = $1"
            f" RETURNING {_SESSION_COLS}", session_id)
        await conn.execute(
            "UPDATE session_participants SET seconds_present = seconds_present"
            " + GREATEST(0, extract(epoch FROM now() - present_since))::int,"
            " present_since = NULL WHERE session_id = $1 AND present_since IS NOT NULL",
            session_id)
    return session_out(row, actor)


async def update_session(db: Database, actor: Principal, session_id: int,
                         data: SessionUpdate) -> SessionOut:
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        _require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("an ended session is read-only", code="session_ended")
        title = data.title.strip() if data.title is not None else None
        if title == "":
            raise Invalid("title must not be blank", code="invalid_title", field="title")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET chat_locked = COALESCE($2, chat_locked),"
            " shield_default = COALESCE($3, shield_default), title = COALESCE($4, title)"
            f" WHERE id = $1 RETURNING {_SESSION_COLS}",
            session_id, data.chat_locked, data.shield_default, title)
    return session_out(row, actor)


async def _target(conn: Any, session_id: int, user_id: int) -> Any:
    part = await conn.fetchrow(
        "SELECT * FROM session_participants WHERE session_id = $1 AND user_id = $2 FOR UPDATE",
        session_id, user_id)
    if part is None:
        raise NotFound(f"user {user_id} is not in this session", code="not_participant",
                       field="user_id")
    return part


async def hand_over(db: Database, actor: Principal, session_id: int, new_host: int) -> SessionOut:
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        _require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("an ended session is read-only", code="session_ended")
        part = await _target(conn, session_id, new_host)
        if part["kicked"]:
            raise Conflict("a removed reader cannot host", code="kicked")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET host_id = $2, host_progression = $3, host_locator = $4,"
            f" host_chapter = $5 WHERE id = $1 RETURNING {_SESSION_COLS}",
            session_id, new_host, part["progression"], part["locator"], part["chapter"])
    return session_out(row, actor)


async def set_flag(db: Database, actor: Principal, session_id: int, user_id: int,
                   flag: str, value: bool) -> None:
    """Host power: mute/unmute (`muted`) or remove (`kicked`) a participant."""
    assert flag in ("muted", "kicked")
    async with db.pool.acquire() as conn, conn.transaction():
        row = await fetch_session(db, session_id, lock=True, conn=conn)
        _require_host(row, actor)
        if row["status"] == "ended":
            raise Conflict("an ended session is read-only", code="session_ended")
        if user_id == row["host_id"]:
            raise Conflict("the host cannot be muted or removed", code="is_host",
                           field="user_id")
        if flag == "kicked":
            await conn.execute(
                "INSERT INTO session_participants (session_id, user_id, kicked) VALUES ($1, $2,"
                " true) ON CONFLICT (session_id, user_id) DO UPDATE SET kicked = true,"
                " seconds_present = session_participants.seconds_present + CASE WHEN"
                " session_participants.present_since IS NULL THEN 0 ELSE GREATEST(0, extract("
                "epoch FROM now() - session_participants.present_since))::int END,"
                " present_since = NULL, connections = 0", session_id, user_id)
        else:
            await _target(conn, session_id, user_id)
            await conn.execute(
                "UPDATE session_participants SET muted = $3 WHERE session_id = $1"
                " AND user_id = $2", session_id, user_id, value)


async def join_session(db: Database, who: Principal, session_id: int,
                       invite_code: str | None = None, *, via_socket: bool = False) -> Any:
    """Admit a reader (see `admit`); returns the session row."""
    return (await admit(db, who, session_id, invite_code, via_socket=via_socket))[0]


async def admit(db: Database, who: Principal, session_id: int,
                invite_code: str | None = None, *, via_socket: bool = False) -> tuple[Any, bool]:
    """Admit a reader (REST join with the invite code, or a socket subscribe). Returns the session
    row and whether the reader was admitted just now (first time). Refuses kicked readers,
    strangers to invite-only/followers sessions (invited users need no code), full sessions.

    Readers already admitted take a two-query path; the checks run before the transaction, which
    only serialises the capacity count (session row locked) and the insert — so it never waits
    for a second pool connection while holding one."""
    row = await fetch_session(db, session_id)
    kicked = await db.pool.fetchval(
        "SELECT kicked FROM session_participants WHERE session_id = $1 AND user_id = $2",
        session_id, who.user_id)
    if kicked:
        raise Forbidden("you were removed from this session", code="kicked")
    if kicked is not None:
        return row, False
    staff = who.is_moderator or who.user_id == row["host_id"]
    if not staff:
        if await blocked_either_way(db, who.user_id, row["host_id"]):
            raise NotFound(f"no session {session_id}", code="session_not_found")
        if row["visibility"] != "public" and await invited(db, session_id, who.user_id):
            pass  # the host invited them: no code, no follow needed
        elif row["visibility"] == "invite":
            if via_socket or not invite_code:
                raise Forbidden("this session is invite-only: join with the invite code",
                                code="invite_required")
            if not secrets.compare_digest(invite_code, row["invite_code"] or ""):
                raise Forbidden("wrong invite code", code="invite_invalid")
        elif (row["visibility"] == "followers"
              and not await _follows(db, who.user_id, row["host_id"])):
            raise Forbidden("only the host's followers may join", code="followers_only")
        if row["status"] == "ended":
            raise Conflict("the session has ended", code="session_ended")
    async with db.pool.acquire() as conn, conn.transaction():
        locked = await fetch_session(db, session_id, lock=True, conn=conn)
        if not staff:
            taken = await conn.fetchval(
                "SELECT count(*) FROM session_participants WHERE session_id = $1"
                " AND NOT kicked", session_id)
            if taken >= locked["capacity"]:
                raise Conflict("the session is full", code="session_full")
        added = await conn.fetchval(
            "INSERT INTO session_participants (session_id, user_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING id", session_id, who.user_id)
        kicked = await conn.fetchval(
            "SELECT kicked FROM session_participants WHERE session_id = $1 AND user_id = $2",
            session_id, who.user_id)
    if kicked:  # kicked between the check and the insert
        raise Forbidden("you were removed from this session", code="kicked")
    return locked, added is not None


async def connect(db: Database, who: Principal, session_id: int) -> tuple[Any, Any, bool]:
    """A socket enters the room: admit, count the connection; returns (session, participant,
    admitted just now)."""
    row, new = await admit(db, who, session_id, via_socket=True)
    part = await db.pool.fetchrow(
        "UPDATE session_participants SET connections = connections + 1,"
        " present_since = COALESCE(present_since, CASE WHEN $3 = 'live' THEN now() END)"
        " WHERE session_id = $1 AND user_id = $2 AND NOT kicked RETURNING *",
        session_id, who.user_id, row["status"])
    if part is None:
        raise Forbidden("you were removed from this session", code="kicked")
    return row, part, new


async def disconnect(db: Database, session_id: int, user_id: int) -> None:
    """A socket left the room: when it was the reader's last, close their attendance span."""
    await db.pool.execute(
        "UPDATE session_participants SET connections = GREATEST(0, connections - 1),"
        " seconds_present = seconds_present + CASE WHEN connections <= 1 AND present_since"
        " IS NOT NULL THEN GREATEST(0, extract(epoch FROM now() - present_since))::int ELSE 0"
        " END, present_since = CASE WHEN connections <= 1 THEN NULL ELSE present_since END"
        " WHERE session_id = $1 AND user_id = $2", session_id, user_id)


class Moved(msgspec.Struct, frozen=True):
    """The result of a position report: the normalised position and the furthest before/after."""

    position: Position
    old_furthest: float | None
    new_furthest: float
    follow: bool  # the host of a follow-mode session moved: broadcast it
    shield: bool  # the reader's effective shield
    gated: bool = False  # content by others has gates in (old furthest, new furthest]
    kinds: str = ""  # which: "m" messages, "r" reactions, "a" annotations


MOVE_SQL = """
WITH s AS (SELECT id, status, mode, host_id, shield_default FROM reading_sessions WHERE id = $1),
old AS (SELECT furthest, kicked, shield FROM session_participants
        WHERE session_id = $1 AND user_id = $2 FOR UPDATE),
upd AS (UPDATE session_participants p SET progression = $3, locator = $4, chapter = $5,
               furthest = GREATEST(COALESCE(p.furthest, 0), $3),
               start_progression = COALESCE(p.start_progression, $3)
        FROM s WHERE p.session_id = $1 AND p.user_id = $2 AND NOT p.kicked
        AND s.status <> 'ended' RETURNING p.furthest)
SELECT s.status, s.mode, s.host_id, s.shield_default, old.furthest AS old_furthest,
       old.kicked, old.shield, (SELECT furthest FROM upd) AS new_furthest,
       (GREATEST(COALESCE(old.furthest, 0), $3) > COALESCE(old.furthest, 0)) AS forward,
       (GREATEST(COALESCE(old.furthest, 0), $3) > COALESCE(old.furthest, 0)) AND EXISTS (SELECT 1 FROM session_messages m WHERE m.session_id = $1
                 AND m.gate > COALESCE(old.furthest, 0) AND m.gate <= $3
                 AND m.deleted_at IS NULL AND m.author_id <> $2) AS gated_m,
       (GREATEST(COALESCE(old.furthest, 0), $3) > COALESCE(old.furthest, 0)) AND EXISTS (SELECT 1 FROM session_reactions r WHERE r.session_id = $1
                 AND r.gate > COALESCE(old.furthest, 0) AND r.gate <= $3 AND r.author_id <> $2) AS gated_r,
       (GREATEST(COALESCE(old.furthest, 0), $3) > COALESCE(old.furthest, 0)) AND EXISTS (SELECT 1 FROM session_annotations a WHERE a.session_id = $1
                 AND a.gate > COALESCE(old.furthest, 0) AND a.gate <= $3
                 AND a.deleted_at IS NULL AND a.author_id <> $2 AND a.visibility <> 'private') AS gated_a
FROM s LEFT JOIN old ON true
"""


def check_position(position: Position, chapter_at: Any = None) -> Position:
    """Validate a reported position (progression 0..1, locator <= 512 chars) and set the
    chapter from the book's table of contents when it has one."""
    from domain.sessions.spoilers import check_progression

    progression = check_progression(position.progression)
    locator = position.locator
    if locator is not None and (not isinstance(locator, str) or len(locator) > 512):
        raise Invalid("locator must be a string of at most 512 characters",
                      code="invalid_position", field="locator")
    chapter = chapter_at(progression) if chapter_at is not None else None
    if chapter is None and position.chapter is not None:
        if position.chapter < 0 or position.chapter > 100000:
            raise Invalid("chapter must be a TOC index", code="invalid_position",
                          field="chapter")
        chapter = position.chapter
    return Position(progression=progression, locator=locator, chapter=chapter)


async def move(db: Database, session_id: int, user_id: int, position: Position,
               chapter_at: Any = None, writer: Any = None) -> Moved:
    """Record a reader's position (one statement; a second only for a follow-mode host). The
    same statement says whether the move passed any gate, so most moves cost one round trip.
    With a `positions.MoveWriter`, moves arriving together share one statement (group commit:
    still written before this returns)."""
    pos = check_position(position, chapter_at)
    args = (session_id, user_id, pos.progression, pos.locator, pos.chapter)
    row = (await writer.write(args) if writer is not None
           else await db.pool.fetchrow(MOVE_SQL, *args))
    if row is None:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    if row["status"] == "ended":
        raise Conflict("the session has ended", code="session_ended")
    if row["new_furthest"] is None:
        raise Forbidden("you are not in this session", code="not_participant")
    follow = row["mode"] == "follow" and row["host_id"] == user_id
    if follow:
        await db.pool.execute(
            "UPDATE reading_sessions SET host_progression = $2, host_locator = $3,"
            " host_chapter = $4 WHERE id = $1", session_id, pos.progression, pos.locator,
            pos.chapter)
    shield = row["shield"] if row["shield"] is not None else row["shield_default"]
    kinds = "".join(k for k in "mra" if row[f"gated_{k}"])
    return Moved(position=pos, old_furthest=row["old_furthest"],
                 new_furthest=float(row["new_furthest"]), follow=follow, shield=bool(shield),
                 gated=bool(kinds), kinds=kinds)


async def set_shield(db: Database, session_id: int, user_id: int, enabled: bool | None) -> bool:
    """A reader turns their own shield on/off (None: back to the room default); effective value."""
    row = await db.pool.fetchrow(
        "UPDATE session_participants p SET shield = $3 FROM reading_sessions s"
        " WHERE p.session_id = $1 AND p.user_id = $2 AND s.id = p.session_id AND NOT p.kicked"
        " RETURNING COALESCE(p.shield, s.shield_default) AS effective",
        session_id, user_id, enabled)
    if row is None:
        raise Forbidden("you are not in this session", code="not_participant")
    return bool(row["effective"])


async def session_record(db: Database, viewer: Principal | None, session_id: int) -> SessionRecord:
    """Who came, how long they stayed, how far they read together, and what was made."""
    out = await get_session(db, session_id, viewer)
    rows = await db.pool.fetch(
        "SELECT p.*, u.display_name, p.seconds_present + CASE WHEN p.present_since IS NULL"
        " THEN 0 ELSE GREATEST(0, extract(epoch FROM now() - p.present_since))::int END AS secs"
        " FROM session_participants p JOIN users u ON u.id = p.user_id"
        " WHERE p.session_id = $1 ORDER BY p.joined_at, p.id", session_id)
    attendance = [ParticipantOut(
        user_id=r["user_id"], display_name=r["display_name"], joined_at=r["joined_at"],
        seconds_present=int(r["secs"]), present=r["connections"] > 0 and not r["kicked"],
        progression=r["progression"], furthest=r["furthest"],
        start_progression=r["start_progression"], chapter=r["chapter"], muted=r["muted"],
        kicked=r["kicked"]) for r in rows]
    together = sum(max(0.0, (r["furthest"] or 0.0) - (r["start_progression"] or 0.0))
                   for r in rows)
    counts = await db.pool.fetchrow(
        "SELECT (SELECT count(*) FROM session_messages WHERE session_id = $1"
        " AND deleted_at IS NULL) AS m, (SELECT count(*) FROM session_reactions"
        " WHERE session_id = $1) AS r, (SELECT count(*) FROM session_annotations"
        " WHERE session_id = $1 AND deleted_at IS NULL) AS a", session_id)
    duration = None
    if out.started_at is not None:
        end = out.ended_at or _now()
        duration = int((end - out.started_at).total_seconds())
    book = await get_book(db, out.book_id)
    pages = round(together * book.page_count) if book.page_count else None
    return SessionRecord(session=out, duration_seconds=duration, attendance=attendance,
                         progress_read_together=round(together, 6), pages_read_together=pages,
                         messages=counts["m"],
                         reactions=counts["r"], annotations=counts["a"])


async def start_due_sessions(db: Database, now: datetime | None = None) -> list[int]:
    """Scheduled sessions whose start time has come go live (for the worker's schedule job);
    returns their ids so the caller can publish a `status` event to each room."""
    async with db.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "UPDATE reading_sessions SET status = 'live', started_at = now()"
            " WHERE status = 'scheduled' AND scheduled_at IS NOT NULL AND scheduled_at <= $1"
            " RETURNING id", now or _now())
        ids = sorted(int(r["id"]) for r in rows)
        if ids:  # readers already in those rooms start counting attendance now
            await conn.execute(
                "UPDATE session_participants SET present_since = now() WHERE session_id ="
                " ANY($1::bigint[]) AND connections > 0 AND NOT kicked AND present_since IS NULL",
                ids)
    return ids
