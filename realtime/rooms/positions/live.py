"""Readers' live positions in a room (a co-reading session, a club), in Redis on the room's
slot (the live source).

Per room (every key through `room_key`, so one room's keys share a hash slot):
- `pos`: hash, field `<user id>` (a club: `<user id>:<book id>`, positions are per book) ->
  `furthest|progression|chapter|locator` — the reader's gate progress (the furthest the live
  shield uses: max of their stored furthest when they subscribed and every move since) and
  their last position; field `_end` once a session has ended (moves are refused from then on).
- `wb`: hash, the moves not yet written to PostgreSQL, the same fields ->
  `furthest|start|progression|chapter|locator` (see `writebehind.py`).
- `members` (clubs): set of the user ids who may move (kept in step by subscribe, join, leave
  and bans); a move of anyone else is refused (`not_member`) in the same script.
A move is one script call (check, raise furthest, record the pending write) plus an `SADD` of
the room to the global dirty set, pipelined: one round trip, no PostgreSQL. Moves arriving
together share that round trip: while one batch is in flight the next ones queue and go as one
pipeline (one `SADD` for all their rooms) on one connection, so a burst of moves costs one pool
checkout, not one each (the client's pool lock is what queued them before). The script also
reads the reader's presence member (same slot once presence keys are built by `room_key`) to
say whether they have sockets on other nodes: only then does the live shield change cross the
control channel; and it stores the reader's new presence meta in that member (what
`presence.META_LUA` does, without its own round trip), returning the member as stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from domain.errors import Conflict, Forbidden
from domain.sessions.schemas import Position
from realtime.connection_redis import lean_pipeline
from realtime.keys import room_key
from realtime.presence import presence_key

DIRTY = "ra:wb:dirty"  # rooms with pending moves (a non-room key: a plain set, no multi-key op)
POS_TTL = 7 * 24 * 3600  # seconds a room's live positions outlive its last move
ENDED = "_end"
_TTL = str(POS_TTL).encode()

_MOVE = """
if redis.call('HEXISTS', KEYS[1], '_end') == 1 then return {'e'} end
if KEYS[4] then
  if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return {'m'} end
  redis.call('EXPIRE', KEYS[4], ARGV[5])
end
local fld = ARGV[8]
if not fld or fld == '' then fld = ARGV[1] end
local cur = redis.call('HGET', KEYS[1], fld)
if not cur then return {'n'} end
local f = string.match(cur, '^([^|]*)')
local nf = f
if tonumber(ARGV[2]) > tonumber(f) then nf = ARGV[2] end
local tail = ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4]
redis.call('HSET', KEYS[1], fld, nf .. '|' .. tail)
redis.call('EXPIRE', KEYS[1], ARGV[5])
local pend = redis.call('HGET', KEYS[2], fld)
local start = ARGV[2]
if pend then
  local pf, ps = string.match(pend, '^([^|]*)|([^|]*)')
  start = ps
  if tonumber(pf) > tonumber(nf) then nf = pf end
end
redis.call('HSET', KEYS[2], fld, nf .. '|' .. start .. '|' .. tail)
local others = 1
local member = false
local pm = redis.call('HGET', KEYS[3], ARGV[1])
if pm then
  others = 0
  local m = cjson.decode(pm)
  for n, _ in pairs(m.nodes or {}) do
    if n ~= ARGV[6] then others = 1 end
  end
  if ARGV[7] and ARGV[7] ~= '' then
    m.meta = ARGV[7]
    member = cjson.encode(m)
    redis.call('HSET', KEYS[3], ARGV[1], member)
  end
end
return {'ok', f, nf, others, member}
"""

# seed (subscribe) or raise (another source moved the reading state): the furthest becomes
# max(stored, given); a reader not yet stored gets the given position (when `ARGV[4]` is 1)
_SEED = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then
  if ARGV[4] ~= '1' then return false end
  local v = ARGV[2] .. '|' .. ARGV[3]
  redis.call('HSET', KEYS[1], ARGV[1], v)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return v
end
local f, rest = string.match(cur, '^([^|]*)|(.*)$')
if tonumber(ARGV[2]) > tonumber(f) then
  cur = ARGV[2] .. '|' .. rest
  redis.call('HSET', KEYS[1], ARGV[1], cur)
end
return cur
"""


def pos_key(room: str) -> str:
    return room_key(room, "pos")


def pending_key(room: str) -> str:
    return room_key(room, "wb")


def members_key(room: str) -> str:
    """The room's set of readers allowed to move (club rooms: the members who subscribed)."""
    return room_key(room, "members")


class NotSeeded(Forbidden):
    """A move of a reader the room has not stored (not admitted, or not on this book yet)."""


async def pipelined(redis: Redis, build: Callable[[Pipeline], None],
                    scripts: tuple[AsyncScript, ...]) -> list[Any]:
    """Run a pipeline whose scripts go as plain EVALSHA (redis-py would ask SCRIPT EXISTS on
    every execute: a round trip per move); after a NOSCRIPT (a Redis restart) load and redo."""
    for attempt in (0, 1):
        pipe = lean_pipeline(redis)
        build(pipe)
        try:
            return list(await pipe.execute())
        except NoScriptError:
            if attempt:
                raise
            for script in scripts:
                await redis.script_load(script.script)
    raise AssertionError("unreachable")


class Live(msgspec.Struct, frozen=True):
    """A reader's live gate progress and last position (None: not reported yet)."""

    furthest: float
    position: Position | None


def _tail(position: Position | None) -> str:
    if position is None:
        return "||"
    chapter = "" if position.chapter is None else str(position.chapter)
    return f"{position.progression!r}|{chapter}|{position.locator or ''}"


