"""Activity use-cases: record (persist, then enqueue fan-out) and the paged home feed.

Home feeds are Redis sorted sets `ra:feed:<user>` of activity ids (score = id, so the order is
creation order), capped at `feed_size`, holding a marker member "0" (score 0) once built. The
worker's fan-out writes every follower's feed; a feed without the marker (never read, or lost
with Redis) is rebuilt from Postgres on its next read. Authors with more than `feed_fanout_max`
followers are not fanned out: their activities are merged in at read time ("big" authors, a
Redis set). Every read re-checks visibility in Postgres (actor's profile visibility, the follow,
blocks and mutes), so Redis is only an index.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid
from domain.feeds import verbs
from domain.jobqueue import enqueue_quietly
from domain.keys import FEED
from domain.redisconn import pipeline
from domain.settings import Settings
from domain.social.rules import hidden_users_sql

FANOUT_JOB = "fanout_activity"
BIG_AUTHORS = FEED + "big"     # set of author ids merged at read time
MARKER = b"0"
MAX_LIMIT = 100


def feed_key(user_id: int) -> str:
    return f"{FEED}{user_id}"


class ActorCard(msgspec.Struct, frozen=True):
    id: int
    handle: str
    display_name: str


class ActivityView(msgspec.Struct, frozen=True):
    id: int
    verb: str
    text: str
    actor: ActorCard
    object_kind: str
    object_id: str
    payload: dict[str, Any]
    created_at: datetime


class FeedPage(msgspec.Struct, frozen=True):
    items: list[ActivityView]
    next_cursor: str | None = None


async def record_activity(db: Database, redis: Redis | None, *, actor_id: int, verb: str,
                          object_kind: str = "", object_id: str | int = "",
                          payload: dict[str, Any] | None = None) -> int:
    """Persist an activity, then enqueue its fan-out to the actor's followers."""
    verbs.check(verb)
    activity_id = int(await db.pool.fetchval(
        "INSERT INTO activities (actor_id, verb, object_kind, object_id, payload)"
        " VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id",
        actor_id, verb, object_kind, str(object_id), json.dumps(payload or {})))
    if redis is not None:
        await enqueue_quietly(redis, FANOUT_JOB, activity_id, job_id=f"fanout:{activity_id}")
    return activity_id


async def retract_activity(db: Database, *, actor_id: int, verb: str, object_kind: str,
                           object_id: str | int) -> int:
    """Delete the activities of `verb` on an object (e.g. a deleted public annotation). Feed
    pages re-read activities from Postgres, so they vanish from every feed at once; the ids
    left in Redis feeds are skipped on read. Returns how many rows went."""
    verbs.check(verb)
    done = await db.pool.execute(
        "DELETE FROM activities WHERE actor_id = $1 AND verb = $2 AND object_kind = $3"
        " AND object_id = $4", actor_id, verb, object_kind, str(object_id))
    return int(done.split()[-1]) if done else 0


# Activities a viewer may see among `ids`: the viewer follows the actor (accepted), the actor's
# profile is not private, and neither blocks nor mutes hide the actor (the hidden set is a
# sub-select here, not a round trip of its own before it).
_VISIBLE_SQL = """
SELECT a.id, a.verb, a.object_kind, a.object_id, a.payload, a.created_at,
       u.id AS actor_id, u.handle, u.display_name
FROM activities a JOIN users u ON u.id = a.actor_id
WHERE a.id = ANY($1::bigint[]) AND u.visibility <> 'private'
  AND EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = a.actor_id
              AND f.status = 'accepted')
  AND a.actor_id NOT IN ({hidden})
ORDER BY a.id DESC
""".format(hidden=hidden_users_sql("$2"))

# The newest activities of everyone the viewer follows (the rebuild and the deep-page path).
_FROM_PG_SQL = """
SELECT a.id FROM follows f
JOIN users u ON u.id = f.followee_id AND u.visibility <> 'private'
JOIN LATERAL (SELECT id FROM activities WHERE actor_id = f.followee_id
              AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $2) a ON true
WHERE f.follower_id = $1 AND f.status = 'accepted' AND f.followee_id NOT IN ({hidden})
ORDER BY a.id DESC LIMIT $2
""".format(hidden=hidden_users_sql("$1"))


async def ids_from_postgres(db: Database, user_id: int, limit: int,
                            before: int | None) -> list[int]:
    rows = await db.pool.fetch(_FROM_PG_SQL, user_id, limit, before)
    return [int(r["id"]) for r in rows]


# KEYS[1]: a home feed. ARGV: cap, the window's top ("+inf" or "(<id>"), its size, then the ids
# read from Postgres. Adds them and the marker to whatever the feed holds (ids the fan-out wrote
# while it was cold, also those of activities committed after the read from Postgres, which is
# why nothing is deleted first), trims to the cap and answers the window and the feed's size:
# a rebuild in one round trip (and no lock: two concurrent rebuilds write the same union).
REBUILD_LUA = """
local key = KEYS[1]
redis.call('ZADD', key, 0, '0')
for i = 4, #ARGV, 256 do
  local args = {}
  for j = i, math.min(i + 255, #ARGV) do
    args[#args + 1] = ARGV[j]
    args[#args + 1] = ARGV[j]
  end
  redis.call('ZADD', key, unpack(args))
end
redis.call('ZREMRANGEBYRANK', key, 1, -(tonumber(ARGV[1]) + 1))
return {redis.call('ZREVRANGEBYSCORE', key, ARGV[2], '(0', 'LIMIT', 0, tonumber(ARGV[3])),
        redis.call('ZCARD', key)}
"""


