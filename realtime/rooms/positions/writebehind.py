"""Writing moves behind to PostgreSQL, in batches, from Redis (any node drains any room).

One route per room kind (the room name's prefix: `session`, `club`): `route(kind, write,
after)`; a batch writes every kind's moves (each its own transaction) before any `after` runs,
so nothing is published before everything taken is committed.

A move is acked once it is in Redis (`live.py`: the room's `wb` hash plus the room in the
global `ra:wb:dirty` set). Every node runs a `WriteBehind` loop: every
`READALONG_POSITIONS_FLUSH_INTERVAL` seconds it pops dirty rooms (`SPOP`, so two nodes never
take the same room at once), renames each room's `wb` hash to `wbx` (in flight; a room whose
`wbx` still exists is busy and goes back to the dirty set), writes them all in one transaction
(the `write` callback: participants' rows, `advance_many`), runs the `after` callback once
that committed (unlock pushes, milestones: best effort), and then drops `wbx` (so a flush of the
room on any node finds the milestones' feed activities written).
No process-wide lock: the take script is what keeps two writers off one room, so a room's
flush on demand (`flush_room`) never queues behind another room's batch.
Crash safety: a room taken is first noted in the `ra:wb:inflight` sorted set with the time; a
node that dies between the take and the commit leaves `wbx` and that entry
behind, and after `READALONG_POSITIONS_RECLAIM_AFTER` seconds any node reclaims it (the
`ZREM` that succeeds wins) and writes it again (the write is idempotent: last position,
furthest = max). Shutdown stops the loop and drains every dirty room before the app closes
its pools. What is lost only if Redis itself loses data (no AOF): see the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.sessions.schemas import Position
from realtime.connection_redis import lean_pipeline
from realtime.keys import room_key
from realtime.rooms.positions.live import DIRTY, pending_key, pipelined

log = logging.getLogger("readalong.sessions")
INFLIGHT = "ra:wb:inflight"  # room -> when a node took it (a non-room key)
ROOMS_PER_TAKE = 256
SHUTDOWN_DRAIN_S = 8.0  # the whole drain at shutdown, after-write pushes included

_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[1] ~= '1' then return false end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  return {}
end
return redis.call('HGETALL', KEYS[2])
"""


class Pending(msgspec.Struct, frozen=True):
    """One reader's moves in one room since the last write: the last position, the furthest
    and the first progression (the session's starting point when it is their first)."""

    room: str
    user_id: int
    furthest: float
    start: float
    position: Position
    book_id: int | None = None  # a club's move (field `<user id>:<book id>`)

    @property
    def kind(self) -> str:
        return self.room.partition(":")[0]


def inflight_key(room: str) -> str:
    return room_key(room, "wbx")


def _parse(room: str, field: Any, raw: Any) -> Pending:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    furthest, start, progression, chapter, locator = text.split("|", 4)
    user, _, book = _text(field).partition(":")
    return Pending(room=room, user_id=int(user), furthest=float(furthest), start=float(start),
                   position=Position(progression=float(progression), locator=locator or None,
                                     chapter=int(chapter) if chapter else None),
                   book_id=int(book) if book else None)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


Write = Callable[[list[Pending]], Awaitable[Any]]  # commits; its result goes to `After`
After = Callable[[Any], Awaitable[None]]


