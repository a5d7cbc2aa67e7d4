"""A session's record: attendance, duration, progress read together, what was made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import NotFound
from domain.sessions.admission import may_see
from domain.sessions.books import get_book
from domain.sessions.rows import fetch_session, now, session_out
from domain.sessions.schemas import ParticipantOut, SessionRecord

# readers still present when a session ends: their open span counts up to `$2` (the end)
_CLOSE_SPANS_SQL = (
    "UPDATE session_participants SET seconds_present = seconds_present"
    " + GREATEST(0, extract(epoch FROM $2::timestamptz - present_since))::int,"
    " present_since = NULL WHERE session_id = ANY($1::bigint[]) AND present_since IS NOT NULL")


async def close_attendance(conn: Any, session_ids: list[int], ended_at: datetime) -> None:
    """Add each open attendance span of these sessions up to `ended_at` (in the ending
    transaction, on its connection)."""
    await conn.execute(_CLOSE_SPANS_SQL, session_ids, ended_at)


async def session_record(db: Database, viewer: Principal | None, session_id: int) -> SessionRecord:
    """Who came, how long they stayed, how far they read together, and what was made."""
    row = await fetch_session(db, session_id)
    if not await may_see(db, row, viewer):
        raise NotFound(f"no session {session_id}", code="session_not_found")
    out = session_out(row, viewer)
    rows = await db.pool.fetch(
        "SELECT p.*, u.display_name, p.seconds_present + CASE WHEN p.present_since IS NULL"
        " THEN 0 ELSE GREATEST(0, extract(epoch FROM now() - p.present_since))::int END AS secs,"
        " COALESCE(sp.seconds, 0) AS speaking"
        " FROM session_participants p JOIN users u ON u.id = p.user_id"
        " LEFT JOIN stage_speaking sp ON sp.place = 'session:' || p.session_id"
        " AND sp.user_id = p.user_id"
        " WHERE p.session_id = $1 ORDER BY p.joined_at, p.id", session_id)
    attendance = [ParticipantOut(
        user_id=r["user_id"], display_name=r["display_name"], joined_at=r["joined_at"],
        seconds_present=int(r["secs"]), present=r["connections"] > 0 and not r["kicked"],
        progression=r["progression"], furthest=r["furthest"],
        start_progression=r["start_progression"], chapter=r["chapter"], muted=r["muted"],
        kicked=r["kicked"], seconds_speaking=int(r["speaking"])) for r in rows]
    together = sum(max(0.0, (r["furthest"] or 0.0) - (r["start_progression"] or 0.0))
                   for r in rows)
    counts = await db.pool.fetchrow(
        "SELECT (SELECT count(*) FROM session_messages WHERE session_id = $1"
        " AND deleted_at IS NULL) AS m, (SELECT count(*) FROM session_reactions"
        " WHERE session_id = $1) AS r, (SELECT count(*) FROM session_annotations"
        " WHERE session_id = $1 AND deleted_at IS NULL) AS a", session_id)
    duration = None
    if out.started_at is not None:
        end = out.ended_at or now()
        duration = int((end - out.started_at).total_seconds())
    book = await get_book(db, out.book_id)
    pages = round(together * book.page_count) if book.page_count else None
    return SessionRecord(session=out, duration_seconds=duration, attendance=attendance,
                         progress_read_together=round(together, 6), pages_read_together=pages,
                         messages=counts["m"], reactions=counts["r"], annotations=counts["a"])
