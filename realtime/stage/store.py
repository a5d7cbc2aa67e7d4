"""A stage's state in Redis, on its room: one hash per stage (`s` the JSON state, `v` its
version, `e` the media epoch it lives in), changed by compare-and-set so web nodes never
overwrite each other's changes, plus one set indexing the open stages (for the watcher that
ends stages whose media process is gone). Survives any web node's restart."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from redis.asyncio import Redis

from domain.audio.stage import Stage
from domain.errors import DomainError
from realtime.keys import room_key

INDEX_KEY = "ra:stages"  # every open stage's room name (not a room key: one per deployment)
ALIVE_KEY = "ra:media:alive"  # the media process's heartbeat: its epoch, with a short TTL
REQUESTS_KEY = "ra:media:req"  # web -> media requests (a list)
REPLY_PREFIX = "ra:media:reply:"  # media -> web replies, one list per request

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Stage).decode

CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'v', '0', 'e', ARGV[2])
return 1
"""
CAS_LUA = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', ARGV[3])
return 1
"""
END_LUA = """
local e = redis.call('HGET', KEYS[1], 'e')
if not e or (ARGV[1] ~= '' and e ~= ARGV[1]) then return false end
local s = redis.call('HGET', KEYS[1], 's')
redis.call('DEL', KEYS[1])
return s
"""


def stage_key(room: str) -> str:
    """The stage's hash, on its room's slot (`ra:{stage:session:42}:stage`)."""
    return room_key(room, "stage")


class StageStore:
    """Read, create, change (compare-and-set) and end stages."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._create = redis.register_script(CREATE_LUA)
        self._cas = redis.register_script(CAS_LUA)
        self._end = redis.register_script(END_LUA)

    async def get(self, room: str) -> Stage | None:
        raw = await self.redis.hget(stage_key(room), "s")  # type: ignore[misc]
        return None if raw is None else _decode(raw)

    async def create(self, room: str, stage: Stage) -> bool:
        made = await self._create(keys=[stage_key(room)],
                                  args=[_encode(stage), stage.media_epoch])
        if made:
            await self.redis.sadd(INDEX_KEY, room)  # type: ignore[misc]
        return bool(made)

    async def change(self, room: str, apply: Callable[[Stage], Stage],
                     attempts: int = 20) -> tuple[Stage, Stage]:
        """Apply `apply` to the current state until no other node changed it in between:
        (before, after). `no_stage` when the room has none; `apply` may raise DomainError."""
        for _ in range(attempts):
            before = await self.get(room)
            if before is None:
                raise DomainError("no stage is open here", code="no_stage", field="room")
            after = apply(msgspec.structs.replace(before))
            after.version = before.version + 1
            if await self._cas(keys=[stage_key(room)],
                               args=[str(before.version), _encode(after), str(after.version)]):
                return before, after
        raise DomainError("the stage is changing too fast; retry", code="unavailable")

    async def end(self, room: str, epoch: str = "") -> Stage | None:
        """Remove the stage (only if it lives in media `epoch`, when given): the state it had,
        or None when another node ended it first."""
        raw = await self._end(keys=[stage_key(room)], args=[epoch])
        if raw or not await self.redis.exists(stage_key(room)):
            await self.redis.srem(INDEX_KEY, room)  # type: ignore[misc]
        return None if not raw else _decode(raw)

    async def rooms(self) -> list[str]:
        return sorted(m.decode() if isinstance(m, bytes) else str(m)
                      for m in await self.redis.smembers(INDEX_KEY))  # type: ignore[misc]

    async def media_epoch(self) -> str | None:
        raw = await self.redis.get(ALIVE_KEY)
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))


def now() -> float:
    return time.time()
