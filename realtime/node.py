"""The node: composes registry, auth, fan-out, membership, presence and the control channel;
starts and stops them (signals, background ticks, `gc.freeze`) and is the rooms' HubContext."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.keys import HUB_CONTROL
from domain.ops.metrics import count_reconnect
from domain.redisconn import is_cluster
from domain.settings import Settings
from realtime import control
from realtime.auth import SocketAuth
from realtime.broker import Broker, BrokerUnavailable
from realtime.commands import PresenceUpdate, Publish, Subscribe
from realtime.connection import Connection
from realtime.fanout import Fanout
from realtime.membership import Membership
from realtime.metrics import HubMetrics
from realtime.node_control import ControlHandler
from realtime.presence import Presence
from realtime.presence_batch import PresenceBatcher
from realtime.protocol import CLOSE_RESTARTING, CLOSE_SLOW_CONSUMER
from realtime.publisher import Publisher, publish_plain
from realtime.ratelimit import limits_from
from realtime.registry import Registry
from realtime.rooms.base import HubContext, RoomEvent, RoomKind
from realtime.sharded_broker import ShardedBroker
from realtime.signals import hook_stop_signals, restore_signals
from realtime.subscriptions import PREFIX_RE, viewer_changes
from realtime.wire import encode_event, plain_message

log = logging.getLogger("readalong.hub")


class Hub(HubContext):
    """Everything one server process knows about its WebSocket clients."""

    def __init__(self, settings: Settings, metrics: HubMetrics | None = None) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.metrics = metrics or HubMetrics()
        self.kinds: dict[str, RoomKind] = {}
        self.registry = Registry(self.metrics)
        self.fanout = Fanout(self.registry, self.metrics, settings.history_ttl)
        self.auth = SocketAuth(settings.secret_key, settings.node_id, self.registry,
                               self._close)
        self.control = ControlHandler(self)
        self.redis: Redis | None = None
        self.publisher: Publisher | None = None
        self.presence: Presence | None = None
        self.batcher: PresenceBatcher | None = None
        self.broker: Broker | ShardedBroker | None = None
        self.membership: Membership | None = None
        self.accepting = False
        self.shutting_down = False
        self._bg: asyncio.Task[None] | None = None
        self._signals: list[tuple[int, Any]] = []
        self.queue_bytes = settings.ws_queue_bytes
        self.drop_on_overflow = settings.ws_overflow == "drop"
        self.command_limits = limits_from(settings)  # shared by every connection's buckets
        self.snapshot_max = max(1, settings.presence_snapshot_max)

    @property
    def name_resolver(self) -> Callable[[int], Awaitable[str | None]] | None:
        return self.auth.name_resolver

    @name_resolver.setter
    def name_resolver(self, fn: Callable[[int], Awaitable[str | None]] | None) -> None:
        self.auth.name_resolver = fn

    # -- setup -------------------------------------------------------------------------------
    def register(self, kind: RoomKind) -> None:
        """Plug a room kind in (one call, e.g. from another context's startup hook)."""
        if not kind.prefix or not PREFIX_RE.fullmatch(kind.prefix):
            raise ValueError(f"bad room kind prefix {kind.prefix!r}")
        self.kinds[kind.prefix] = kind
        if self.publisher is not None:
            self._sync_publisher()

    def _sync_publisher(self) -> None:
        assert self.publisher is not None
        for prefix, kind in self.kinds.items():
            if kind.keeps_history:
                self.publisher.ephemeral.discard(prefix)
            else:
                self.publisher.ephemeral.add(prefix)

    def _reconnected(self) -> None:
        """Pub/sub is back (called before it delivers anything): hold the live events of every
        room `on_reconnect` repairs, so none fans out (and moves the room's offset past the
        gap) before the missed ones are read from history."""
        self.metrics.redis_reconnects.inc()
        count_reconnect("hub")
        for lr in self.registry.rooms.values():
            if lr.kind.keeps_history and lr.offset is not None:
                lr.begin_repair()

    async def start(self, redis: Redis, redis_url: str, *, hook_signals: bool = True) -> None:
        self.redis = redis
        self.auth.redis = redis
        self.publisher = Publisher(redis, self.settings)
        self._sync_publisher()
        self.presence = Presence(redis, self.node_id, self.settings.presence_ttl)
        self.batcher = PresenceBatcher(redis, self.presence)
        broker = ShardedBroker if is_cluster(redis) else Broker
        self.broker = broker(redis_url, HUB_CONTROL, self.fanout.on_message,
                             self.control.on_control, self.on_reconnect,
                             self._reconnected,
                             name=f"readalong-hub-{self.node_id}")
        self.membership = Membership(self, self.kinds, self.registry, self.fanout, redis,
                                     self.broker, self.presence, self.batcher,
                                     self.settings.history_ttl, self.snapshot_max)
        await self.broker.start()
        with contextlib.suppress(Exception):
            await self.presence.heartbeat()
        self._bg = asyncio.get_running_loop().create_task(self._background(), name="hub-bg")
        if hook_signals:
            self._signals = hook_stop_signals(self.begin_shutdown)
            # Everything allocated so far (imports, app, routes) lives as long as the process:
            # keep it out of the cyclic GC's scans, which otherwise grow with every socket
            # (the thresholds were raised at the app's build: READALONG_GC_THRESHOLD).
            gc.collect()
            gc.freeze()
        self.accepting = True

    def begin_shutdown(self) -> None:
        """Stop accepting and tell every client to reconnect elsewhere (4012)."""
        if self.shutting_down:
            return
        self.accepting = False
        self.shutting_down = True
        if self.membership is not None:
            self.membership.stopping = True
        for conn in list(self.registry.conns.values()):
            self._close(conn, CLOSE_RESTARTING)

    async def stop(self) -> None:
        """Graceful stop (bounded by shutdown_grace): close clients, leave presence, unsubscribe."""
        self.begin_shutdown()
        restore_signals(self._signals)
        if self._bg is not None:
            self._bg.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._bg
        if self.batcher is not None:
            self.batcher.cancel()
            try:
                grace = self.settings.shutdown_grace
                await asyncio.wait_for(self.batcher.flush(), grace)
                await asyncio.wait_for(self.batcher.leave_node(self.node_id, claim=False), grace)
            except Exception:
                log.warning("hub: could not leave presence cleanly", exc_info=True)
        await self.control.stop()
        if self.broker is not None:
            await self.broker.stop()

    # -- background: heartbeat, dead-node sweep, broker ping ---------------------------------
    async def _background(self) -> None:
        interval = max(0.5, min(5.0, self.settings.presence_ttl / 3))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("hub: background tick failed: %s", exc)

    async def _tick(self) -> None:
        assert self.presence is not None and self.redis is not None
        assert self.batcher is not None
        if await self.presence.heartbeat():  # we were swept, or Redis lost its data:
            # put our members back
            await self.batcher.resync(self.registry.rooms.values())
        for node in await self.presence.dead_nodes():
            n = await self.batcher.leave_node(node, claim=True)
            if n:
                log.info("hub: removed dead node %s from presence in %d room(s)", node, n)
        if self.broker is not None:
            await self.broker.ping()

    async def on_reconnect(self) -> None:
        """Redis pub/sub came back: repair presence, then deliver what local rooms missed."""
        try:
            await self._tick()
        except Exception:
            log.debug("hub: tick after reconnect failed", exc_info=True)
        assert self.redis is not None
        for lr in list(self.registry.rooms.values()):
            if lr.kind.keeps_history and lr.offset is not None:
                await self.fanout.repair_gap(self.redis, lr)

    # -- connections -------------------------------------------------------------------------
    def slow_consumer(self, conn: Connection) -> None:
        """The overflow policy: `close` cuts the socket off (4013); `drop` drops the frame."""
        if conn.closed:
            return
        self.metrics.slow_consumers.inc()
        if self.drop_on_overflow:
            return
        log.info("hub: slow consumer %s (user %s) cut off (%d bytes buffered)", conn.conn_id,
                 conn.user_id, conn.buffered)
        self._close(conn, CLOSE_SLOW_CONSUMER)

    def _close(self, conn: Connection, code: int, reason: str | None = None) -> None:
        if not conn.closed:
            self.metrics.closes.inc(str(code))
        conn.close(code, reason)

    async def authenticate(self, conn: Connection, token: str) -> Principal:
        return await self.auth.authenticate(conn, token)

    async def disconnect(self, conn: Connection) -> None:
        """The socket is gone: leave every room (presence too), forget the connection."""
        conn.closed = True
        conn.transport.closed = True
        conn.cancel_timers()
        if self.membership is not None:
            for room in list(conn.subs):
                with contextlib.suppress(Exception):
                    await self.membership.leave(conn, room)
        self.registry.remove_connection(conn)

    def _rooms(self) -> Membership:
        if self.membership is None:
            raise BrokerUnavailable("hub not started")
        return self.membership

    async def subscribe(self, conn: Connection, cmd: Subscribe) -> None:
        if conn.unnamed:
            kind = self.kinds.get(cmd.room.partition(":")[0])
            if kind is not None and (kind.presence or kind.uses_names):
                await self.auth.name(conn)
        await self._rooms().subscribe(conn, cmd)

    async def unsubscribe(self, conn: Connection, room: str) -> None:
        await self._rooms().unsubscribe(conn, room)

    async def client_publish(self, conn: Connection, cmd: Publish) -> dict[str, Any]:
        return await self._rooms().client_publish(conn, cmd)

    async def presence_update(self, conn: Connection, cmd: PresenceUpdate) -> None:
        await self._rooms().presence_update(conn, cmd)

    # -- HubContext --------------------------------------------------------------------------
    def update_viewer(self, conn_id: str, room: str, **changes: Any) -> None:
        self.registry.update_viewer(conn_id, room, changes)

    async def send_to(self, conn_id: str, room: str, events: list[RoomEvent],
                      offset: int | None = None) -> None:
        self.fanout.send_to(conn_id, room, events, offset)

    async def publish(self, room: str, event: RoomEvent) -> tuple[str, int] | None:
        if self.publisher is None:
            raise BrokerUnavailable("hub not started")
        return await self.publisher.publish(room, event)

    async def broadcast(self, room: str, event: RoomEvent) -> None:
        """Fan an ephemeral event out to the room on every node, never stored (e.g. typing)."""
        if self.redis is None:
            raise BrokerUnavailable("hub not started")
        await publish_plain(self.redis, room, plain_message(encode_event(event)))

    def local_readers(self, room: str) -> dict[int, list[str]]:
        return self.registry.readers(room)

    def update_local_reader(self, room: str, user_id: int, **changes: Any) -> None:
        for conn in self.registry.by_user.get(user_id, ()):  # (not the room's every reader)
            if room in conn.subs:
                self.registry.update_viewer(conn.conn_id, room, changes)

    async def update_reader(self, room: str, user_id: int, **changes: Any) -> None:
        """Change a reader's viewer state on all their connections in `room` on every node:
        here at once, on the other nodes through the control channel (before any later event)."""
        allowed = viewer_changes(changes)
        if not allowed:
            return
        for conn in self.registry.of_user(user_id, room):
            self.registry.update_viewer(conn.conn_id, room, allowed)
        await self._publish_control(self.control.reader_changed(room, user_id, allowed))

    async def send_to_reader(self, room: str, user_id: int, events: list[RoomEvent]) -> None:
        """`send_to` every connection of a reader in `room`, on every node."""
        if not events:
            return
        for conn in self.registry.of_user(user_id, room):
            self.fanout.send_to(conn.conn_id, room, events)
        await self._publish_control(control.ReaderEvents(room=room, user_id=user_id,
                                                         origin=self.node_id, events=events))

    async def evict(self, room: str, user_id: int, event: RoomEvent | None = None) -> None:
        """Remove a user's sockets from `room` on every node (e.g. kicked from a session).
        Each socket first gets `event` (default: `kicked` with the user id), then is
        unsubscribed; the socket itself stays open."""
        ev = event or RoomEvent("kicked", {"user_id": user_id})
        await self._publish_control(control.Evict(
            room=room, user_id=user_id, event=control.KickEvent(ev.event, ev.data)))

    async def _publish_control(self, msg: control.Control) -> None:
        if self.redis is None:
            raise BrokerUnavailable("hub not started")
        await control.publish(self.redis, msg)

