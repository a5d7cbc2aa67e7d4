"""Writing home feeds: fan-out of an activity, backfill on follow, removal on unfollow/block."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.feeds.service import BIG_AUTHORS, MARKER, feed_key
from domain.redisconn import slot_groups
from domain.settings import Settings

# KEYS: feed keys. ARGV: member, score, cap. Every follower's feed gets the id (capped). A feed
# without the marker member "0" is cold (never built, or lost): its next read rebuilds it from
# Postgres, so ids written here before that are only a head start.
FANOUT_LUA = """
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYRANK', key, 1, -(tonumber(ARGV[3]) + 1))
end
return #KEYS
"""
CHUNK = 500


class FanoutResult(msgspec.Struct, frozen=True):
    """Who got the activity in their feed (`recipients`) or `merged` (big author: read time)."""

    activity_id: int
    actor_id: int
    verb: str
    recipients: list[int]
    merged: bool = False
    announcement: dict[str, Any] = {}


async def fanout(db: Database, redis: Redis, settings: Settings,
                 activity_id: int) -> FanoutResult | None:
    """Put one activity into its actor's followers' home feeds; None if it no longer exists."""
    row = await db.pool.fetchrow(
        "SELECT a.actor_id, a.verb, a.object_kind, a.object_id, a.payload, a.created_at,"
        " u.visibility FROM activities a JOIN users u"
        " ON u.id = a.actor_id WHERE a.id = $1", activity_id)
    if row is None:
        return None
    actor_id, verb = int(row["actor_id"]), str(row["verb"])
    payload = row["payload"]
    announcement = {"activity_id": activity_id, "actor_id": actor_id, "verb": verb,
                    "object_kind": row["object_kind"], "object_id": row["object_id"],
                    "payload": json.loads(payload) if isinstance(payload, str) else payload,
                    "created_at": row["created_at"].isoformat()}
    if row["visibility"] == "private":  # nobody may see a private profile's activity
        return FanoutResult(activity_id, actor_id, verb, [], announcement=announcement)
    followers = [int(r["follower_id"]) for r in await db.pool.fetch(
        "SELECT f.follower_id FROM follows f WHERE f.followee_id = $1 AND f.status = 'accepted'"
        " AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = f.follower_id"
        "                 AND m.muted_id = $1)", actor_id)]
    if len(followers) > settings.feed_fanout_max:
        await redis.sadd(BIG_AUTHORS, str(actor_id))  # type: ignore[misc]
        return FanoutResult(activity_id, actor_id, verb, [], merged=True,
                            announcement=announcement)
    await redis.srem(BIG_AUTHORS, str(actor_id))  # type: ignore[misc]
    script = redis.register_script(FANOUT_LUA)
    member = str(activity_id).encode()
    for i in range(0, len(followers), CHUNK):
        for keys in slot_groups(redis, [feed_key(f) for f in followers[i:i + CHUNK]]):
            await script(keys=keys, args=[member, activity_id, settings.feed_size])
    return FanoutResult(activity_id, actor_id, verb, followers, announcement=announcement)


async def remove_author(db: Database, redis: Redis, user_id: int, author_id: int) -> int:
    """Drop `author_id`'s activities from `user_id`'s home feed (unfollow, block, mute)."""
    key = feed_key(user_id)
    members = [int(m) for m in await redis.zrange(key, 0, -1) if m != b"0"]
    if not members:
        return 0
    rows = await db.pool.fetch(
        "SELECT id FROM activities WHERE id = ANY($1::bigint[]) AND actor_id = $2",
        members, author_id)
    gone = [str(r["id"]).encode() for r in rows]
    if gone:
        await redis.zrem(key, *gone)
    return len(gone)


async def backfill_author(db: Database, redis: Redis, settings: Settings, user_id: int,
                          author_id: int) -> int:
    """Add `author_id`'s recent activities to `user_id`'s feed after a follow (if built and
    still allowed: accepted follow, profile not private)."""
    key = feed_key(user_id)
    if await redis.zscore(key, MARKER) is None:
        return 0  # cold: the next read rebuilds it with these
    rows = await db.pool.fetch(
        "SELECT a.id FROM activities a JOIN users u ON u.id = a.actor_id"
        " WHERE a.actor_id = $2 AND u.visibility <> 'private'"
        " AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = $2"
        "             AND f.status = 'accepted')"
        " ORDER BY a.id DESC LIMIT $3", user_id, author_id, settings.feed_size)
    ids: dict[Any, Any] = {str(r["id"]).encode(): int(r["id"]) for r in rows}
    if ids:
        await redis.zadd(key, ids)
        await redis.zremrangebyrank(key, 1, -(settings.feed_size + 1))
    return len(ids)
