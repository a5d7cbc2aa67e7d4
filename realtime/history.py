"""A room's history for recovery: the current (epoch, offset) and the events after `since`."""

from __future__ import annotations

from redis.asyncio import Redis

from realtime.publisher import history_key, meta_key, new_epoch
from realtime.wire import WireEvent, WirePresence, decode_body

# KEYS: meta hash, history stream. ARGV: candidate epoch, ttl. Starts an epoch (offset 0) if the
# room has none, so that every subscriber gets a real epoch and can later say "since offset 0".
ENSURE_LUA = """
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then
  e = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', e, 'offset', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {e, redis.call('HGET', KEYS[1], 'offset')}
"""


async def read_position(redis: Redis, room: str, ttl: int) -> tuple[str, int]:
    """The room's (epoch, offset), starting its epoch if it has none yet."""
    epoch, offset = await redis.eval(ENSURE_LUA, 2, meta_key(room), history_key(room),
                                     new_epoch(), str(ttl))  # type: ignore[misc]
    return (epoch.decode() if isinstance(epoch, bytes) else str(epoch)), int(offset or 0)


async def read_since(redis: Redis, room: str, epoch: str, offset: int
                     ) -> tuple[str | None, int, bool, list[tuple[int, WireEvent]]]:
    """(current epoch, current offset, recovered, missed events in order).

    `recovered` is False when the epoch changed (history lost) or the events right after
    `offset` are no longer kept; then no events are returned and the client refetches.
    Retracted offsets (tombstones: field `x` of the meta hash, see `Publisher.retract`) are
    skipped: they are holes on purpose, not lost history.
    """
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(meta_key(room), ["epoch", "offset", "x"])
        pipe.xrange(history_key(room), min=f"{offset + 1}-0", max="+")
        (cur_epoch, cur_offset, tombs), entries = await pipe.execute()
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
