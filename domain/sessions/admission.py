"""Admission: who may see and join a session, and a socket entering and leaving its room."""

from __future__ import annotations

import secrets
from typing import Any

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, NotFound
from domain.sessions.rows import fetch_session
from domain.social.rules import blocked_either_way

# an admitted reader's standing in one query: removed? blocked either way with the host?
_STANDING_SQL = (
    "SELECT p.kicked, EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $2 AND"
    " b.blocked_id = $3) OR (b.blocker_id = $3 AND b.blocked_id = $2)) AS blocked"
    " FROM session_participants p WHERE p.session_id = $1 AND p.user_id = $2")


async def participant(db: Database, session_id: int, user_id: int, conn: Any = None) -> Any:
    """The participant row of a user in a session (None when they never joined)."""
    return await (conn or db.pool).fetchrow(
        "SELECT * FROM session_participants WHERE session_id = $1 AND user_id = $2",
        session_id, user_id)


async def invited(db: Database, session_id: int, user_id: int) -> bool:
    """The host invited this user to this session (`POST /sessions/{id}/invitations`)."""
    return bool(await db.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM session_invitations WHERE session_id = $1"
        " AND user_id = $2)", session_id, user_id))


async def follows(db: Database, follower: int, followee: int) -> bool:
    """An accepted follow from `follower` to `followee`."""
    return bool(await db.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2 "
        "AND status = 'accepted')", follower, followee))


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
    part = await participant(db, row["id"], viewer.user_id)
    if part is not None and not part["kicked"]:
        return True
    if await invited(db, row["id"], viewer.user_id):
        return True
    if row["visibility"] == "followers":
        return await follows(db, viewer.user_id, row["host_id"])
    return False


async def join_session(db: Database, who: Principal, session_id: int,
                       invite_code: str | None = None, *, via_socket: bool = False) -> Any:
    """Admit a reader (see `admit`); returns the session row."""
    return (await admit(db, who, session_id, invite_code, via_socket=via_socket))[0]


async def _check_newcomer(db: Database, who: Principal, row: Any, invite_code: str | None,
                          via_socket: bool) -> None:
    """The visibility rules for a reader not admitted before (staff skip them)."""
    session_id = int(row["id"])
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
    elif row["visibility"] == "followers" and not await follows(db, who.user_id, row["host_id"]):
        raise Forbidden("only the host's followers may join", code="followers_only")
    if row["status"] == "ended":
        raise Conflict("the session has ended", code="session_ended")


async def admit(db: Database, who: Principal, session_id: int,
                invite_code: str | None = None, *, via_socket: bool = False) -> tuple[Any, bool]:
    """Admit a reader (REST join with the invite code, or a socket subscribe). Returns the session
    row and whether the reader was admitted just now (first time). Refuses kicked readers,
    readers blocked either way with the host (as if there were no session), strangers to
    invite-only/followers sessions (invited users need no code), full sessions.

    Readers already admitted take a two-query path; the checks run before the transaction, which
    only serialises the capacity count (session row locked) and the insert — so it never waits
    for a second pool connection while holding one."""
    row = await fetch_session(db, session_id)
    staff = who.is_moderator or who.user_id == row["host_id"]
    standing = await db.pool.fetchrow(_STANDING_SQL, session_id, who.user_id, row["host_id"])
    if standing is not None:
        if standing["kicked"]:
            raise Forbidden("you were removed from this session", code="kicked")
        if standing["blocked"] and not staff:
            raise NotFound(f"no session {session_id}", code="session_not_found")
        return row, False
    if not staff:
        await _check_newcomer(db, who, row, invite_code, via_socket)
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
    """A socket enters the room: admit, count the connection (and when the reader was last
    seen); returns (session, participant, admitted just now)."""
    row, new = await admit(db, who, session_id, via_socket=True)
    part = await db.pool.fetchrow(
        "UPDATE session_participants SET connections = connections + 1, last_seen_at = now(),"
        " present_since = COALESCE(present_since, CASE WHEN $3 = 'live' THEN now() END)"
        " WHERE session_id = $1 AND user_id = $2 AND NOT kicked RETURNING *",
        session_id, who.user_id, row["status"])
    if part is None:
        raise Forbidden("you were removed from this session", code="kicked")
    return row, part, new


async def disconnect(db: Database, session_id: int, user_id: int) -> None:
    """A socket left the room: when it was the reader's last, close their attendance span; the
    time they were last seen is what the idle end (`due.end_idle_sessions`) counts from."""
    await db.pool.execute(
        "UPDATE session_participants SET connections = GREATEST(0, connections - 1),"
        " last_seen_at = now(),"
        " seconds_present = seconds_present + CASE WHEN connections <= 1 AND present_since"
        " IS NOT NULL THEN GREATEST(0, extract(epoch FROM now() - present_since))::int ELSE 0"
        " END, present_since = CASE WHEN connections <= 1 THEN NULL ELSE present_since END"
        " WHERE session_id = $1 AND user_id = $2", session_id, user_id)
