"""`leaderboard:<key>`: anyone may watch; only the server publishes (no history, no presence);
and the pusher that sends live top-N changes into those rooms."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.reading import boards, club_boards, leaderboards
from domain.reading.board_events import LeaderboardTop, RankData, TopData
from domain.reading.leaderboards import Score
from domain.redisconn import pipeline
from domain.rooms import authorize_leaderboard
from realtime.publisher import Publisher, subscriber_counts
from realtime.rooms.base import (
    DEFAULT_VIEWER,
    ConnectionInfo,
    HubContext,
    RoomEvent,
    RoomKind,
    Viewer,
)

log = logging.getLogger("readalong.leaderboards")


class LeaderboardRoom(RoomKind):
    prefix = "leaderboard"
    keeps_history = False
    accepts_publish = False
    presence = False
    uses_names = False
    events = LeaderboardTop  # `leaderboard_rank` goes to `user:<id>` (asyncapi lists it there)

    def __init__(self, db: Database | None = None) -> None:
        self.db = db  # for club-scoped boards (members only unless the club is public)

    async def authorize(self, hub: HubContext, conn: ConnectionInfo, room_id: str) -> Viewer:
        authorize_leaderboard(conn.user_id, room_id)
        board, club_id = boards.split_key(room_id)
        if club_id is not None and board in boards.BOARDS and self.db is not None:
            await club_boards.check_access(self.db.pool, club_id, conn.user_id)
        return DEFAULT_VIEWER


class LeaderboardPusher:
    """Live top-N for `leaderboard:<board>` rooms, and each reader's own rank on `user:<id>`.

    Writers call `changed(scores)` after their commit. Changes are coalesced: at most one push
    per board every `interval` seconds per process, and a top-N identical to the last one pushed
    (by any node: the last body is kept in Redis and swapped atomically) is not pushed again.
    A reader gets `leaderboard_rank` on their user room when their rank in a bucket changed,
    live only (not stored in the user room's history, not replayed).
    """

    def __init__(self, db: Database, redis: Redis, publisher: Publisher, *,
                 interval: float = 0.2, top_n: int = 10) -> None:
        self.db = db
        self.redis = redis
        self.publisher = publisher
        self.interval = interval
        self.top_n = top_n
        self._dirty: dict[tuple[str, int], set[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self.pushes = 0

    async def changed(self, scores: list[Score]) -> None:
        for s in scores:
            self._dirty.setdefault((s.board, s.period), set()).add(s.owner_id)
        if self._dirty and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._dirty:
            await asyncio.sleep(self.interval)  # the coalescing window, not a wait for state
            batch, self._dirty = self._dirty, {}
            for (board, period), owner_ids in batch.items():
                try:
                    await self._push(board, period, owner_ids)
                except Exception:  # live pushes are best effort; REST reads stay right
                    log.exception("leaderboard push of %s failed", board)

    async def _push(self, board: str, period: int, owner_ids: set[int]) -> None:
        key = leaderboards.zkey(board, period)
        room = f"leaderboard:{board}"
        # the top-N (a read of the board and of its owners' names in PostgreSQL) only when some
        # node has a watcher: one PUBSUB NUMSUB instead (a watcher who subscribes later reads
        # the top over REST, as one who subscribed just after a push always did)
        if (await subscriber_counts(self.redis, [room]))[0] > 0:
            page = await leaderboards.top(self.db, self.redis, board, period, cursor=None,
                                          limit=self.top_n)
            body = msgspec.json.encode(page.items)
            last = await self.redis.set(key + ":last", body, get=True,
                                        ex=leaderboards.RETENTION)
            if last != body:
                self.pushes += 1
                await self.publisher.publish(room, RoomEvent(
                    event="top", data=msgspec.to_builtins(TopData(board, period, page.items))))
        await self._push_ranks(key, period, board, sorted(owner_ids))

    async def _push_ranks(self, key: str, period: int, board: str, owners: list[int]) -> None:
        """`leaderboard_rank` to each of `owners` whose rank changed since the last one pushed:
        one pipelined read of their ranks and the last ones pushed, one write of the changes,
        one pipelined PUBLISH (instead of up to five round trips per reader)."""
        if not owners:
            return
        ranks_key = key + ":ranks"
        async with pipeline(self.redis, transaction=False) as pipe:
            for owner_id in owners:
                pipe.zrevrank(key, boards.member(owner_id))
            pipe.hmget(ranks_key, [str(o) for o in owners])
            *ranks, seen = await pipe.execute()
        changed = {o: int(r) + 1 for o, r, s in zip(owners, ranks, seen, strict=True)
                   if r is not None and (s is None or int(s) != int(r) + 1)}
        if not changed:
            return
        async with pipeline(self.redis, transaction=False) as pipe:
            pipe.hset(ranks_key, mapping={str(o): str(n) for o, n in changed.items()})
            pipe.expire(ranks_key, leaderboards.RETENTION)
            await pipe.execute()
        # live only: the rank is state (REST serves it); stored, one per change, it would
        # fill every reader's user-room history in Redis and crowd notifications out of it
        await self.publisher.publish_live([(f"user:{o}", RoomEvent(
            event="leaderboard_rank", data=msgspec.to_builtins(RankData(board, period, n)),
            live_only=True)) for o, n in changed.items()])
