"""Feed jobs: fan-out of new activities (announced live), follow backfill, unfollow/block
removal, and the hourly maintenance of the set of authors merged at read time."""

from __future__ import annotations

from typing import Any

from domain.feeds.fanout import backfill_author, fanout, remove_author
from domain.feeds.service import BIG_AUTHORS
from jobs.notifications import gather_limited
from jobs.online import online_users
from jobs.retry import task
from realtime.rooms.base import RoomEvent


@task
async def fanout_activity(ctx: dict[str, Any], activity_id: int) -> int:
    """Write one activity into its followers' feeds and announce it on their `user:` rooms.

    The announcement is live only (not stored in the user room's history): the feed itself is
    the record (Redis, rebuilt from PostgreSQL), so a reader who was away reads it over REST,
    and a stored copy would only fill the user's stream toward `history_size` events."""
    result = await fanout(ctx["db"], ctx["redis"], ctx["settings"], activity_id)
    if result is None:
        return 0
    publisher = ctx["publisher"]
    online = await online_users(ctx["redis"], result.recipients)
    await gather_limited([publisher.publish(f"user:{uid}", RoomEvent(
        "feed", result.announcement, author_id=result.actor_id, target_user_ids=[uid],
        live_only=True))
        for uid in online])
    return len(result.recipients)


@task
async def feed_follow(ctx: dict[str, Any], follower_id: int, followee_id: int) -> int:
    """After a follow (or an approved request): backfill the followee's recent activities."""
    return await backfill_author(ctx["db"], ctx["redis"], ctx["settings"], follower_id,
                                 followee_id)


@task
async def feed_unfollow(ctx: dict[str, Any], follower_id: int, followee_id: int) -> int:
    """After an unfollow or a mute: the followee's activities leave the follower's feed."""
    return await remove_author(ctx["db"], ctx["redis"], follower_id, followee_id)


@task
async def feed_block(ctx: dict[str, Any], blocker_id: int, blocked_id: int) -> int:
    """After a block: each one's activities leave the other's feed."""
    return (await remove_author(ctx["db"], ctx["redis"], blocker_id, blocked_id)
            + await remove_author(ctx["db"], ctx["redis"], blocked_id, blocker_id))


@task
async def feed_maintenance(ctx: dict[str, Any]) -> int:
    """Cron: authors whose follower count fell under the threshold are fanned out again."""
    db, redis, settings = ctx["db"], ctx["redis"], ctx["settings"]
    dropped = 0
    for member in await redis.smembers(BIG_AUTHORS):
        n = await db.pool.fetchval("SELECT count(*) FROM follows WHERE followee_id = $1"
                                   " AND status = 'accepted'", int(member))
        if n <= settings.feed_fanout_max:
            await redis.srem(BIG_AUTHORS, member)
            dropped += 1
    return dropped
