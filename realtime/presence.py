"""Room presence in Redis: one hash per room (member per user, connection counts per node),
node heartbeats in a sorted set, and a sweeper that removes the members of dead nodes.

A member is stored as JSON `{"name", "meta": "<json text>", "nodes": {node_id: connections}}`
so that two tabs (or two nodes) of one user are one member whose `connections` is the sum.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from domain.keys import NODE_ROOMS, PRESENCE_NODES, PRESENCE_PART, room_key, room_of
from domain.redisconn import is_cluster
from realtime.wire import Member

log = logging.getLogger("readalong.hub")

DROP_CONCURRENCY = 64  # rooms swept at once when a node's members are removed

# KEYS: room hash[, node set (one instance only: in a cluster it is on another slot, and the
# caller SADDs it apart)]. ARGV: user, node, name, delta, mode ('add' | 'set'), snapshot ('1'),
# snapshot cap, a new member's meta json (optional). Returns {joined (1/0), member json[, members
# as a flat list, member count]}:
# the whole hash when it has at most `cap` members, else about `cap` of them (HSCAN), so a
# subscribe to a huge room stays one small round trip.
JOIN_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local m
local joined = 0
local meta = ARGV[8]
if not meta or meta == '' then meta = '{}' end
if raw then m = cjson.decode(raw) else m = {name=ARGV[3], meta=meta, nodes={}}; joined = 1 end
local n = tonumber(ARGV[4])
if ARGV[5] == 'add' then n = (m.nodes[ARGV[2]] or 0) + n end
m.nodes[ARGV[2]] = n
local out = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[1], out)
if KEYS[2] then redis.call('SADD', KEYS[2], KEYS[1]) end
if ARGV[6] == '1' then
  local total = redis.call('HLEN', KEYS[1])
  local cap = tonumber(ARGV[7])
  if total <= cap then
    return {joined, out, redis.call('HGETALL', KEYS[1]), total}
  end
  local flat = {}
  local cursor = '0'
  repeat
    local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', cap)
    cursor = page[1]
    for i = 1, #page[2], 2 do
      if #flat < 2 * cap then
        table.insert(flat, page[2][i]); table.insert(flat, page[2][i + 1])
      end
    end
  until cursor == '0' or #flat >= 2 * cap
  return {joined, out, flat, total}
end
return {joined, out}
"""

# KEYS: room hash. ARGV: user, node. Returns {left (1/0), member json or ''}.
LEAVE_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {0, ''} end
local m = cjson.decode(raw)
local n = (m.nodes[ARGV[2]] or 0) - 1
if n > 0 then m.nodes[ARGV[2]] = n else m.nodes[ARGV[2]] = nil end
if next(m.nodes) == nil then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {1, ''}
end
local out = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[1], out)
return {0, out}
"""

# KEYS: room hash. ARGV: user, meta json. Returns the member json or false.
META_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local m = cjson.decode(raw)
m.meta = ARGV[2]
local out = cjson.encode(m)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
"""

# KEYS: room hash. ARGV: node. Removes the node's connections from one room (one slot).
# Returns a flat list: 'L' or 'U', user, member json ('' for L), ...
DROP_ROOM_LUA = """
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local m = cjson.decode(all[i + 1])
  if m.nodes[ARGV[1]] then
    m.nodes[ARGV[1]] = nil
    if next(m.nodes) == nil then
      redis.call('HDEL', KEYS[1], all[i])
      table.insert(out, 'L'); table.insert(out, all[i]); table.insert(out, '')
    else
      local enc = cjson.encode(m)
      redis.call('HSET', KEYS[1], all[i], enc)
      table.insert(out, 'U'); table.insert(out, all[i]); table.insert(out, enc)
    end
  end
end
return out
"""


def presence_key(room: str) -> str:
    """The room's presence hash (on the room's slot)."""
    return room_key(room, PRESENCE_PART)


def to_member(user: bytes | str | int, raw: bytes | str) -> Member:
    m = orjson.loads(raw)
    meta = m.get("meta") or "{}"
    nodes = m.get("nodes") or {}
    return Member(user_id=int(user), name=str(m.get("name", "")),
                  connections=int(sum(nodes.values())) if isinstance(nodes, dict) else 0,
                  meta=orjson.loads(meta) if isinstance(meta, str) else {})


