"""Telling every member of a club: one notification each through the registry (`notify`: the
member's channel preferences, blocks and quiet hours hold per recipient), a few at a time so a
club of ten thousand is told in seconds, not one round trip after another."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from domain.db import Database
from domain.notifications.service import notify

#: notifications in flight at once (each is a few statements on its own pooled connection)
CONCURRENCY = 8


async def member_ids(db: Database, club_id: int) -> list[int]:
    return [int(r["user_id"]) for r in await db.pool.fetch(
        "SELECT user_id FROM club_members WHERE club_id = $1 ORDER BY user_id", club_id)]


async def notify_all(db: Database, redis: Redis | None, user_ids: list[int], *, type: str,
                     actor_id: int | None = None, target_kind: str = "",
                     target_id: str | int = "", payload: dict[str, Any] | None = None) -> int:
    """One `type` notification per user (the actor skipped by `notify`); how many were stored."""
    queue = list(user_ids)
    stored = 0

    async def drain() -> None:
        nonlocal stored
        while queue:
            uid = queue.pop()
            nid = await notify(db, redis, recipient_id=uid, type=type, actor_id=actor_id,
                               target_kind=target_kind, target_id=target_id, payload=payload)
            stored += nid is not None

    await asyncio.gather(*(drain() for _ in range(min(CONCURRENCY, len(queue)))))
    return stored