async def rebuild_feed(db: Database, redis: Redis, settings: Settings, user_id: int) -> bool:
    """Rebuild a home feed from Postgres (restore, ops). True once rebuilt."""
    await _rebuild(db, redis, settings, user_id, None, 0)
    return True


async def _rebuild(db: Database, redis: Redis, settings: Settings, user_id: int,
                   before: int | None, want: int) -> tuple[list[int], int]:
    """`rebuild_feed`, answering the window of `want` ids below `before` (newest first) and the
    feed's size, marker included: one statement and one Redis round trip (REBUILD_LUA)."""
    ids = await ids_from_postgres(db, user_id, settings.feed_size, None)
    top = f"({before}" if before is not None else "+inf"
    script = redis.register_script(REBUILD_LUA)
    window, size = await script(keys=[feed_key(user_id)],
                                args=[settings.feed_size, top, want, *ids])
    return [int(m) for m in window], int(size)


class _Read(msgspec.Struct, frozen=True):
    """What one pipelined read of a home feed tells (domain/feeds/service.py)."""

    built: bool        # the marker is there (else the feed must be rebuilt)
    ids: list[int]     # up to `want` ids below the cursor, newest first
    size: int          # the feed's members, marker included
    big: list[int]     # the big authors (merged at read time), whoever follows them


async def _read(redis: Redis, user_id: int, before: int | None, want: int) -> _Read:
    """One round trip for the page's Redis reads: marker, window, size and the big authors."""
    key = feed_key(user_id)
    top = f"({before}" if before is not None else "+inf"
    async with pipeline(redis, transaction=False) as pipe:  # (cluster: split per slot)
        pipe.zscore(key, MARKER)
        pipe.zrevrangebyscore(key, top, "(0", start=0, num=want)
        pipe.zcard(key)
        pipe.smembers(BIG_AUTHORS)
        marker, raw, size, big = await pipe.execute()
    return _Read(built=marker is not None, ids=[int(m) for m in raw], size=int(size),
                 big=[int(m) for m in big])


async def _big_author_ids(db: Database, user_id: int, big: list[int]) -> list[int]:
    """The big authors among `big` whom `user_id` follows (no query when there are none)."""
    if not big:
        return []
    rows = await db.pool.fetch(
        "SELECT followee_id FROM follows WHERE follower_id = $1 AND status = 'accepted'"
        " AND followee_id = ANY($2::bigint[])", user_id, big)
    return [int(r["followee_id"]) for r in rows]


async def _candidates(db: Database, settings: Settings, user_id: int, read: _Read,
                      before: int | None, want: int, big: list[int]) -> tuple[list[int], bool]:
    """Up to `want` candidate ids below `before`, newest first; and whether more may exist."""
    ids = list(read.ids)
    more = len(ids) == want
    if not more and read.size > settings.feed_size:
        # past the end of the capped Redis feed: older pages come from Postgres
        floor = ids[-1] if ids else before
        ids += await ids_from_postgres(db, user_id, want - len(ids), floor)
        more = len(ids) == want
    if big:
        rows = await db.pool.fetch(
            "SELECT id FROM activities WHERE actor_id = ANY($1::bigint[])"
            " AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3", big, before, want)
        extra = [int(r["id"]) for r in rows]
        more = more or len(extra) == want
        ids = sorted(set(ids) | set(extra), reverse=True)[:want]
    return ids, more


async def home_feed(db: Database, redis: Redis, settings: Settings, user_id: int, *,
                    cursor: str | None = None, limit: int = 20) -> FeedPage:
    """The newest activities of the people `user_id` follows, below `cursor` (an activity id).

    Redis is read in one pipelined round trip per pass (usually one pass a page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit",
                      field="limit")
    try:
        before = int(cursor) if cursor else None
    except ValueError as exc:
        raise Invalid("cursor is not one this server handed out", code="invalid_cursor",
                      field="cursor") from exc
    want = 2 * limit + 1
    read = await _read(redis, user_id, before, want)
    if not read.built:  # the rebuild answers the window as just written: no second read
        window, size = await _rebuild(db, redis, settings, user_id, before, want)
        read = _Read(built=True, ids=window, size=size, big=read.big)
    big = await _big_author_ids(db, user_id, read.big)
    items: list[ActivityView] = []
    more = True
    for attempt in range(5):  # visibility filtering may drop candidates: fetch again a few times
        if attempt:
            read = await _read(redis, user_id, before, want)
        ids, more = await _candidates(db, settings, user_id, read, before, want, big)
        if not ids:
            more = False
            break
        rows = await db.pool.fetch(_VISIBLE_SQL, ids, user_id)
        items += [_view(r) for r in rows]
        before = ids[-1]
        if len(items) > limit or not more:
            break
    page = items[:limit]
    has_more = len(items) > limit or more
    if not has_more:
        return FeedPage(items=page)
    # an empty page can still have a cursor: everything scanned so far was hidden
    return FeedPage(items=page, next_cursor=str(page[-1].id) if page else str(before))


def _view(r: Any) -> ActivityView:
    payload = r["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
    values = {k: str(v) for k, v in payload.items()}
    values["actor"] = r["display_name"]
    try:
        text = verbs.template(r["verb"]).format_map(_Blank(values))
    except (ValueError, IndexError):
        text = f"{r['display_name']} {r['verb']}"
    return ActivityView(id=r["id"], verb=r["verb"], text=text,
                        actor=ActorCard(id=r["actor_id"], handle=r["handle"],
                                        display_name=r["display_name"]),
                        object_kind=r["object_kind"], object_id=r["object_id"], payload=payload,
                        created_at=r["created_at"])


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"
