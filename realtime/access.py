"""Access withdrawn while a subscribe is in flight: the room's access token.

A subscribe checks access (`RoomKind.authorize`), then registers the socket (the node's
subscription table, presence); an eviction after a commit that withdraws access (a club made
private, a member banned) finds the sockets in those two places. A socket whose check passed
before the commit but which registers after the eviction looked would be missed. So the
evictor first changes the room's token (`withdraw`, after the commit, before it looks), and
a subscribe to a `guarded` kind reads the token before its check and again once registered:
the same token means any later eviction sees the socket; another one means the check may have
read the old rules, and it is made again (`realtime.membership`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from domain.keys import ACCESS_PART, room_key
from realtime.connection_redis import lean_pipeline

TTL = 86_400  # far longer than any subscribe takes; a token never comes back once changed


def access_key(room: str) -> str:
    return room_key(room, ACCESS_PART)


async def token(client: Any, room: str) -> bytes | None:
    """The room's current access token (None: access to it was not withdrawn lately).
    `client`: a Redis client or the set-up path's `TurnRedis`."""
    return (await client.mget([access_key(room)]))[0]  # type: ignore[no-any-return]


async def withdraw(redis: Redis, rooms: Iterable[str]) -> None:
    """After the commit that withdraws access to `rooms`, before evicting from them: a new
    token for each (a fresh one, so it never equals what a subscribe read before)."""
    new = uuid.uuid4().hex
    pipe = lean_pipeline(redis)
    for room in rooms:
        pipe.set(access_key(room), new, ex=TTL)
    await pipe.execute()
