"""Host powers over participants: hand the host role over, mute/unmute, remove for good."""

from __future__ import annotations

from typing import Any, Literal

import asyncpg

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, NotFound
from domain.sessions.rows import SESSION_COLS, fetch_session, require_host, session_out
from domain.sessions.schemas import SessionOut

# removing a reader closes their attendance span; a user who never joined is refused in advance
_KICK_SQL = (
    "INSERT INTO session_participants (session_id, user_id, kicked) VALUES ($1, $2, true)"
    " ON CONFLICT (session_id, user_id) DO UPDATE SET kicked = true,"
    " seconds_present = session_participants.seconds_present + CASE WHEN"
    " session_participants.present_since IS NULL THEN 0 ELSE GREATEST(0, extract("
    "epoch FROM now() - session_participants.present_since))::int END,"
    " present_since = NULL, connections = 0")


def _no_participant(user_id: int) -> NotFound:
    """The one answer for a target who is not in the session (or is no user at all)."""
    return NotFound(f"user {user_id} is not in this session", code="not_participant",
                    field="user_id")


async def _target(conn: Any, session_id: int, user_id: int) -> Any:
    part = await conn.fetchrow(
        "SELECT * FROM session_participants WHERE session_id = $1 AND user_id = $2 FOR UPDATE",
        session_id, user_id)
    if part is None:
        raise _no_participant(user_id)
    return part


async def _open_for_powers(conn: Any, db: Database, actor: Principal, session_id: int) -> Any:
    """The locked session row, when the actor may use host powers on it and it has not ended."""
    row = await fetch_session(db, session_id, lock=True, conn=conn)
    require_host(row, actor)
    if row["status"] == "ended":
        raise Conflict("an ended session is read-only", code="session_ended")
    return row


async def hand_over(db: Database, actor: Principal, session_id: int, new_host: int) -> SessionOut:
    """Make another participant (not a removed one) the host; follow mode starts from them."""
    async with db.pool.acquire() as conn, conn.transaction():
        await _open_for_powers(conn, db, actor, session_id)
        part = await _target(conn, session_id, new_host)
        if part["kicked"]:
            raise Conflict("a removed reader cannot host", code="kicked")
        row = await conn.fetchrow(
            "UPDATE reading_sessions SET host_id = $2, host_progression = $3, host_locator = $4,"
            f" host_chapter = $5 WHERE id = $1 RETURNING {SESSION_COLS}",
            session_id, new_host, part["progression"], part["locator"], part["chapter"])
    return session_out(row, actor)


async def set_flag(db: Database, actor: Principal, session_id: int, user_id: int,
                   flag: Literal["muted", "kicked"], value: bool) -> None:
    """Host power: mute/unmute (`muted`) or remove (`kicked`) a participant. Removing also
    works ahead of a join (the user can then never join); an unknown user is `not_participant`
    (404) for all three, like muting someone who never joined."""
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            row = await _open_for_powers(conn, db, actor, session_id)
            if user_id == row["host_id"]:
                raise Conflict("the host cannot be muted or removed", code="is_host",
                               field="user_id")
            if flag == "kicked":
                await conn.execute(_KICK_SQL, session_id, user_id)
            else:
                await _target(conn, session_id, user_id)
                await conn.execute(
                    "UPDATE session_participants SET muted = $3 WHERE session_id = $1"
                    " AND user_id = $2", session_id, user_id, value)
    except asyncpg.ForeignKeyViolationError:  # the session row is locked: no such user
        raise _no_participant(user_id) from None
