"""A room's history for recovery: the current (epoch, offset) and the events after `since`."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from domain.redisconn import is_cluster
from realtime.history_bound import AGE_FN
from realtime.publisher import EPOCH_FN, history_key, meta_key, new_epoch, script_for
from realtime.wire import WireEvent, WirePresence, decode_body

# KEYS: meta hash, history stream. ARGV: candidate epoch, ttl. Starts an epoch (offset 0) if the
# room has none, so that every subscriber gets a real epoch and can later say "since offset 0".
ENSURE_LUA = EPOCH_FN + """
local e = current_epoch(KEYS[1], KEYS[2])
if not e then
  e = start_epoch(KEYS[1], KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {e, redis.call('HGET', KEYS[1], 'offset')}
"""

# KEYS: meta hash, history stream. ARGV: first stream id wanted. One atomic read of the meta
# (epoch, offset, tombstones) and the stream after it (a script, not MULTI: the cluster client
# runs no transactions, and a script is one round trip either way). The time bound is applied
# first (AGE_FN: buckets older than the room's window are trimmed), so they are never replayed.
READ_LUA = EPOCH_FN + AGE_FN + """
local e = current_epoch(KEYS[1], KEYS[2])
if not e then return {false, false, false, {}} end
age_trim(KEYS[1], KEYS[2], false, 0, 1)
local m = redis.call('HMGET', KEYS[1], 'offset', 'x')
return {e, m[1], m[2], redis.call('XRANGE', KEYS[2], ARGV[1], '+')}
"""

_SCRIPTS = {(lua, sharded): script_for(lua, sharded)
            for lua in (ENSURE_LUA, READ_LUA) for sharded in (False, True)}


async def _run(redis: Redis, lua: str, room: str, *args: str) -> list[Any]:
    script = _SCRIPTS[lua, is_cluster(redis)]
    out = await redis.eval(script, 2, meta_key(room), history_key(room),  # type: ignore[misc]
                           *args)
    return list(out)


async def read_position(redis: Redis, room: str, ttl: int) -> tuple[str, int]:
    """The room's (epoch, offset), starting its epoch if it has none yet."""
    epoch, offset = await _run(redis, ENSURE_LUA, room, new_epoch(), str(ttl))
    return (epoch.decode() if isinstance(epoch, bytes) else str(epoch)), int(offset or 0)


async def read_since(redis: Redis, room: str, epoch: str, offset: int
                     ) -> tuple[str | None, int, bool, list[tuple[int, WireEvent]]]:
    """(current epoch, current offset, recovered, missed events in order).

    `recovered` is False when the epoch changed (history lost) or the events right after
    `offset` are no longer kept; then no events are returned and the client refetches.
    Retracted offsets (tombstones: field `x` of the meta hash, see `Publisher.retract`) are
    skipped: they are holes on purpose, not lost history.
    """
    cur_epoch, cur_offset, tombs, raw = await _run(redis, READ_LUA, room, f"{offset + 1}-0")
    entries = [(eid, dict(zip(kv[::2], kv[1::2], strict=True))) for eid, kv in raw]
    cur_e = cur_epoch.decode() if cur_epoch else None
    cur_o = int(cur_offset or 0)
    if cur_e is None or cur_e != epoch or offset > cur_o:
        return cur_e, cur_o, False, []
    if offset == cur_o:
        return cur_e, cur_o, True, []
    gone = {int(t) for t in tombs.split(b",") if t} if tombs else ()
    events: list[tuple[int, WireEvent]] = []
    expected = offset + 1
    for entry_id, fields in entries:
        off = int(entry_id.split(b"-", 1)[0])
        while expected < off and expected in gone:
            expected += 1
        if off != expected:
            return cur_e, cur_o, False, []
        expected += 1
        item = decode_body(fields[b"d"])
        if isinstance(item, WirePresence):  # never stored, but be strict
            continue
        events.append((off, item))
    while expected <= cur_o and expected in gone:
        expected += 1
    if expected - 1 < cur_o:
        # the stream ended before the meta's offset (it expired or was trimmed concurrently)
        return cur_e, cur_o, False, []
    return cur_e, cur_o, True, events
