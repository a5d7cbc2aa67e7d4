"""The session row: its columns, how it is read and shown, its room name and who may run it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Forbidden, NotFound
from domain.sessions.schemas import Position, SessionOut

ROOM_PREFIX = "session:"
SESSION_COLS = ("id, book_id, title, host_id, mode, visibility, status, capacity, chat_locked, "
                "shield_default, scheduled_at, started_at, ended_at, created_at, invite_code, "
                "host_progression, host_locator, host_chapter")


def room_of(session_id: int) -> str:
    """The hub room of a session (`session:<id>`)."""
    return f"{ROOM_PREFIX}{session_id}"


def now() -> datetime:
    return datetime.now(UTC)


def session_out(row: Any, viewer: Principal | None, participants: int = 0) -> SessionOut:
    """The API shape of a session row; the invite code only for the host and staff."""
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
    """The session row (`FOR UPDATE` with `lock`, on `conn` when given), else `NotFound`."""
    sql = f"SELECT {SESSION_COLS} FROM reading_sessions WHERE id = $1" + (
        " FOR UPDATE" if lock else "")
    row = await (conn or db.pool).fetchrow(sql, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}", code="session_not_found")
    return row


def require_host(row: Any, actor: Principal) -> None:
    """Host powers: the host or a site moderator/admin, else `Forbidden(not_host)`."""
    if actor.user_id != row["host_id"] and not actor.is_moderator:
        raise Forbidden("only the host or a moderator may do this", code="not_host")
