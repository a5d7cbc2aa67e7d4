"""Publishing into rooms: store in history, assign the offset and PUBLISH in one Lua call.

This is the one way jobs and use-cases reach WebSocket clients:
`await Publisher(redis, settings).publish("user:7", RoomEvent("notification", {...}))`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from domain.keys import HISTORY, HISTORY_META, HUB_CHANNEL
from domain.settings import Settings
from realtime.rooms.base import RoomEvent
from realtime.wire import encode_event, plain_message

# KEYS: meta hash, history stream, channel. ARGV: body, candidate epoch, max length, ttl seconds.
# A missing meta hash means history was lost (first event, TTL, flush, restart without data):
# a new epoch starts and the old stream (if any) is dropped, so old offsets never mix with new.
PUBLISH_LUA = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-1', 'd', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], offset .. ':' .. epoch .. ':' .. ARGV[1])
return {epoch, offset}
"""

DEFAULT_EPHEMERAL = ("leaderboard",)


def channel_of(room: str) -> str:
    return f"{HUB_CHANNEL}{room}"


def history_key(room: str) -> str:
    return f"{HISTORY}{room}"


def meta_key(room: str) -> str:
    return f"{HISTORY_META}{room}"


def new_epoch() -> str:
    return uuid.uuid4().hex[:12]


class Publisher:
    """Publishes RoomEvents. Rooms whose kind keeps no history (by prefix) are only PUBLISHed."""

    def __init__(self, redis: Redis, settings: Settings,
                 ephemeral_prefixes: Iterable[str] = DEFAULT_EPHEMERAL) -> None:
        self.redis = redis
        self.history_size = settings.history_size
        self.history_ttl = settings.history_ttl
        self.ephemeral = set(ephemeral_prefixes)
        self._script = redis.register_script(PUBLISH_LUA)

    def keeps_history(self, room: str) -> bool:
        return room.partition(":")[0] not in self.ephemeral

    async def publish(self, room: str, event: RoomEvent) -> tuple[str, int] | None:
        """Store (if the room keeps history), number and PUBLISH; returns (epoch, offset) or None."""
        body = encode_event(event)
        if not self.keeps_history(room):
            await self.redis.publish(channel_of(room), plain_message(body))
            return None
        epoch, offset = await self._script(
            keys=[meta_key(room), history_key(room), channel_of(room)],
            args=[body, new_epoch(), self.history_size, self.history_ttl],
        )
        return (epoch.decode() if isinstance(epoch, bytes) else str(epoch)), int(offset)