class WriteBehind:
    """One per process: the drain loop, a room's flush on demand, the shutdown drain."""

    def __init__(self, redis: Redis, write: Write, interval: float = 0.1,
                 reclaim_after: float = 10.0, after: After | None = None,
                 kind: str = "session") -> None:
        self.redis = redis
        self.routes: dict[str, tuple[Write, After | None]] = {kind: (write, after)}
        self.interval = interval
        self.reclaim_after = reclaim_after
        self._take = redis.register_script(_TAKE)
        self._task: asyncio.Task[None] | None = None
        self._afters: set[asyncio.Event] = set()  # `after` phases running now (set: done)
        self.batches = 0
        self.moves = 0

    def route(self, kind: str, write: Write, after: After | None = None) -> None:
        """Write the moves of rooms `<kind>:…` with `write` (commits), then `after` (before
        the server starts the loop: a room of an unknown kind is left in flight, reclaimed)."""
        self.routes[kind] = (write, after)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop, then write every pending move (any room's) before returning."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        try:
            # bounded as a whole (a pass's writes and pushes too): what is left stays pending
            # in Redis and the next live node writes it (or reclaims an interrupted batch)
            async with asyncio.timeout(SHUTDOWN_DRAIN_S):
                while True:
                    popped, taken = await self._drain()
                    # done, or only rooms another node is writing now (theirs, or reclaimed
                    # by a live node): popping those again would spin until the deadline
                    if not popped or not taken:
                        break
        except TimeoutError:
            log.warning("session moves still pending after %.0f s of shutdown: left in Redis"
                        " for the next node", SHUTDOWN_DRAIN_S)
        except Exception:
            log.exception("draining pending session moves at shutdown failed")

    async def _run(self) -> None:
        last_reclaim = 0.0
        while True:
            await asyncio.sleep(self.interval)
            try:
                while await self.drain_once() >= ROOMS_PER_TAKE:
                    pass  # a backlog: keep going without waiting
                now = time.monotonic()
                if now - last_reclaim > max(self.reclaim_after / 4, self.interval):
                    last_reclaim = now
                    await self.reclaim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing session moves behind failed (retried)")
                await asyncio.sleep(min(1.0, self.reclaim_after))

    async def _takes(self, rooms: list[str], reclaim: bool) -> list[tuple[str, Any]]:
        now = time.time()

        def build(pipe: Pipeline) -> None:
            for room in rooms:
                pipe.zadd(INFLIGHT, {room: now}, nx=True)
                keys = [pending_key(room), inflight_key(room)]
                pipe.evalsha(self._take.sha, 2, *keys, "1" if reclaim else "0")
        got = await pipelined(self.redis, build, (self._take,))
        return list(zip(rooms, got[1::2], strict=True))

    async def _flush(self, rooms: list[str], reclaim: bool = False) -> int:
        """Take, write and release `rooms`; busy ones go back to the dirty set. How many of
        `rooms` were taken (not busy)."""
        taken = await self._takes(rooms, reclaim)
        busy = [room for room, got in taken if got is None]
        if busy:
            await self.redis.sadd(DIRTY, *busy)  # type: ignore[misc]
        await self._write_release([(room, got) for room, got in taken if got is not None])
        return len(taken) - len(busy)

    async def _write_release(self, taken: list[tuple[str, Any]]) -> int:
        entries = [_parse(room, got[i], got[i + 1])
                   for room, got in taken for i in range(0, len(got), 2)]
        by_kind: dict[str, list[Pending]] = {}
        for entry in entries:
            by_kind.setdefault(entry.kind, []).append(entry)
        written: list[tuple[After | None, Any]] = []
        for kind, some in by_kind.items():
            # raises (or an unknown kind): wbx and the inflight note stay (reclaimed); what
            # another kind committed first is written again then (idempotent)
            write, after = self.routes[kind]
            written.append((after, await write(some)))
        if entries:
            self.batches += 1
            self.moves += len(entries)
        done: asyncio.Event | None = None
        if any(after is not None for after, _ in written):  # noted before the release: a
            done = asyncio.Event()              # flush of one of these rooms taken after it
            self._afters.add(done)              # waits for these pushes
        try:
            # committed: the pushes and milestones run BEFORE the release, so a flush of one of
            # these rooms on any node (a subscribe, leave or note waits for the room) sees the
            # milestones' feed activities already written (a reader's feed keeps their order
            # across nodes); chat and the rest never flush, so nothing else waits for this
            for after, result in written:
                if after is None:
                    continue
                try:
                    await after(result)
                except Exception:
                    log.exception("after writing %d move(s) behind", len(entries))
            if taken:
                pipe = lean_pipeline(self.redis)
                pipe.zrem(INFLIGHT, *[room for room, _ in taken])  # first: a take in between
                for room, _ in taken:                                # sees the room busy
                    pipe.delete(inflight_key(room))
                await pipe.execute()
        finally:
            if done is not None:
                self._afters.discard(done)
                done.set()
        return len(entries)

    async def drain_once(self) -> int:
        """Write up to ROOMS_PER_TAKE dirty rooms; how many rooms were popped."""
        return (await self._drain())[0]

    async def _drain(self) -> tuple[int, int]:
        """One pass: (rooms popped from the dirty set, rooms of those taken and written)."""
        raw = await self.redis.spop(DIRTY, ROOMS_PER_TAKE)  # type: ignore[misc]
        rooms = [_text(r) for r in raw or []]
        taken = await self._flush(rooms) if rooms else 0
        return len(rooms), taken

    async def flush_room(self, room: str, wait: float = 5.0) -> None:
        """Write a room's pending moves now (e.g. before the session ends); when a batch of
        this node or another has the room in flight, waits for that write to commit (then
        writes what came after it), and for the pushes of this node's batches released by
        then (bounded by `wait`). Never queues behind other rooms' writes."""
        deadline = time.monotonic() + wait
        while True:
            (_, got), = await self._takes([room], False)
            # batches released before this take noted themselves first: their pushes go first
            earlier = set(self._afters)
            if got is not None:
                await self._write_release([(room, got)])
                break
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.02)
        left = [e for e in earlier if not e.is_set()]
        if left:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    for event in left:
                        await event.wait()

    async def reclaim(self) -> int:
        """Re-write rooms whose flush has been in flight longer than `reclaim_after` (their
        node died mid-write); how many were reclaimed."""
        stale = await self.redis.zrangebyscore(INFLIGHT, "-inf", time.time() - self.reclaim_after,
                                               start=0, num=64)
        won = []
        for raw in stale:
            room = _text(raw)
            if await self.redis.zrem(INFLIGHT, room):  # only one node wins each room
                won.append(room)
        if not won:
            return 0
        log.warning("reclaiming %d stuck session move write(s)", len(won))
        await self._flush(won, reclaim=True)
        return len(won)
