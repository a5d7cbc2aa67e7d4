"""Publishing into rooms: store in history, assign the offset and PUBLISH in one Lua call.

This is the one way jobs and use-cases reach WebSocket clients:
`await Publisher(redis, settings).publish("user:7", RoomEvent("notification", {...}))`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from domain.keys import HISTORY_META_PART, HISTORY_PART, room_channel, room_key
from domain.redisconn import is_cluster
from domain.settings import Settings
from realtime.connection_redis import lean_pipeline
from realtime.history_bound import AGE_FN, history_grain
from realtime.rooms.base import RoomEvent
from realtime.wire import encode_event, plain_message

# The epoch of a room's history (shared by every script that reads or writes it; KEYS[1] is the
# meta hash, KEYS[2] the stream). A missing meta hash means history was lost (first event, TTL,
# flush, restart without data): a new epoch starts and the old stream (if any) is dropped, so
# old offsets never mix with new. In cluster mode (`SHARDED`) the meta also records the node
# that wrote it (`w`, CLUSTER MYID). History written by another node came here by a slot move
# (complete: kept, and this node becomes its writer) when that node is still a healthy primary;
# otherwise a replica took over from it (failover) and may lack its last, unreplicated writes,
# so the history counts as lost (clients holding the old epoch get `recovered: false` and
# refetch from PostgreSQL). CLUSTER NODES is read only then: once per room after a change.
EPOCH_FN = """
local function moved_here(w)
  if not w then return false end
  for line in string.gmatch(redis.call('CLUSTER', 'NODES'), '[^\\n]+') do
    local id, flags = string.match(line, '^(%S+) %S+ (%S+)')
    if id == w then
      return string.find(flags, 'master', 1, true) ~= nil
        and string.find(flags, 'fail', 1, true) == nil
    end
  end
  return false
end
local function current_epoch(meta, stream)
  local e = redis.call('HGET', meta, 'epoch')
  if e and SHARDED then
    local me = redis.call('CLUSTER', 'MYID')
    local w = redis.call('HGET', meta, 'w')
    if w ~= me then
      if moved_here(w) then
        redis.call('HSET', meta, 'w', me)
      else
        redis.call('DEL', meta, stream)
        e = false
      end
    end
  end
  return e
end
local function start_epoch(meta, stream, candidate)
  redis.call('DEL', stream, meta)
  redis.call('HSET', meta, 'epoch', candidate, 'offset', 0)
  if SHARDED then redis.call('HSET', meta, 'w', redis.call('CLUSTER', 'MYID')) end
  return candidate
end
"""

# KEYS: meta hash, history stream, channel. ARGV: body, candidate epoch, max length, ttl seconds,
# window seconds, grain seconds (AGE_FN).
PUBLISH_LUA = EPOCH_FN + AGE_FN + """
local epoch = current_epoch(KEYS[1], KEYS[2]) or start_epoch(KEYS[1], KEYS[2], ARGV[2])
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-1', 'd', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
age_trim(KEYS[1], KEYS[2], offset, tonumber(ARGV[5]), tonumber(ARGV[6]))
redis.call('PUBLISH', KEYS[3], offset .. ':' .. epoch .. ':' .. ARGV[1])
return {epoch, offset}
"""

# Retraction: Lua shared by the two scripts below. The room's meta hash (which lives and dies
# with its epoch, and is refreshed by every publish) also holds
#   `k:<key>` -> ",3,7"  the offsets stored under a history key (RoomEvent.key), and
#   `x`       -> ",5,9"  tombstones: offsets removed on purpose, which replay skips (a hole
#                        there is not lost history, so `recovered` stays true).
# A retraction XDELs the entries (their content is gone from Redis) and adds tombstones; the
# tombstones below the oldest kept entry and the key fields whose entries were all trimmed are
# pruned, so the hash stays about as small as the stream.
RETRACT_FN = """
local function first_kept(stream)
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if first then return tonumber(string.match(first[1], '^(%d+)')) end
  return nil
