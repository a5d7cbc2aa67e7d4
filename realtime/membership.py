"""Subscribe and leave with their I/O (authorise, the node's Redis subscription, history,
presence), driving the `subscriptions` state machine; publish and presence commands too."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from redis.asyncio import Redis

from domain.errors import Forbidden, Invalid
from domain.redisconn import is_cluster
from realtime import access
from realtime.broker import Broker
from realtime.commands import PresenceUpdate, Publish, Subscribe
from realtime.connection import Connection
from realtime.connection_redis import TurnRedis
from realtime.events import Ack
from realtime.fanout import Fanout
from realtime.history import read_position, read_since
from realtime.outgoing import Outgoing
from realtime.presence import Presence, to_member
from realtime.presence_batch import PresenceBatcher
from realtime.publisher import channel_of
from realtime.registry import LocalRoom, Registry
from realtime.rooms.base import (
    DEFAULT_VIEWER,
    HubContext,
    MetaStored,
    RoomKind,
    Viewer,
    encode_meta,
)
from realtime.sharded_broker import ShardedBroker
from realtime.subscriptions import CLOSED, Sub, admit, check_leave, resolve
from realtime.wire import Member, WireEvent

log = logging.getLogger("readalong.hub")


class Membership:
    """Who is in which room on this node, and the commands that change it."""

    def __init__(self, ctx: HubContext, kinds: dict[str, RoomKind], registry: Registry,
                 fanout: Fanout, redis: Redis, broker: Broker | ShardedBroker, presence: Presence,
                 batcher: PresenceBatcher, history_ttl: int, snapshot_max: int) -> None:
        self.ctx = ctx
        self.kinds = kinds
        self.registry = registry
        self.fanout = fanout
        self.redis = redis
        self.broker = broker
        self.presence = presence
        self.batcher = batcher
        self.history_ttl = history_ttl
        self.snapshot_max = snapshot_max
        self.stopping = False
        self._done: asyncio.Future[None] | None = None  # lr.ready of every subscribed room
        self.turn = None if is_cluster(redis) else TurnRedis(redis)

    async def subscribe(self, conn: Connection, cmd: Subscribe) -> None:
        """Authorise, join the local room (one Redis subscription per room), read history, ack,
        replay what was missed, then switch the buffered live events on (deduplicated)."""
        assert conn.info is not None
        room = cmd.room
        kind, room_id = resolve(self.kinds, room)
        admit(conn.subs, room)
        before = await access.token(self.turn or self.redis, room) if kind.guarded else None
        viewer = await kind.authorize(self.ctx, conn.info, room_id)
        if conn.closed:
            return
        if not isinstance(viewer, Viewer):
            viewer = DEFAULT_VIEWER
        lr, created = self.registry.open_room(room, kind, room_id)
        if created:  # (a future, not a task: the broker resolves it when Redis confirms)
            ready = lr.ready = self.broker.subscribing(channel_of(room))
            ready.add_done_callback(functools.partial(self._subscribed, lr))
        sub = Sub(conn, viewer)
        self.registry.attach(lr, conn, sub)
        try:
            assert lr.ready is not None
            await asyncio.shield(lr.ready)
            # the history read and the presence join go out together (one round trip, shared
            # with every other socket setting up in this loop turn: `TurnRedis`)
            steps: list[Any] = []
            if kind.keeps_history:
                steps.append(self._position(room, cmd))
            if kind.presence:
                steps.append(self.presence.join_with_snapshot(
                    room, conn.info.user_id, conn.info.display_name, self.snapshot_max,
                    kind.initial_meta(conn.info, room_id), client=self.turn))
            done: list[Any] = []
            if len(steps) > 1:
                done = await asyncio.gather(*steps, return_exceptions=True)
            elif steps:
                done = [await steps[0]]
            epoch: str | None = None
            offset: int | None = None
            recovered = False
            replay: list[tuple[int, WireEvent]] = []
            members: list[Member] = []
            total = 0
            if kind.presence:
                joining = done[-1]
                if not isinstance(joining, BaseException):
                    joined, member, members, total = joining
                    sub.joined = True
                    self.batcher.queue(room, "joined" if joined else "updated",
                                       conn.info.user_id, member)
            for result in done:
                if isinstance(result, BaseException):
                    raise result
            if kind.keeps_history:
                epoch, offset, recovered, replay = done[0]
                if lr.offset is None:
                    lr.epoch, lr.offset = epoch, offset
            if not conn.closed:
                await self._still_admitted(conn, kind, room, room_id, sub, before)
        except BaseException:
            await self._abandon(conn, room, sub)
            raise
        if conn.closed:  # (its leave may have come before the presence join was back)
            await self._abandon(conn, room, sub)
            return
        conn.send(Ack(cmd.id, {"room": room, "epoch": epoch, "offset": offset,
                               "recovered": recovered, "presence": members,
                               "presence_total": total}))
        for out in sub.activate(epoch, offset, (Outgoing(room, off, epoch, wire)
                                                for off, wire in replay)):
            self.fanout.deliver(sub, out)

    async def _still_admitted(self, conn: Connection, kind: RoomKind, room: str, room_id: str,
                              sub: Sub, before: bytes | None) -> None:
        """Registered (the node's table, presence): an eviction from now on finds the socket.
        One that ran while this subscribe set up may have closed it (it was in the table,
        not acked yet): the subscribe fails (`evicted`). Or one ran before it was registered
        and missed it: then the room's access token changed since before the check
        (`realtime.access`), and the check is made again; refused, so is the subscribe (the
        check's error). Either way the socket leaves the room."""
        assert conn.info is not None
        if sub.state is not CLOSED and kind.guarded \
                and await access.token(self.turn or self.redis, room) != before:
            await kind.authorize(self.ctx, conn.info, room_id)
        if sub.state is CLOSED:
            raise Forbidden("removed from the room while subscribing", code="evicted",
                            field="room")

    async def _position(self, room: str, cmd: Subscribe
                        ) -> tuple[str | None, int | None, bool, list[tuple[int, WireEvent]]]:
        """(epoch, offset, recovered, replay) of a subscribe: what was missed since `since`,
        else the room's current position (its epoch is started if it has none)."""
        client: Any = self.turn or self.redis
        if cmd.since is not None:
            epoch, offset, recovered, replay = await read_since(
                client, room, cmd.since.epoch, cmd.since.offset)
            if epoch is not None:
                return epoch, offset, recovered, replay
        epoch, offset = await read_position(client, room, self.history_ttl)
        return epoch, offset, False, []

    def _subscribed(self, lr: LocalRoom, task: asyncio.Future[None]) -> None:
        """Once the room's Redis subscription is confirmed, let its future go for the one shared
        done future (on a cluster it is a task, which keeps its coroutine, context and future:
        about 0.6 KiB for every `user:` room)."""
        if lr.ready is task and not task.cancelled() and task.exception() is None:
            if self._done is None:
                self._done = asyncio.get_running_loop().create_future()
                self._done.set_result(None)
            lr.ready = self._done

    async def unsubscribe(self, conn: Connection, room: str) -> None:
        check_leave(conn.subs, room)
        await self.leave(conn, room)

    async def leave(self, conn: Connection, room: str) -> None:
        sub, lr, emptied = self.registry.detach(conn, room)
        if sub is None or lr is None:
            return
        if emptied and not self.stopping:
            if lr.ready is not None and not lr.ready.done():
                lr.ready.cancel()
            await self.broker.unsubscribe(channel_of(room))
        info = conn.info
        if info is None:
            return
        await self._leave_presence(conn, room, sub)
        await lr.kind.on_leave(self.ctx, info, lr.room_id)

    async def _abandon(self, conn: Connection, room: str, sub: Sub) -> None:
        """A subscribe that failed: its socket leaves the room; if an eviction already took
        it out (before the presence join had come back), its presence entry goes too."""
        if conn.subs.get(room) is sub:
            await self.leave(conn, room)
        else:
            await self._leave_presence(conn, room, sub)

    async def _leave_presence(self, conn: Connection, room: str, sub: Sub) -> None:
        info = conn.info
        if not sub.joined or self.stopping or info is None:
            return
        sub.joined = False  # (once: a leave and a failed subscribe may both get here)
        try:
            left, member = await self.presence.leave(room, info.user_id)
            if left:
                self.batcher.queue(room, "left", info.user_id, None)
            elif member is not None:
                self.batcher.queue(room, "updated", info.user_id, member)
        except Exception:
            log.debug("hub: presence leave failed", exc_info=True)

    async def client_publish(self, conn: Connection, cmd: Publish) -> dict[str, Any]:
        assert conn.info is not None
        kind, room_id = resolve(self.kinds, cmd.room)
        if cmd.room not in conn.subs:
            raise Forbidden("subscribe to the room before publishing", code="not_subscribed",
                            field="room")
        if not kind.accepts_publish:
            raise Forbidden("clients cannot publish into this room", code="publish_forbidden",
                            field="room")
        events, result = await kind.on_publish(self.ctx, conn.info, room_id, cmd.data)
        result = dict(result or {})
        for event in events:
            pos = await self.ctx.publish(cmd.room, event)
            if pos is not None:
                result.setdefault("epoch", pos[0])
                result["offset"] = pos[1]
        return result

    async def presence_update(self, conn: Connection, cmd: PresenceUpdate) -> None:
        assert conn.info is not None
        kind, room_id = resolve(self.kinds, cmd.room)
        sub = conn.subs.get(cmd.room)
        if sub is None or not sub.live:
            raise Forbidden("subscribe to the room first", code="not_subscribed", field="room")
        if not kind.presence:
            raise Invalid("this room has no presence", code="no_presence", field="room")
        meta = await kind.on_presence(self.ctx, conn.info, room_id, cmd.meta)
        member: Member | None
        if isinstance(meta, MetaStored):  # the kind stored it with its own write (a move)
            member = to_member(conn.info.user_id, meta.member) if meta.member else None
        else:
            encode_meta(meta)  # (the size check)
            member = await self.presence.set_meta(cmd.room, conn.info.user_id, meta)
        if member is not None:
            self.batcher.queue(cmd.room, "updated", conn.info.user_id, member)