class Presence:
    """Presence operations for one node."""

    def __init__(self, redis: Redis, node_id: str, ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.node_id = node_id
        self.ttl = ttl
        self.clock = clock
        self.node_set = f"{NODE_ROOMS}{node_id}"
        self._join = redis.register_script(JOIN_LUA)
        self._leave = redis.register_script(LEAVE_LUA)
        self._meta = redis.register_script(META_LUA)
        self._drop = redis.register_script(DROP_ROOM_LUA)
        self.sharded = is_cluster(redis)

    async def _join_keys(self, room: str) -> list[str]:
        key = presence_key(room)
        if not self.sharded:
            return [key, self.node_set]
        await self.redis.sadd(self.node_set, key)  # type: ignore[misc]
        return [key]

    async def join(self, room: str, user_id: int, name: str, count: int = 1,
                   mode: str = "add") -> tuple[bool, Member]:
        joined, raw = await self._join(keys=await self._join_keys(room),
                                       args=[user_id, self.node_id, name, count, mode, "0"])
        return bool(int(joined)), to_member(user_id, raw)

    async def join_with_snapshot(self, room: str, user_id: int, name: str, cap: int = 200,
                                 meta: dict[str, Any] | None = None, client: Any = None
                                 ) -> tuple[bool, Member, list[Member], int]:
        """Add one connection and read the member list, in one round trip: (joined, own
        member, at most `cap` members sorted by user id (always including the caller),
        the room's member count). A new member starts with `meta` (an existing one keeps its).
        `client`: where the script runs (e.g. the set-up path's shared pipeline)."""
        joined, raw, flat, total = await self._join(
            keys=await self._join_keys(room),
            args=[user_id, self.node_id, name, 1, "add", "1", cap,
                  orjson.dumps(meta) if meta else ""], client=client)
        me = to_member(user_id, raw)
        members = [to_member(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        if int(total) > cap:
            members = [*[m for m in members if m.user_id != user_id][:cap - 1], me]
        members.sort(key=lambda m: m.user_id)
        return bool(int(joined)), me, members, int(total)

    async def leave(self, room: str, user_id: int) -> tuple[bool, Member | None]:
        left, raw = await self._leave(keys=[presence_key(room)], args=[user_id, self.node_id])
        return bool(int(left)), (to_member(user_id, raw) if raw else None)

    async def set_meta(self, room: str, user_id: int, meta: dict[str, Any]) -> Member | None:
        raw = await self._meta(keys=[presence_key(room)], args=[user_id, orjson.dumps(meta)])
        return to_member(user_id, raw) if raw else None

    async def snapshot(self, room: str) -> list[Member]:
        raw = await self.redis.hgetall(presence_key(room))  # type: ignore[misc]
        members = [to_member(u, v) for u, v in raw.items()]
        members.sort(key=lambda m: m.user_id)
        return members

    async def heartbeat(self) -> bool:
        """This node is alive until now + its own TTL (the score is that deadline, so nodes
        started with different `READALONG_PRESENCE_TTL`s judge each other by the promise each
        made, not by the judge's TTL). True when the node was not in the set: it was swept, or
        Redis lost its data, and its members must be put back."""
        return bool(await self.redis.zadd(PRESENCE_NODES, {self.node_id: self.clock() + self.ttl}))

    async def dead_nodes(self) -> list[str]:
        """Nodes whose deadline has passed (other than this one)."""
        raw = await self.redis.zrangebyscore(PRESENCE_NODES, "-inf", self.clock())
        ids = (n.decode() if isinstance(n, bytes) else str(n) for n in raw)
        return [n for n in ids if n != self.node_id]

    async def drop_node(self, node_id: str, claim: bool = True
                        ) -> dict[str, tuple[list[int], list[Member]]]:
        """Remove a node's connections from every room; {room: (left ids, updated members)}.

        With `claim`, only the caller that removes the node from the heartbeat set does it, so
        several live nodes sweeping at once do the work (and publish the diffs) once.
        """
        if claim and not await self.redis.zrem(PRESENCE_NODES, node_id):
            return {}
        node_set = f"{NODE_ROOMS}{node_id}"
        keys = list(await self.redis.smembers(node_set))  # type: ignore[misc]
        diffs: dict[str, tuple[list[int], list[Member]]] = {}
        for i in range(0, len(keys), DROP_CONCURRENCY):
            chunk = keys[i:i + DROP_CONCURRENCY]
            flats = await asyncio.gather(*[self._drop(keys=[k], args=[node_id]) for k in chunk])
            for key, flat in zip(chunk, flats, strict=True):
                room = room_of(key)
                if room is None or not flat:
                    continue
                left, updated = diffs.setdefault(room, ([], []))
                for j in range(0, len(flat), 3):
                    what, user, raw = flat[j:j + 3]
                    if what in (b"L", "L"):
                        left.append(int(user))
                    else:
                        updated.append(to_member(user, raw))
        await self.redis.delete(node_set)
        if not claim:
            await self.redis.zrem(PRESENCE_NODES, node_id)
        return diffs
