"""What follows a social-graph change: notifications, the `followed` activity and feed jobs.

The social controllers call these after the graph use-case succeeded (one line each). They
never fail the request: the graph change is already committed, and the notification and
activity rows are written before any job is queued (sweeps re-queue what Redis missed).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from domain.db import Database
from domain.feeds import verbs
from domain.feeds.service import record_activity
from domain.jobqueue import enqueue_quietly
from domain.notifications.service import notify
from domain.social.profiles import user_id_by_handle

log = logging.getLogger("readalong.notifications")

async def _id(db: Database, handle: str) -> int | None:
    try:
        return await user_id_by_handle(db, handle)
    except Exception:
        return None


async def after_follow(db: Database, redis: Redis | None, follower_id: int, handle: str,
                       state: str, *, group_window: int = 3600) -> None:
    """`state` is the follow use-case's answer: "following" or "requested"."""
    try:
        followee = await _id(db, handle)
        if followee is None:
            return
        if state == "following":
            await notify(db, redis, recipient_id=followee, type="new_follower",
                         actor_id=follower_id, target_kind="user", target_id=followee,
                         group_window=group_window)
            await record_activity(db, redis, actor_id=follower_id, verb=verbs.FOLLOWED,
                                  object_kind="user", object_id=followee,
                                  payload={"name": await _name(db, followee)})
            if redis is not None:
                await enqueue_quietly(redis, "feed_follow", follower_id, followee)
        elif state == "requested":
            await notify(db, redis, recipient_id=followee, type="follow_request",
                         actor_id=follower_id, target_kind="user", target_id=followee,
                         group_window=group_window)
    except Exception:
        log.exception("after_follow failed")


async def after_approve(db: Database, redis: Redis | None, owner_id: int, handle: str) -> None:
    """`owner_id` approved `handle`'s request: tell them, and fill their feed."""
    try:
        follower = await _id(db, handle)
        if follower is None:
            return
        await notify(db, redis, recipient_id=follower, type="follow_accepted", actor_id=owner_id,
                     target_kind="user", target_id=owner_id)
        if redis is not None:
            await enqueue_quietly(redis, "feed_follow", follower, owner_id)
    except Exception:
        log.exception("after_approve failed")


async def after_unfollow(db: Database, redis: Redis | None, follower_id: int,
                         handle: str) -> None:
    """Also used for mute (the muter's feed drops the muted user's activities)."""
    followee = await _id(db, handle)
    if followee is not None and redis is not None:
        await enqueue_quietly(redis, "feed_unfollow", follower_id, followee)


async def after_remove_follower(db: Database, redis: Redis | None, owner_id: int,
                                handle: str) -> None:
    follower = await _id(db, handle)
    if follower is not None and redis is not None:
        await enqueue_quietly(redis, "feed_unfollow", follower, owner_id)


async def after_block(db: Database, redis: Redis | None, blocker_id: int, handle: str) -> None:
    blocked = await _id(db, handle)
    if blocked is not None and redis is not None:
        await enqueue_quietly(redis, "feed_block", blocker_id, blocked)


async def _name(db: Database, user_id: int) -> str:
    return str(await db.pool.fetchval("SELECT display_name FROM users WHERE id = $1", user_id)
               or "someone")
