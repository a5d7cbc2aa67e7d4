"""Time-driven session changes run by the worker: due sessions start, idle sessions end."""

from __future__ import annotations

from datetime import datetime, timedelta

from redis.asyncio import Redis

from domain.db import Database
from domain.sessions.rows import now as _now
from domain.sessions.sessions import present_counts

MAX_IDLE_ENDS = 500  # sessions ended per run (the next run takes the rest)

# when a live session was last had anyone in it: its start, or the last reader's last connect
# or disconnect (`admission.connect`/`disconnect` stamp `last_seen_at`)
_VACANT_SINCE = ("GREATEST(s.started_at, (SELECT max(p.last_seen_at) FROM session_participants p"
                 " WHERE p.session_id = s.id))")

_IDLE_SQL = (f"SELECT s.id FROM reading_sessions s WHERE s.status = 'live' AND s.id > $3"
             f" AND {_VACANT_SINCE} <= $1 ORDER BY s.id LIMIT $2")

# the check again, in the statement that ends them (a reader who came back since is seen);
# the session ends when the last reader left, so its duration is the time read
_END_IDLE_SQL = (f"UPDATE reading_sessions s SET status = 'ended', ended_at = {_VACANT_SINCE}"
                 f" WHERE s.id = ANY($1::bigint[]) AND s.status = 'live'"
                 f" AND {_VACANT_SINCE} <= $2 RETURNING s.id, s.ended_at")

# spans a lost node left open (no disconnect ever came) close at the end; counters go to zero
_CLOSE_IDLE_SQL = (
    "UPDATE session_participants p SET seconds_present = p.seconds_present + CASE WHEN"
    " p.present_since IS NULL THEN 0 ELSE GREATEST(0, extract(epoch FROM g.ended_at"
    " - p.present_since))::int END, present_since = NULL, connections = 0"
    " FROM unnest($1::bigint[], $2::timestamptz[]) AS g(id, ended_at)"
    " WHERE p.session_id = g.id AND (p.present_since IS NOT NULL OR p.connections > 0)")


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


async def end_idle_sessions(db: Database, redis: Redis, idle: timedelta,
                            now: datetime | None = None) -> list[int]:
    """Live sessions with nobody present (the hub's presence, across nodes) and nobody seen for
    `idle` end, as if the host ended them when the last reader left: read-only from now on,
    the record kept. Readers connected for a long time are quiet in the database but present,
    so every quiet session is checked, a page at a time. Returns the ids of those ended (at most
    MAX_IDLE_ENDS; the next run takes the rest) so the caller can publish `status` to each."""
    cutoff = (now or _now()) - idle
    empty: list[int] = []
    after = 0
    while len(empty) < MAX_IDLE_ENDS:  # pages of sessions quiet in the database; keep the empty
        page = [int(r["id"]) for r in await db.pool.fetch(_IDLE_SQL, cutoff, MAX_IDLE_ENDS,
                                                          after)]
        if not page:
            break
        present = await present_counts(redis, page)
        empty += [sid for sid in page if present.get(sid, 0) == 0]
        after = page[-1]
    empty = empty[:MAX_IDLE_ENDS]
    if not empty:
        return []
    async with db.pool.acquire() as conn, conn.transaction():
        ended = await conn.fetch(_END_IDLE_SQL, empty, cutoff)
        if ended:
            await conn.execute(_CLOSE_IDLE_SQL, [int(r["id"]) for r in ended],
                               [r["ended_at"] for r in ended])
    return sorted(int(r["id"]) for r in ended)
