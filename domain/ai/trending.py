"""Trending books: time-decayed counts of shelvings, finishes, session starts and
recommendation clicks, per window (day, week), in Redis sorted sets rebuilt from PostgreSQL.

Each event weighs 2^(-age / half-life): the day window keeps a 6 h half-life, the week window
2 days. `rebuild_trending` (worker, every 5 minutes) recomputes both sets from the database (the
source of truth), so a lost Redis heals at the next run, and with them `all`: the all-time most
shelved books, which the cold start reads. Private reading states are left out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from domain.ai import recs
from domain.db import Database

TREND_KEY = "ra:ai:trend:"   # ra:ai:trend:<day|week> -> zset book id -> decayed count
POPULAR = 200               # ra:ai:trend:all keeps the all-time most shelved books (cold start)
POPULAR_SQL = f"""
SELECT book_id, count(*) AS n FROM reading_states WHERE NOT private
GROUP BY book_id ORDER BY n DESC, book_id LIMIT {POPULAR}"""
WINDOWS = {"day": (86400.0, 6 * 3600.0), "week": (7 * 86400.0, 2 * 86400.0)}  # span, half-life


async def trending(redis: Redis, window: str, limit: int) -> list[tuple[int, float]]:
    rows = await redis.zrevrange(TREND_KEY + window, 0, limit - 1, withscores=True)
    return [(int(b), float(s)) for b, s in rows]


_EVENTS_SQL = """
SELECT book_id, extract(epoch FROM created_at) AS t FROM reading_states
 WHERE NOT private AND created_at > $1
UNION ALL
SELECT rs.book_id, extract(epoch FROM rr.finished_on::timestamptz) FROM reading_reads rr
 JOIN reading_states rs ON rs.id = rr.state_id
 WHERE rr.outcome = 'read' AND NOT rs.private AND rr.finished_on > $1::date
UNION ALL
SELECT book_id, extract(epoch FROM started_at) FROM reading_sessions WHERE started_at > $1
UNION ALL
SELECT book_id, extract(epoch FROM created_at) FROM rec_events
 WHERE kind = 'click' AND created_at > $1
"""


async def rebuild_trending(db: Database, redis: Redis, now: float | None = None) -> int:
    """Recompute the trending sorted sets from PostgreSQL (the source of truth); books counted."""
    now = time.time() if now is None else now
    since = datetime.fromtimestamp(now - WINDOWS["week"][0], UTC)
    async with db.pool.acquire() as conn:
        events = [(r["book_id"], float(r["t"])) for r in await conn.fetch(_EVENTS_SQL, since)]
        popular = await conn.fetch(POPULAR_SQL)
    async with redis.pipeline(transaction=True) as pipe:
        for window, (span, half_life) in WINDOWS.items():
            ages: dict[int, list[float]] = {}
            for book_id, t in events:
                if now - span <= t <= now + 60:
                    ages.setdefault(book_id, []).append(now - t)
            scores = {str(b): recs.decayed(a, half_life) for b, a in ages.items()}
            pipe.delete(TREND_KEY + window)
            if scores:
                pipe.zadd(TREND_KEY + window, scores)
        pipe.delete(TREND_KEY + "all")
        if popular:
            pipe.zadd(TREND_KEY + "all", {str(r["book_id"]): int(r["n"]) for r in popular})
        await pipe.execute()
    return len({b for b, _ in events})