end
local function retract(meta, stream, key, offset)
  local gone = {}
  local offsets = offset
  if key ~= '' then
    offsets = redis.call('HGET', meta, 'k:' .. key) or ''
    redis.call('HDEL', meta, 'k:' .. key)
  end
  for o in string.gmatch(offsets, '%d+') do
    if redis.call('XDEL', stream, o .. '-1') == 1 then table.insert(gone, o) end
  end
  if #gone == 0 then return gone end
  local low = first_kept(stream)
  local kept = {}
  for t in string.gmatch((redis.call('HGET', meta, 'x') or '') .. ',' .. table.concat(gone, ','),
                         '%d+') do
    if not low or tonumber(t) >= low - 1 then table.insert(kept, t) end
  end
  redis.call('HSET', meta, 'x', ',' .. table.concat(kept, ','))
  return gone
end
local function remember(meta, stream, key, offset, maxlen)
  local field = 'k:' .. key
  redis.call('HSET', meta, field, (redis.call('HGET', meta, field) or '') .. ',' .. offset)
  if redis.call('HLEN', meta) > 2 * maxlen + 8 then
    local low = first_kept(stream) or 0
    for _, f in ipairs(redis.call('HKEYS', meta)) do
      if string.sub(f, 1, 2) == 'k:' then
        local top = 0
        for o in string.gmatch(redis.call('HGET', meta, f), '%d+') do top = tonumber(o) end
        if top < low then redis.call('HDEL', meta, f) end
      end
    end
  end
