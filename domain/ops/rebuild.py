"""Derived Redis state rebuilt from PostgreSQL after a restore (or whenever Redis was lost):
the big-author set and every home feed, and the leaderboard buckets still retained."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from domain.db import Database
from domain.feeds.service import BIG_AUTHORS, rebuild_feed
from domain.reading import leaderboards
from domain.settings import Settings


async def rebuild_big_authors(db: Database, redis: Redis, settings: Settings) -> int:
    """Authors with more accepted followers than the fan-out limit (merged at read time)."""
    rows = await db.pool.fetch("SELECT followee_id FROM follows WHERE status = 'accepted'"
                               " GROUP BY followee_id HAVING count(*) > $1",
                               settings.feed_fanout_max)
    await redis.delete(BIG_AUTHORS)
    if rows:
        await redis.sadd(BIG_AUTHORS, *[str(r["followee_id"]) for r in rows])  # type: ignore[misc]
    return len(rows)


async def rebuild_feeds(db: Database, redis: Redis, settings: Settings) -> int:
    """Every account's home feed from the activities of whom they follow; the count built."""
    built = 0
    last = 0
    while True:
        rows = await db.pool.fetch("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT 500",
                                   last)
        if not rows:
            return built
        for r in rows:
            if await rebuild_feed(db, redis, settings, int(r["id"])):
                built += 1
        last = int(rows[-1]["id"])


async def rebuild_leaderboards(db: Database, redis: Redis) -> int:
    """Each bucket still within Redis retention (all-time ones always); the count loaded."""
    horizon = int(time.time()) - leaderboards.RETENTION
    rows = await db.pool.fetch("SELECT DISTINCT board, period_end FROM leaderboard_records"
                               " WHERE period_end = 0 OR period_end > $1", horizon)
    for r in rows:
        await leaderboards.rebuild(db, redis, str(r["board"]), int(r["period_end"]))
    return len(rows)


async def rebuild_derived(db: Database, redis: Redis, settings: Settings) -> dict[str, int]:
    return {"big_authors": await rebuild_big_authors(db, redis, settings),
            "feeds": await rebuild_feeds(db, redis, settings),
            "leaderboard_buckets": await rebuild_leaderboards(db, redis)}
