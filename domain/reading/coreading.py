"""Co-reading time: XP and the `coreading-minutes-month` board from session attendance.

The source is the session's attendance record (`session_participants.seconds_present`, kept
by the server from socket presence, never by a client): when a reader leaves a session (their
last socket) or the session ends, `credit()` turns the attendance not credited yet into whole
minutes (the remainder waits for the next credit; `coreading_credits` keeps what was counted,
so a leave then an end never count a second twice). Plausibility: a reader's credited minutes
never exceed the wall-clock time since their previous credit (`coreading_clock`), so two
sessions attended at once count that time once. XP: 1 per minute, capped per UTC day
(`gamification.XP_RULES["coreading"]`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.db import Database
from domain.reading import gamification, leaderboards
from domain.reading.boards import BOARDS
from domain.reading.clock import utcnow
from domain.reading.leaderboards import Score

BOARD = "coreading-minutes-month"

_ATTENDANCE_SQL = """
SELECT p.user_id, p.seconds_present AS present, COALESCE(c.seconds, 0) AS credited
FROM session_participants p
LEFT JOIN coreading_credits c ON c.session_id = p.session_id AND c.user_id = p.user_id
WHERE p.session_id = $1 AND ($2::bigint[] IS NULL OR p.user_id = ANY($2::bigint[]))
ORDER BY p.user_id
FOR UPDATE OF p
"""
_CREDITED_SQL = """
INSERT INTO coreading_credits (session_id, user_id, seconds, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (session_id, user_id) DO UPDATE SET seconds = coreading_credits.seconds
    + EXCLUDED.seconds, updated_at = EXCLUDED.updated_at
"""
_CLOCK_SQL = """
SELECT floor(extract(epoch FROM $2::timestamptz - credited_until) / 60)::bigint
FROM coreading_clock WHERE user_id = $1 FOR UPDATE
"""
_SET_CLOCK_SQL = """
INSERT INTO coreading_clock (user_id, credited_until) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET credited_until = GREATEST(coreading_clock.credited_until,
                                                              EXCLUDED.credited_until)
"""


def plausible(minutes: int, since_last: int | None) -> int:
    """The minutes that may count: never more than the wall clock since the last credit."""
    if since_last is None:
        return max(0, minutes)
    return max(0, min(minutes, since_last))


async def _credit_one(conn: Any, session_id: int, user_id: int, delta: int,
                      at: datetime) -> list[Score]:
    minutes = delta // 60
    if minutes <= 0:
        return []
    await conn.execute(_CREDITED_SQL, session_id, user_id, minutes * 60, at)
    since = await conn.fetchval(_CLOCK_SQL, user_id, at)
    counted = plausible(minutes, int(since) if since is not None else None)
    await conn.execute(_SET_CLOCK_SQL, user_id, at)
    if counted <= 0:
        return []
    await gamification.earn(conn, user_id, "coreading", counted, at)
    return [await leaderboards.write(conn, BOARDS[BOARD], user_id, counted, at)]


async def credit(db: Database, session_id: int, user_ids: list[int] | None = None, *,
                 now: datetime | None = None) -> list[Score]:
    """Credit the closed attendance of `user_ids` (None: everyone) in a session, after the
    commit that closed it (a leave, the end). Returns the board records it moved (hand them to
    `events.after_commit` as a `scored` event). Idempotent: a second call credits nothing."""
    at = now or utcnow()
    scores: list[Score] = []
    async with db.pool.acquire() as conn, conn.transaction():
        for row in await conn.fetch(_ATTENDANCE_SQL, session_id, user_ids):
            delta = int(row["present"]) - int(row["credited"])
            scores += await _credit_one(conn, session_id, int(row["user_id"]), delta, at)
    return scores
