"""Account deletion: a request with a grace period and a cancel, then the worker's erasure.

What happens to each kind of data (the rule is by table, read from the foreign keys to
`users`, so a new table follows its own ON DELETE rule):
- **anonymised to "Deleted reader"** (one shared tombstone account, `deleted-reader`, which
  cannot log in): what the reader wrote in shared rooms, so other people's conversations keep
  their shape: session messages, annotations and reactions (ANONYMISED), sessions they host
  or created (other participants keep the room and its history), and their comments on other
  readers' reviews;
- **removed**: everything else that is theirs (profile, follows, blocks and mutes both ways,
  reading states, reads, the log, goals, reviews — their ratings leave the books' aggregates —
  likes — the liked reviews' counts go down — reports, notifications, preferences, push
  subscriptions, refresh tokens, badges, XP, leaderboard records, sync identities and
  documents, imports, private notes, exports, feed activities, and other readers'
  "followed <them>" activities);
- **unlinked** (ON DELETE SET NULL): moderation marks they made on others' content, the actor
  of other readers' notifications (also removed from their actor lists), provenance of
  catalog entries an import created (the books stay in the catalog);
- **Redis**: their presence in every room, their feed and their activities in others' feeds,
  their leaderboard entries in every period, their rate-limit buckets, their user room's
  history, session reminders, and events in room histories that carry their names. What stays:
  `ra:revoked:user:<id>` until the access-token TTL passes (it is what keeps tokens issued
  before the deletion dead), and arq's job results (`arq:result:*`, kept an hour, holding job
  arguments such as ids); tokens are revoked and sockets closed through
  domain/accounts/revocation.py first.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis

from domain.accounts.revocation import revoke_user
from domain.db import Database
from domain.errors import Conflict, NotFound
from domain.interop.export import user_tables
from domain.keys import (
    FEED,
    HISTORY_META_PART,
    HISTORY_PART,
    LEADERBOARD,
    PRESENCE_PART,
    RATE_LIMIT,
    SESSION_REMINDED,
    room_key,
    room_pattern,
)
from domain.reading import boards
from domain.reading.reviews import count_rating

TOMBSTONE_HANDLE = "deleted-reader"
ANONYMISED = frozenset({("session_messages", "author_id"), ("session_annotations", "author_id"),
                        ("session_reactions", "author_id"), ("reading_sessions", "host_id"),
                        ("reading_sessions", "created_by"), ("review_comments", "author_id")})


async def request(db: Database, user_id: int, grace: int, now: datetime) -> datetime:
    """Schedule the deletion `grace` seconds from now; asking twice keeps the first date."""
    due = await db.pool.fetchval(
        "INSERT INTO account_deletions (user_id, requested_at, due_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id RETURNING due_at",
        user_id, now, now + timedelta(seconds=grace))
    return due  # type: ignore[no-any-return]


async def pending(db: Database, user_id: int) -> datetime | None:
    return await db.pool.fetchval(  # type: ignore[no-any-return]
        "SELECT due_at FROM account_deletions WHERE user_id = $1", user_id)


async def cancel(db: Database, user_id: int) -> None:
    if await db.pool.fetchval("DELETE FROM account_deletions WHERE user_id = $1"
                              " RETURNING user_id", user_id) is None:
        raise NotFound("no deletion is scheduled", code="deletion_not_scheduled")


async def due(db: Database, now: datetime) -> list[int]:
    return [int(r["user_id"]) for r in await db.pool.fetch(
        "SELECT user_id FROM account_deletions WHERE due_at <= $1 ORDER BY due_at", now)]


async def _tombstone(conn: Any) -> int:
    await conn.execute(
        "INSERT INTO users (email, handle, display_name, password_hash, visibility)"
        " VALUES ('deleted-reader@invalid', $1, 'Deleted reader', '!', 'private')"
        " ON CONFLICT DO NOTHING", TOMBSTONE_HANDLE)
    return int(await conn.fetchval("SELECT id FROM users WHERE lower(handle) = $1",
                                   TOMBSTONE_HANDLE))


async def _erase_rows(conn: Any, user_id: int) -> dict[str, Any]:
    """One transaction: anonymise shared-room content, fix counters, delete the user row.
    Returns what Redis clean-up needs (names, activity ids)."""
    who = await conn.fetchrow("SELECT handle, display_name, email FROM users WHERE id = $1"
                              " FOR UPDATE", user_id)
    if who is None:
        return {}
    if who["handle"].lower() == TOMBSTONE_HANDLE:
        raise Conflict("the tombstone account is not deleted", code="deletion_refused")
    tomb = await _tombstone(conn)
    for table, column, _ in await user_tables(conn):
        if (table, column) in ANONYMISED:
            await conn.execute(f'UPDATE "{table}" SET "{column}" = $2 WHERE "{column}" = $1',
                               user_id, tomb)
    for row in await conn.fetch("SELECT book_id, rating_quarters FROM reviews WHERE user_id = $1"
                                " AND hidden_at IS NULL AND rating_quarters IS NOT NULL",
                                user_id):
        await count_rating(conn, int(row["book_id"]), int(row["rating_quarters"]), -1)
    await conn.execute("UPDATE reviews SET likes = likes - 1 WHERE id IN (SELECT review_id"
                       " FROM review_likes WHERE user_id = $1)", user_id)
    await conn.execute("UPDATE notifications SET actor_ids = array_remove(actor_ids, $1)"
                       " WHERE $1 = ANY (actor_ids)", user_id)
    activities = [int(r["id"]) for r in await conn.fetch(
        "SELECT id FROM activities WHERE actor_id = $1 OR (object_kind = 'user' AND"
        " object_id = $1::bigint::text)", user_id)]
    await conn.execute("DELETE FROM activities WHERE object_kind = 'user'"
                       " AND object_id = $1::bigint::text", user_id)
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    return {"names": [who["handle"], who["display_name"], who["email"]],
            "activities": activities}


async def _scan(redis: Redis, pattern: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=pattern, count=500)]


async def _erase_redis(redis: Redis, user_id: int, names: list[str],
                       activities: list[int]) -> None:
    uid = str(user_id)
    for key in await _scan(redis, room_pattern(PRESENCE_PART)):
        if await redis.type(key) == b"hash":
            await cast("Awaitable[int]", redis.hdel(key.decode(), uid))
    await redis.delete(f"{FEED}{uid}",
                       room_key(f"user:{uid}", HISTORY_PART),
                       room_key(f"user:{uid}", HISTORY_META_PART))
    if activities:
        for key in await _scan(redis, f"{FEED}*"):
            await redis.zrem(key, *[str(a) for a in activities])
    member = boards.member(user_id)
    needles = [n.encode() for n in names if n]
    for key in await _scan(redis, f"{LEADERBOARD}*"):
        kind = await redis.type(key)
        if kind == b"zset":
            await redis.zrem(key, member)
        elif kind == b"hash":  # <board>:ranks, a live room's last pushed rank per owner
            await cast("Awaitable[int]", redis.hdel(key.decode(), uid))
        elif kind == b"string":  # <board>:last, the last pushed top N (re-pushed whole)
            value = await redis.get(key) or b""
            if any(n in value for n in needles):
                await redis.delete(key)
    lowered = [n.lower() for n in names if n]
    for key in await _scan(redis, f"{RATE_LIMIT}*"):
        text = key.decode(errors="replace").lower()
        if text.endswith(f":{uid}") or any(n in text for n in lowered):
            await redis.delete(key)
    for key in await _scan(redis, f"{SESSION_REMINDED}*:{uid}"):
        await redis.delete(key)
    for key in await _scan(redis, room_pattern(HISTORY_PART)):
        if await redis.type(key) != b"stream":
            continue
        for entry_id, fields in await redis.xrange(key):
            blob = b"".join(v if isinstance(v, bytes) else str(v).encode()
                            for v in fields.values())
            if any(n in blob for n in needles):
                await redis.xdel(key, entry_id)


async def erase(db: Database, redis: Redis, user_id: int, *, token_ttl: int) -> bool:
    """Delete one account now (the worker calls it when due). Idempotent: False when the
    account is already gone."""
    await revoke_user(redis, user_id, token_ttl)  # tokens dead, sockets closed, first
    async with db.pool.acquire() as conn, conn.transaction():
        found = await _erase_rows(conn, user_id)
    if not found:
        return False
    await _erase_redis(redis, user_id, found["names"], found["activities"])
    return True
