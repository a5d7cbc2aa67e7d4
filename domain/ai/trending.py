"""Trending books: time-decayed counts of book page views, shelvings, finishes, session starts
and recommendation clicks, per window (day, week), in Redis sorted sets rebuilt from PostgreSQL.

Each event weighs 2^(-age / half-life) times its kind's weight (a view VIEW_WEIGHT, the others
1): the day window keeps a 6 h half-life, the week window 2 days. `rebuild_trending` (worker,
every 5 minutes) recomputes both sets from the database (the source of truth), so a lost Redis
heals at the next run, and with them `all`: the all-time most shelved books, which the cold
start reads. Private reading states are left out.

Views: `GET /api/v1/books/{id}` counts one view in an hourly Redis hash (`ViewTally`: counted
in memory, written in one pipelined round trip a second at most, never failing the request);
the same job first moves every closed hour
into `book_views` (PostgreSQL, m0028) - read and deleted in one Redis transaction, so a view is
counted at most once (a crash between the two loses that hour rather than doubling it) - and
reads the open hour straight from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.ai import recs
from domain.db import Database
from domain.redisconn import pipeline

TREND_KEY = "ra:ai:trend:"   # ra:ai:trend:<day|week> -> zset book id -> decayed count
POPULAR = 200               # ra:ai:trend:all keeps the all-time most shelved books (cold start)
POPULAR_SQL = f"""
SELECT book_id, count(*) AS n FROM reading_states WHERE NOT private
GROUP BY book_id ORDER BY n DESC, book_id LIMIT {POPULAR}"""
WINDOWS = {"day": (86400.0, 6 * 3600.0), "week": (7 * 86400.0, 2 * 86400.0)}  # span, half-life
VIEWS_KEY = "ra:ai:views:"  # ra:ai:views:<hour epoch> -> hash book id -> views in that hour
VIEW_WEIGHT = 0.25          # a page view counts a quarter of a shelving
VIEW_TTL_S = 8 * 86400
HOUR = 3600


class ViewTally:
    """Book page views counted in memory and written to the hourly hashes in one pipelined round
    trip at most every `interval` seconds (HINCRBY per book, EXPIRE per hour): a page read
    costs no Redis round trip of its own. Trending is rebuilt every few minutes, so the delay is
    never seen; views still in memory when the process dies unflushed are lost (at most
    `interval` seconds of them; a clean stop flushes)."""

    def __init__(self, redis: Redis, interval: float = 1.0) -> None:
        self.redis = redis
        self.interval = interval
        self.pending: dict[int, dict[int, int]] = {}  # hour -> book id -> views
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, book_id: int, now: float | None = None) -> None:
        hour = int((time.time() if now is None else now) // HOUR) * HOUR
        books = self.pending.setdefault(hour, {})
        books[book_id] = books.get(book_id, 0) + 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write the pending views (errors swallowed: those views are lost)."""
        pending, self.pending = self.pending, {}
        if not pending:
            return
        with contextlib.suppress(RedisError, OSError):
            async with pipeline(self.redis, transaction=False) as pipe:
                for hour, books in pending.items():
                    key = f"{VIEWS_KEY}{hour}"
                    for book_id, n in books.items():
                        pipe.hincrby(key, str(book_id), n)
                    pipe.expire(key, VIEW_TTL_S)
                await pipe.execute()

    async def close(self) -> None:
        """Flush what is pending now (the app's shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()


_FLUSH_SQL = """
INSERT INTO book_views AS v (book_id, hour, views)
SELECT u.book_id, to_timestamp(u.hour), u.n
FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS u(book_id, hour, n)
JOIN books b ON b.id = u.book_id
ON CONFLICT (book_id, hour) DO UPDATE SET views = v.views + EXCLUDED.views
"""


async def flush_views(db: Database, redis: Redis, now: float) -> int:
    """Move the closed hours' view buckets (up to a week back) into `book_views`; views moved."""
    current = int(now // HOUR) * HOUR
    hours = [current - HOUR * k for k in range(1, int(WINDOWS["week"][0] // HOUR) + 2)]
    # (cluster: a plain pipeline, per slot; closed hours take no more views, so nothing is lost)
    async with pipeline(redis, transaction=True) as pipe:
        for hour in hours:
            pipe.hgetall(f"{VIEWS_KEY}{hour}")
            pipe.delete(f"{VIEWS_KEY}{hour}")
        replies = await pipe.execute()
    ids: list[int] = []
    at: list[int] = []
    counts: list[int] = []
    for hour, bucket in zip(hours, replies[::2], strict=True):
        for book, n in bucket.items():
            ids.append(int(book))
            at.append(hour)
            counts.append(int(n))
    if ids:
        async with db.pool.acquire() as conn:
            await conn.execute(_FLUSH_SQL, ids, at, counts)
    return sum(counts)


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
# a view bucket's events are placed at the middle of its hour
_VIEWS_SQL = """
SELECT book_id, extract(epoch FROM hour) + 1800 AS t, views FROM book_views WHERE hour > $1
"""


async def rebuild_trending(db: Database, redis: Redis, now: float | None = None) -> int:
    """Recompute the trending sorted sets from PostgreSQL (the source of truth); books counted."""
    now = time.time() if now is None else now
    since = datetime.fromtimestamp(now - WINDOWS["week"][0], UTC)
    with contextlib.suppress(RedisError):
        await flush_views(db, redis, now)
    async with db.pool.acquire() as conn:
        events = [(r["book_id"], float(r["t"]), 1.0)
                  for r in await conn.fetch(_EVENTS_SQL, since)]
        events += [(r["book_id"], float(r["t"]), VIEW_WEIGHT * r["views"])
                   for r in await conn.fetch(_VIEWS_SQL, since)]
        popular = await conn.fetch(POPULAR_SQL)
    hour = int(now // HOUR) * HOUR
    with contextlib.suppress(RedisError):
        open_hour = await redis.hgetall(f"{VIEWS_KEY}{hour}")  # type: ignore[misc]
        events += [(int(b), min(hour + 1800.0, now), VIEW_WEIGHT * int(n))
                   for b, n in open_hour.items()]
    async with pipeline(redis, transaction=True) as pipe:  # (cluster: not atomic)
        for window, (span, half_life) in WINDOWS.items():
            scores: dict[str, float] = {}
            for book_id, t, weight in events:
                if now - span <= t <= now + HOUR:
                    scores[str(book_id)] = scores.get(str(book_id), 0.0) + weight * \
                        recs.decayed([now - t], half_life)
            pipe.delete(TREND_KEY + window)
            if scores:
                pipe.zadd(TREND_KEY + window, scores)
        pipe.delete(TREND_KEY + "all")
        if popular:
            pipe.zadd(TREND_KEY + "all", {str(r["book_id"]): int(r["n"]) for r in popular})
        await pipe.execute()
    return len({b for b, _, _ in events})