def parse(raw: Any) -> Live:
    """`furthest|progression|chapter|locator` -> Live (the locator may hold `|`)."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    furthest, progression, chapter, locator = text.split("|", 3)
    position = None
    if progression:
        position = Position(progression=float(progression), locator=locator or None,
                            chapter=int(chapter) if chapter else None)
    return Live(furthest=float(furthest), position=position)


class LivePositions:
    """The Redis side of the live move path (one per process)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._move = redis.register_script(_MOVE)
        self._seed = redis.register_script(_SEED)
        # moves waiting for the next batch: (room, script args, the mover's future)
        self._queued: list[tuple[str, list[bytes], asyncio.Future[Any], int]] = []
        # each room's keys (pos, wb, presence, members), encoded once per process
        self._keys: dict[str, tuple[bytes, bytes, bytes, bytes]] = {}
        self._sending = False
        self._sender: asyncio.Future[None] | None = None

    async def seed(self, room: str, user_id: int, furthest: float,
                   position: Position | None, field: str = "") -> Live:
        """At subscribe: store the reader (their gate progress from PostgreSQL and their stored
        position) unless Redis has them already; never lowers the live furthest. `field`: the
        hash field when it is not the user id (a club's `<user id>:<book id>`)."""
        raw = await self._seed(keys=[pos_key(room)], args=[
            field or str(user_id), repr(float(furthest)), _tail(position), "1", POS_TTL])
        return parse(raw)

    async def raise_furthest(self, room: str, user_id: int, furthest: float,
                             field: str = "") -> None:
        """Another source moved the reader's furthest: the live one follows (never lowers)."""
        await self._seed(keys=[pos_key(room)], args=[
            field or str(user_id), repr(float(furthest)), "||", "0", POS_TTL])

    async def move(self, room: str, user_id: int, position: Position, node_id: str,
                   meta: bytes = b"", *, field: str = "", members: bool = False,
                   ) -> tuple[float, float, bool, bytes | None]:
        """Record a move: (furthest before, furthest after, whether the reader has sockets on
        nodes other than `node_id`, their presence member as stored with `meta` (JSON; None:
        not a member, or no `meta`)). `session_ended` once the session ended,
        `not_participant` (`NotSeeded`) for a reader the room has not stored under `field`
        (default: the user id), `not_member` with `members` for a reader not in the room's
        members set (`members_key`)."""
        # (bytes throughout: the pipeline's packer writes bytes as they are, where each str
        # would go through redis-py's encoder)
        keys = self._keys.get(room)
        if keys is None:
            if len(self._keys) > 20_000:
                self._keys.clear()
            keys = self._keys[room] = (pos_key(room).encode(), pending_key(room).encode(),
                                       presence_key(room).encode(), members_key(room).encode())
        chapter = position.chapter
        call: list[bytes] = [
            keys[0], keys[1], keys[2], *((keys[3],) if members else ()), b"%d" % user_id,
            repr(position.progression).encode(), b"" if chapter is None else b"%d" % chapter,
            (position.locator or "").encode(), _TTL, node_id.encode(), meta, field.encode()]
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((room, call, fut, 4 if members else 3))
        if not self._sending:
            self._sending = True
            self._sender = asyncio.ensure_future(self._send())
        got = await fut
        tag = got[0].decode() if isinstance(got[0], bytes) else got[0]
        if tag == "e":
            raise Conflict("the session has ended", code="session_ended")
        if tag == "n":
            raise NotSeeded("you are not in this session", code="not_participant")
        if tag == "m":
            raise Forbidden("join the club first", code="not_member")
        return float(got[1]), float(got[2]), bool(int(got[3])), got[4] or None

    async def _send(self) -> None:
        """Send the queued moves as one pipeline, then the ones queued meanwhile, until none
        are left (one batch in flight at a time per process)."""
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                rooms = list(dict.fromkeys(room for room, _, _, _ in batch))

                def build(pipe: Pipeline, batch: list[Any] = batch,
                          rooms: list[str] = rooms) -> None:
                    for _, keys_args, _, numkeys in batch:
                        pipe.evalsha(self._move.sha, numkeys, *keys_args)
                    pipe.sadd(DIRTY, *rooms)
                try:
                    got = await pipelined(self.redis, build, (self._move,))
                except BaseException as exc:
                    for _, _, fut, _ in batch:
                        if not fut.done():
                            fut.set_exception(exc if isinstance(exc, Exception)
                                              else ConnectionError("move batch cancelled"))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, fut, _), one in zip(batch, got, strict=False):
                    if not fut.done():
                        fut.set_result(one)
        finally:
            self._sending = False

    async def get(self, room: str, user_id: int, field: str = "") -> Live | None:
        raw = await self.redis.hget(pos_key(room), field or str(user_id))  # type: ignore[misc]
        return parse(raw) if raw is not None else None

    async def add_member(self, room: str, user_id: int) -> None:
        """The reader may move in the room (`move(members=True)`) from now on."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(members_key(room), str(user_id))
        pipe.expire(members_key(room), POS_TTL)
        await pipe.execute()

    async def drop_member(self, room: str, user_id: int) -> None:
        await drop_member(self.redis, room, user_id)

    async def mark_ended(self, room: str) -> None:
        """The session ended: refuse further moves (the pending ones are still written)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(pos_key(room), ENDED, "1")
        pipe.expire(pos_key(room), POS_TTL)
        await pipe.execute()


async def drop_member(redis: Redis, room: str, user_id: int) -> None:
    """The reader's next move in the room gets `not_member` (call it after the commit that
    removed them: a leave, a ban)."""
    await redis.srem(members_key(room), str(user_id))  # type: ignore[misc]
