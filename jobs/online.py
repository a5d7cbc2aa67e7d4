"""Who has an open socket: a hub node subscribes to `user:<id>` while that user is connected."""

from __future__ import annotations

from typing import Any

from realtime.publisher import subscriber_counts


async def online_users(redis: Any, user_ids: list[int], chunk: int = 1000) -> list[int]:
    """The users whose `user:` room some hub node is subscribed to (someone is connected).

    Feed announcements only matter to open clients (the feed itself is durable and fetched over
    REST on connect), and web push only to closed ones (an open client shows it live).
    """
    online: list[int] = []
    for i in range(0, len(user_ids), chunk):
        part = user_ids[i:i + chunk]
        counts = await subscriber_counts(redis, [f"user:{u}" for u in part])
        online += [u for u, n in zip(part, counts, strict=True) if n > 0]
    return online