end
"""

# Like PUBLISH_LUA, for events with a history key and/or a retraction.
# ARGV: body, candidate epoch, max length, ttl, key ('' none), retracts ('' none), window, grain.
PUBLISH_KEYED_LUA = EPOCH_FN + RETRACT_FN + AGE_FN + """
local epoch = current_epoch(KEYS[1], KEYS[2]) or start_epoch(KEYS[1], KEYS[2], ARGV[2])
if ARGV[6] ~= '' then retract(KEYS[1], KEYS[2], ARGV[6], '') end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-1', 'd', ARGV[1])
if ARGV[5] ~= '' then remember(KEYS[1], KEYS[2], ARGV[5], offset, tonumber(ARGV[3])) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
age_trim(KEYS[1], KEYS[2], offset, tonumber(ARGV[7]), tonumber(ARGV[8]))
redis.call('PUBLISH', KEYS[3], offset .. ':' .. epoch .. ':' .. ARGV[1])
return {epoch, offset}
"""

# KEYS: meta hash, history stream. ARGV: key or '', offset or '', epoch or '' (when given and
# not the room's current epoch, nothing happens: that history is gone already).
RETRACT_LUA = EPOCH_FN + RETRACT_FN + """
local epoch = current_epoch(KEYS[1], KEYS[2])
if not epoch or (ARGV[3] ~= '' and ARGV[3] ~= epoch) then return {} end
return retract(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
"""

DEFAULT_EPHEMERAL = ("leaderboard",)


def channel_of(room: str) -> str:
    return room_channel(room)


def history_key(room: str) -> str:
    return room_key(room, HISTORY_PART)


def meta_key(room: str) -> str:
    return room_key(room, HISTORY_META_PART)


def script_for(lua: str, sharded: bool) -> str:
    """A room script for the mode: in cluster mode it SPUBLISHes (sharded pub/sub: the
    message goes to the room's shard only, where its subscribers listen) and checks the
    history's writer; on one instance it PUBLISHes."""
    head = f"local SHARDED = {'true' if sharded else 'false'}\n"
    return head + (lua.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'") if sharded
                   else lua)


async def publish_plain(redis: Redis, room: str, message: bytes) -> None:
    """PUBLISH (SPUBLISH in cluster mode) a ready channel message to the room."""
    if is_cluster(redis):
        # (routed by the channel's slot; redis-py 5's cluster client has no spublish())
        await redis.execute_command(  # type: ignore[no-untyped-call]
            "SPUBLISH", room_channel(room), message)
    else:
        await redis.publish(room_channel(room), message)


async def publish_plain_many(redis: Redis, messages: list[tuple[str, bytes]]) -> None:
    """`publish_plain` for several (room, message), the rooms distinct: one pipelined round trip
    on one instance; in cluster mode one SPUBLISH per message at once, each routed to its
    room's shard (a cluster pipeline cannot carry SPUBLISH)."""
    if is_cluster(redis):
        await asyncio.gather(*[publish_plain(redis, room, m) for room, m in messages])
        return
    async with lean_pipeline(redis) as pipe:
        for room, message in messages:
            pipe.publish(room_channel(room), message)
        await pipe.execute()


async def subscriber_counts(redis: Redis, rooms: list[str]) -> list[int]:
    """How many node subscriptions each room's channel has (PUBSUB NUMSUB, or SHARDNUMSUB on
    each room's shard in cluster mode)."""
    if not rooms:
        return []
    if not is_cluster(redis):
        counts = await redis.pubsub_numsub(*[room_channel(r) for r in rooms])
        return [int(n) for _, n in counts]
    out: list[int] = []
    for room in rooms:  # (each channel may live on another shard)
        channel = room_channel(room)
        node = redis.get_node_from_key(channel)  # type: ignore[attr-defined]
        raw = await redis.execute_command(  # type: ignore[no-untyped-call]
            "PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
        out.append(int(raw[1]) if isinstance(raw, list) and len(raw) > 1 else 0)
    return out


def new_epoch() -> str:
    return uuid.uuid4().hex[:12]


class Publisher:
    """Publishes RoomEvents. Rooms whose kind keeps no history (by prefix) are only PUBLISHed."""

    def __init__(self, redis: Redis, settings: Settings,
                 ephemeral_prefixes: Iterable[str] = DEFAULT_EPHEMERAL) -> None:
        self.redis = redis
        self.history_size = settings.history_size
        self.user_history_size = settings.user_history_size
        self.history_ttl = settings.history_ttl
        self.window = settings.room_history_ttl_s
        self.grain = history_grain(self.window)
        self.ephemeral = set(ephemeral_prefixes)
        self.sharded = is_cluster(redis)
        self._script = redis.register_script(script_for(PUBLISH_LUA, self.sharded))
        self._keyed = redis.register_script(script_for(PUBLISH_KEYED_LUA, self.sharded))
        self._retract = redis.register_script(script_for(RETRACT_LUA, self.sharded))

    def keeps_history(self, room: str) -> bool:
        return room.partition(":")[0] not in self.ephemeral

    def history_size_of(self, room: str) -> int:
        """The events `room`'s stream keeps: `user_history_size` for a reader's own `user:`
        room (there is one per reader), `history_size` for every other room."""
        return self.user_history_size if room.startswith("user:") else self.history_size

    async def publish(self, room: str, event: RoomEvent) -> tuple[str, int] | None:
        """Store (if the room keeps history and the event is not `live_only`), number and
        PUBLISH; (epoch, offset) or None."""
        body = encode_event(event)
        if event.live_only or not self.keeps_history(room):
            await publish_plain(self.redis, room, plain_message(body))
            return None
        if event.key is None and event.retracts is None:
            epoch, offset = await self._script(
                keys=[meta_key(room), history_key(room), channel_of(room)],
                args=[body, new_epoch(), self.history_size_of(room), self.history_ttl,
                      self.window, self.grain],
            )
        else:
            epoch, offset = await self._keyed(
                keys=[meta_key(room), history_key(room), channel_of(room)],
                args=[body, new_epoch(), self.history_size_of(room), self.history_ttl,
                      event.key or "", event.retracts or "", self.window, self.grain],
            )
        return (epoch.decode() if isinstance(epoch, bytes) else str(epoch)), int(offset)

    async def publish_live(self, items: list[tuple[str, RoomEvent]]) -> None:
        """PUBLISH live-only events (never stored) to their rooms, each room once
        (`publish_plain_many`)."""
        await publish_plain_many(self.redis, [(room, plain_message(encode_event(event)))
                                              for room, event in items])

    async def retract(self, room: str, *, key: str | None = None, offset: int | None = None,
                      epoch: str | None = None) -> list[int]:
        """Remove stored events from a room's history (on every node at once: history is in
        Redis): those published with `key`, or the one at `offset` of `epoch` (a stale epoch
        does nothing). Live clients are not told: publish an event for that (or publish it with
        `RoomEvent.retracts`, which does both in one step). Replay (`since`) skips the removed
        offsets without losing `recovered`. Returns the removed offsets."""
        if (key is None) == (offset is None):
            raise ValueError("give exactly one of key or offset")
        if offset is not None and epoch is None:
            raise ValueError("an offset needs its epoch (offsets restart with a new epoch)")
        if not self.keeps_history(room):
            return []
        gone = await self._retract(keys=[meta_key(room), history_key(room)],
                                   args=[key or "", "" if offset is None else int(offset),
                                         epoch or ""])
        return [int(o) for o in gone]
