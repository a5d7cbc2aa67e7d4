"""The fan-out: a room message from Redis becomes bytes once per variant and format, written to
every local member; after a pub/sub outage, gap repair delivers what a room missed, in order."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from domain.keys import ROOM_PREFIX
from domain.ops.metrics import room_counters
from realtime.history import read_position, read_since
from realtime.metrics import HubMetrics
from realtime.outgoing import Outgoing
from realtime.registry import LocalRoom, Registry
from realtime.rooms.base import FULL, RoomEvent
from realtime.subscriptions import LIVE, Sub
from realtime.wire import WireEvent, decode_body, split_message

log = logging.getLogger("readalong.hub")

_TAG = len(ROOM_PREFIX)


class Fanout:
    """Delivers room messages to the local subscriptions of a node."""

    def __init__(self, registry: Registry, metrics: HubMetrics, history_ttl: int) -> None:
        self.registry = registry
        self.metrics = metrics
        self.history_ttl = history_ttl

    def on_message(self, channel: bytes, data: bytes) -> None:
        """A room message from Redis: build its bytes once, write them to every local member."""
        # the channel is `ra:{<room>}:ch` (realtime/keys.py)
        lr = self.registry.rooms.get(channel[_TAG:channel.rfind(b"}")].decode())
        if lr is None:
            return
        offset, epoch, body = split_message(data)
        out = Outgoing(lr.name, offset or None, epoch, decode_body(body))
        self.metrics.events_in.inc()
        events, deliveries = room_counters(lr.kind.prefix)  # per room kind (bounded label)
        events.inc()
        if lr.filling is not None:
            lr.filling.append(out)
            return
        n = self.fanout(lr, out)
        wire = out.wire
        if type(wire) is WireEvent and wire.ts:
            self.metrics.fanout_latency.observe(max(0.0, time.time() - wire.ts))
        self.metrics.events_out.inc(n)
        deliveries.inc(n)

    def fanout(self, lr: LocalRoom, out: Outgoing) -> int:
        if out.offset is not None and type(out.wire) is WireEvent:
            lr.epoch, lr.offset = out.epoch, out.offset
        n = 0
        if out.simple or (not lr.special and type(out.wire) is WireEvent
                          and out.wire.targets is None):
            frames = out.frames
            for sub in lr.subs.values():
                if sub.state is not LIVE and not sub.offer(out):
                    continue  # buffered while pending, or a copy of what was replayed
                conn = sub.conn
                fmt = conn.fmt
                conn.write(frames[fmt] or out.build(FULL, fmt))
                n += 1
            return n
        for sub in lr.subs.values():
            if sub.state is not LIVE and not sub.offer(out):
                continue
            conn = sub.conn
            info = conn.info
            data = out.frame_for(sub.viewer, info.user_id if info else 0, conn.fmt)
            if data is not None:
                conn.write(data)
                n += 1
        return n

    @staticmethod
    def deliver(sub: Sub, out: Outgoing) -> None:
        """One message to one subscription, as that viewer's variant (or nothing)."""
        info = sub.conn.info
        data = out.frame_for(sub.viewer, info.user_id if info else 0, sub.conn.fmt)
        if data is not None:
            sub.conn.write(data)

    def send_to(self, conn_id: str, room: str, events: list[RoomEvent],
                offset: int | None = None) -> None:
        """Events (full variant, recipient filters apply) to one local subscription."""
        conn = self.registry.conns.get(conn_id)
        sub = conn.subs.get(room) if conn is not None else None
        if sub is None or conn is None or conn.info is None:
            return
        lr = self.registry.rooms.get(room)
        epoch = lr.epoch if lr is not None and offset is not None else None
        for ev in events:
            wire = WireEvent(ev.event, ev.data, None, None, ev.author_id, ev.target_user_ids)
            out = Outgoing(room, offset, epoch, wire)
            if sub.offer(out):
                self.deliver(sub, out)

    async def repair_gap(self, redis: Redis, lr: LocalRoom) -> None:
        """Deliver (in order, once) the stored events a room missed while pub/sub was down."""
        assert lr.offset is not None
        lr.begin_repair()
        epoch: str | None
        offset: int | None
        try:
            since_epoch = lr.epoch
            if since_epoch is None:  # (rooms get an epoch at subscribe; kept for safety)
                since_epoch = (await read_position(redis, lr.name, self.history_ttl))[0]
            epoch, offset, recovered, events = await read_since(redis, lr.name, since_epoch,
                                                                lr.offset)
            if not recovered and epoch is not None and epoch != since_epoch:
                # Redis lost the room's history (a restart without data): every event of the
                # new epoch was published while this node was not listening; send them all
                epoch, offset, recovered, events = await read_since(redis, lr.name, epoch, 0)
            if recovered:
                for off, wire in events:
                    self.fanout(lr, Outgoing(lr.name, off, epoch, wire))
            else:  # not recoverable: nothing was delivered, so every held event goes out
                epoch, offset = None, None  # (clients see the new epoch on it and refetch)
        except Exception:
            log.debug("hub: gap repair of %s failed", lr.name, exc_info=True)
            epoch, offset = lr.epoch, lr.offset
        for out in lr.end_repair(epoch, offset):
            self.fanout(lr, out)
