"""The hub of one node: connections, local rooms, the fan-out, subscribe/recovery, presence glue.

State lives on the Hub instance (held by the Litestar plugin), never in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import orjson
from redis.asyncio import Redis

from domain.accounts.tokens import Principal, verify_access_token
from domain.errors import DomainError, Forbidden, Invalid, NotFound, Unauthorized
from domain.keys import HUB_CHANNEL, HUB_CONTROL
from domain.settings import Settings
from realtime.broker import Broker, BrokerUnavailable
from realtime.commands import PresenceUpdate, Publish, Subscribe
from realtime.connection import Connection
from realtime.events import Ack
from realtime.history import read_position, read_since
from realtime.metrics import HubMetrics
from realtime.outgoing import Outgoing
from realtime.presence import Presence
from realtime.protocol import (
    CLOSE_AUTH_EXPIRED,
    CLOSE_FORBIDDEN,
    CLOSE_RESTARTING,
    CLOSE_SLOW_CONSUMER,
)
from realtime.publisher import Publisher, channel_of
from realtime.ratelimit import limits_from
from realtime.rooms.base import (
    DEFAULT_VIEWER,
    FULL,
    ConnectionInfo,
    HubContext,
    RoomEvent,
    RoomKind,
    Viewer,
)
from realtime.wire import (
    Member,
    WireEvent,
    WirePresence,
    decode_body,
    encode_wire,
    plain_message,
    split_message,
)

log = logging.getLogger("readalong.hub")

ROOM_RE = re.compile(r"^([a-z][a-z0-9_]{0,31}):([A-Za-z0-9_.:\-]{1,128})$")
MAX_SUBSCRIPTIONS = 200
MAX_META_BYTES = 2048
PRESENCE_BATCH = 0.05  # seconds: a node coalesces its presence diffs per room (joins storms)
REVOCATION_UNAVAILABLE = object()

try:  # written by the accounts context; the hub works (without the check) until it exists
    from domain.accounts.revocation import ensure_not_revoked as _ensure_not_revoked
except ImportError:  # pragma: no cover
    _ensure_not_revoked = None  # type: ignore[assignment]


class Sub:
    """One connection's subscription to one room. `pending` buffers live messages while the
    subscription is being set up (ack + replay not sent yet)."""

    __slots__ = ("conn", "joined", "pending", "viewer")

    def __init__(self, conn: Connection, viewer: Viewer) -> None:
        self.conn = conn
        self.viewer = viewer
        self.pending: list[Outgoing] | None = []
        self.joined = False  # counted in the room's presence


class LocalRoom:
    """A room with at least one local subscriber (the node holds one Redis subscription for it)."""

    __slots__ = (
        "epoch",
        "filling",
        "kind",
        "name",
        "offset",
        "ready",
        "room_id",
        "special",
        "subs",
    )

    def __init__(self, name: str, kind: RoomKind, room_id: str) -> None:
        self.name = name
        self.kind = kind
        self.room_id = room_id
        self.subs: dict[str, Sub] = {}
        self.ready: asyncio.Task[None] | None = None
        self.epoch: str | None = None   # of the last event fanned out (for gap repair)
        self.offset: int | None = None
        self.filling: list[Outgoing] | None = None
        self.special = 0  # subscriptions whose viewer hides authors or shields spoilers


def _is_special(viewer: Viewer) -> bool:
    return bool(viewer.hidden_authors) or viewer.shield


class Hub(HubContext):
    """Everything one server process knows about its WebSocket clients."""

    def __init__(self, settings: Settings, metrics: HubMetrics | None = None) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.metrics = metrics or HubMetrics()
        self.kinds: dict[str, RoomKind] = {}
        self.rooms: dict[str, LocalRoom] = {}
        self.conns: dict[str, Connection] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.redis: Redis | None = None
        self.publisher: Publisher | None = None
        self.presence: Presence | None = None
        self.broker: Broker | None = None
        self.accepting = False
        self.shutting_down = False
        self.name_resolver: Callable[[int], Awaitable[str | None]] | None = None
        self._chan_len = len(HUB_CHANNEL.encode())
        self._bg: asyncio.Task[None] | None = None
        self._signals: list[tuple[int, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # room -> user -> ("joined" | "updated" | "left", member): diffs waiting to be published
        self._diffs: dict[str, dict[int, tuple[str, Member | None]]] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self.queue_bytes = int(getattr(settings, "ws_queue_bytes", 1024 * 1024))
        self.command_limits = limits_from(settings)  # shared by every connection's buckets
        self.snapshot_max = max(1, int(getattr(settings, "presence_snapshot_max", 200)))

    # -- setup -------------------------------------------------------------------------------
    def register(self, kind: RoomKind) -> None:
        """Plug a room kind in (one call, e.g. from another context's startup hook)."""
        if not kind.prefix or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind.prefix):
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

    async def start(self, redis: Redis, redis_url: str, *, hook_signals: bool = True) -> None:
        self.redis = redis
        self.publisher = Publisher(redis, self.settings)
        self._sync_publisher()
        self.presence = Presence(redis, self.node_id, self.settings.presence_ttl)
        self.broker = Broker(redis_url, HUB_CONTROL, self.on_message, self.on_control,
                             self.on_reconnect, self.metrics.redis_reconnects.inc,
                             name=f"readalong-hub-{self.node_id}")
        await self.broker.start()
        with contextlib.suppress(Exception):
            await self.presence.heartbeat()
        self._bg = asyncio.get_running_loop().create_task(self._background(), name="hub-bg")
        if hook_signals:
            self._hook_signals()
            # Everything allocated so far (imports, app, routes) lives as long as the process:
            # keep it out of the cyclic GC's scans, which otherwise grow with every socket.
            gc.collect()
            gc.freeze()
        self.accepting = True

    def _hook_signals(self) -> None:
        """Close clients with 4012 as soon as the server is told to stop (before uvicorn's own
        shutdown sends 1012), chaining to the handler already installed."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                prev = signal.getsignal(sig)
            except ValueError:
                continue
            if not callable(prev):
                continue

            def handler(signum: int, frame: Any, prev: Any = prev) -> None:
                loop.call_soon_threadsafe(self.begin_shutdown)
                prev(signum, frame)

            try:
                signal.signal(sig, handler)
                self._signals.append((sig, prev))
            except ValueError:  # not the main thread
                return

    def begin_shutdown(self) -> None:
        """Stop accepting and tell every client to reconnect elsewhere (4012)."""
        if self.shutting_down:
            return
        self.accepting = False
        self.shutting_down = True
        for conn in list(self.conns.values()):
            self._close(conn, CLOSE_RESTARTING)

    async def stop(self) -> None:
        """Graceful stop (bounded by shutdown_grace): close clients, leave presence, unsubscribe."""
        self.begin_shutdown()
        for sig, prev in self._signals:
            with contextlib.suppress(Exception):
                signal.signal(sig, prev)
        if self._bg is not None:
            self._bg.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._bg
        if self._flush_task is not None:
            self._flush_task.cancel()
        try:
            await asyncio.wait_for(self._flush_diffs(), self.settings.shutdown_grace)
            await asyncio.wait_for(self._leave_presence(), self.settings.shutdown_grace)
        except Exception:
            log.warning("hub: could not leave presence cleanly", exc_info=True)
        if self.broker is not None:
            await self.broker.stop()

    async def _leave_presence(self) -> None:
        assert self.presence is not None
        diffs = await self.presence.drop_node(self.node_id, claim=False)
        await self._publish_diffs(diffs)

    # -- background: heartbeat, dead-node sweep, broker ping ---------------------------------
    async def _background(self) -> None:
        interval = max(0.5, min(5.0, self.settings.presence_ttl / 3))
        while True:
            await asyncio.sleep(interval)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: try again next tick
                log.debug("hub: background tick failed: %s", exc)

    async def _tick(self) -> None:
        assert self.presence is not None and self.redis is not None
        from domain.keys import PRESENCE_NODES

        added = await self.redis.zadd(PRESENCE_NODES, {self.node_id: time.time()})
        if added:  # we were swept (or Redis lost its data): put our members back
            await self._resync_presence()
        for node in await self.presence.dead_nodes():
            diffs = await self.presence.drop_node(node)
            if diffs:
                log.info("hub: removed dead node %s from presence in %d room(s)", node,
                         len(diffs))
            await self._publish_diffs(diffs)
        if self.broker is not None:
            await self.broker.ping()

    async def _publish_diffs(self, diffs: dict[str, tuple[list[int], list[Member]]]) -> None:
        assert self.redis is not None
        for room, (left, updated) in diffs.items():
            await self._publish_presence(room, WirePresence(left=left, updated=updated))

    async def _publish_presence(self, room: str, diff: WirePresence) -> None:
        assert self.redis is not None
        await self.redis.publish(channel_of(room), plain_message(encode_wire(diff)))

    def _queue_diff(self, room: str, what: str, user_id: int, member: Member | None) -> None:
        """Coalesce a presence change; all of a room's changes in PRESENCE_BATCH go out as one
        diff (so 1,000 readers joining is not 1,000 x 1,000 frames)."""
        users = self._diffs.setdefault(room, {})
        previous = users.get(user_id)
        if previous is not None and previous[0] == "joined" and what == "updated":
            what = "joined"
        users[user_id] = (what, member)
        if self._flush_task is None:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(PRESENCE_BATCH)
        await self._flush_diffs()

    async def _flush_diffs(self) -> None:
        self._flush_task = None
        diffs, self._diffs = self._diffs, {}
        if not diffs or self.redis is None:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for room, users in diffs.items():
                    diff = WirePresence()
                    for user_id, (what, member) in users.items():
                        if what == "left":
                            diff.left.append(user_id)
                        elif member is not None:
                            (diff.joined if what == "joined" else diff.updated).append(member)
                    pipe.publish(channel_of(room), plain_message(encode_wire(diff)))
                await pipe.execute()
        except Exception:
            log.debug("hub: presence diffs not published", exc_info=True)

    async def _resync_presence(self) -> None:
        assert self.presence is not None
        for name, lr in list(self.rooms.items()):
            if not lr.kind.presence:
                continue
            counts: dict[int, tuple[int, str]] = {}
            for sub in lr.subs.values():
                info = sub.conn.info
                if info is None or not sub.joined:
                    continue
                n, _ = counts.get(info.user_id, (0, info.display_name))
                counts[info.user_id] = (n + 1, info.display_name)
            for user_id, (n, display) in counts.items():
                joined, member = await self.presence.join(name, user_id, display, n, "set")
                if joined:
                    self._queue_diff(name, "joined", user_id, member)

    async def on_reconnect(self) -> None:
        """Redis pub/sub came back: repair presence, then deliver what local rooms missed."""
        try:
            await self._tick()
        except Exception:
            log.debug("hub: tick after reconnect failed", exc_info=True)
        for lr in list(self.rooms.values()):
            if lr.kind.keeps_history and lr.offset is not None:
                await self._repair_gap(lr)

    async def _repair_gap(self, lr: LocalRoom) -> None:
        """Deliver (in order, once) the stored events a room missed while pub/sub was down."""
        assert self.redis is not None and lr.offset is not None
        lr.filling = []
        try:
            since_epoch = lr.epoch
            if since_epoch is None:  # (rooms get an epoch at subscribe; kept for safety)
                since_epoch = (await read_position(self.redis, lr.name,
                                                   self.settings.history_ttl))[0]
            epoch, offset, recovered, events = await read_since(self.redis, lr.name,
                                                                since_epoch, lr.offset)
            if recovered:
                for off, wire in events:
                    self._fanout(lr, Outgoing(lr.name, off, epoch, wire))
            # else: history was lost; clients see the new epoch on the next event and refetch
        except Exception:
            log.debug("hub: gap repair of %s failed", lr.name, exc_info=True)
            epoch, offset = lr.epoch, lr.offset
        buffered, lr.filling = lr.filling, None
        for out in buffered or ():
            if out.offset is not None and out.epoch == epoch and out.offset <= offset:
                continue
            self._fanout(lr, out)

    # -- fan-out -----------------------------------------------------------------------------
    def on_message(self, channel: bytes, data: bytes) -> None:
        """A room message from Redis: build its bytes once, write them to every local member."""
        lr = self.rooms.get(channel[self._chan_len:].decode())
        if lr is None:
            return
        offset, epoch, body = split_message(data)
        out = Outgoing(lr.name, offset or None, epoch, decode_body(body))
        self.metrics.events_in.inc()
        if lr.filling is not None:
            lr.filling.append(out)
            return
        n = self._fanout(lr, out)
        wire = out.wire
        if type(wire) is WireEvent and wire.ts:
            self.metrics.fanout_latency.observe(max(0.0, time.time() - wire.ts))
        self.metrics.events_out.inc(n)

    def _fanout(self, lr: LocalRoom, out: Outgoing) -> int:
        if out.offset is not None and type(out.wire) is WireEvent:
            lr.epoch, lr.offset = out.epoch, out.offset
        n = 0
        if out.simple or (not lr.special and type(out.wire) is WireEvent
                          and out.wire.targets is None):
            frames = out.frames
            for sub in lr.subs.values():
                if sub.pending is not None:
                    sub.pending.append(out)
                    continue
                conn = sub.conn
                fmt = conn.fmt
                conn.write(frames[fmt] or out.build(FULL, fmt))
                n += 1
            return n
        for sub in lr.subs.values():
            if sub.pending is not None:
                sub.pending.append(out)
                continue
            conn = sub.conn
            info = conn.info
            data = out.frame_for(sub.viewer, info.user_id if info else 0, conn.fmt)
            if data is not None:
                conn.write(data)
                n += 1
        return n

    def _deliver_one(self, sub: Sub, out: Outgoing) -> None:
        info = sub.conn.info
        data = out.frame_for(sub.viewer, info.user_id if info else 0, sub.conn.fmt)
        if data is not None:
            sub.conn.write(data)

    def on_control(self, data: bytes) -> None:
        msg = orjson.loads(data)
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "evict":
            task = asyncio.get_running_loop().create_task(
                self._evict_local(str(msg.get("room", "")), int(msg.get("user_id", 0)),
                                  msg.get("event")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif msg.get("type") == "revoke":
            user_id = int(msg.get("user_id", 0))
            family = msg.get("family")
            for conn in list(self.by_user.get(user_id, ())):
                if family is None or (conn.principal is not None
                                      and conn.principal.family == family):
                    self._close(conn, CLOSE_FORBIDDEN, "session revoked")

    def slow_consumer(self, conn: Connection) -> None:
        if conn.closed:
            return
        self.metrics.slow_consumers.inc()
        log.info("hub: slow consumer %s cut off (%d bytes buffered)", conn.conn_id,
                 conn.buffered)
        self._close(conn, CLOSE_SLOW_CONSUMER)

    def _close(self, conn: Connection, code: int, reason: str | None = None) -> None:
        if not conn.closed:
            self.metrics.closes.labels(str(code)).inc()
        conn.close(code, reason)

    # -- connections -------------------------------------------------------------------------
    async def authenticate(self, conn: Connection, token: str) -> Principal:
        """Verify a token (first auth or renewal); arm the reauth notice and the expiry close."""
        principal = verify_access_token(self.settings.secret_key, token)
        if _ensure_not_revoked is not None and self.redis is not None:
            await _ensure_not_revoked(self.redis, principal)
        previous = conn.principal
        if previous is not None and previous.user_id != principal.user_id:
            raise Forbidden("the new token is for another user", code="user_mismatch")
        if principal.exp <= time.time():
            raise Unauthorized("access token expired", code="token_expired")
        conn.principal = principal
        if previous is None:
            name = None
            if self.name_resolver is not None:
                with contextlib.suppress(Exception):
                    name = await self.name_resolver(principal.user_id)
            conn.info = ConnectionInfo(principal.user_id, principal.role,
                                       name or f"user {principal.user_id}", conn.conn_id,
                                       self.node_id)
            self.conns[conn.conn_id] = conn
            self.by_user.setdefault(principal.user_id, set()).add(conn)
            self.metrics.connections.inc()
        self._arm_expiry(conn, principal)
        return principal

    def _arm_expiry(self, conn: Connection, principal: Principal) -> None:
        conn.cancel_timers()
        loop = asyncio.get_running_loop()
        remaining = principal.exp - time.time()
        lead = min(60.0, max(1.0, remaining / 5))
        now = loop.time()
        if remaining - lead > 0:
            conn.call_at(now + remaining - lead, self._reauth_notice, conn, principal)
        conn.call_at(now + remaining, self._expire, conn, principal)

    def _reauth_notice(self, conn: Connection, principal: Principal) -> None:
        from realtime.events import Reauth

        if not conn.closed and conn.principal is principal:
            conn.send(Reauth(expires_at=principal.exp))

    def _expire(self, conn: Connection, principal: Principal) -> None:
        if not conn.closed and conn.principal is principal:
            self._close(conn, CLOSE_AUTH_EXPIRED)

    async def disconnect(self, conn: Connection) -> None:
        """The socket is gone: leave every room (presence too), forget the connection."""
        conn.closed = True
        conn.cancel_timers()
        for room in list(conn.subs):
            with contextlib.suppress(Exception):
                await self._leave(conn, room)
        if self.conns.pop(conn.conn_id, None) is not None:
            self.metrics.connections.dec()
            if conn.info is not None:
                users = self.by_user.get(conn.info.user_id)
                if users is not None:
                    users.discard(conn)
                    if not users:
                        del self.by_user[conn.info.user_id]

    # -- rooms -------------------------------------------------------------------------------
    def resolve(self, room: str) -> tuple[RoomKind, str]:
        m = ROOM_RE.match(room)
        if m is None:
            raise Invalid("room must look like <kind>:<id>", code="bad_room", field="room")
        kind = self.kinds.get(m.group(1))
        if kind is None:
            raise NotFound(f"unknown room kind {m.group(1)!r}", code="unknown_room",
                           field="room")
        return kind, m.group(2)

    async def subscribe(self, conn: Connection, cmd: Subscribe) -> None:
        """Authorise, join the local room (one Redis subscription per room), read history, ack,
        replay what was missed, then switch the buffered live events on (deduplicated)."""
        assert conn.info is not None and self.broker is not None and self.redis is not None
        room = cmd.room
        kind, room_id = self.resolve(room)
        if room in conn.subs:
            raise DomainError("already subscribed to this room", code="already_subscribed",
                              field="room")
        if len(conn.subs) >= MAX_SUBSCRIPTIONS:
            raise DomainError("too many subscriptions on one connection",
                              code="too_many_subscriptions")
        viewer = await kind.authorize(self, conn.info, room_id)
        if conn.closed:
            return
        if not isinstance(viewer, Viewer):
            viewer = DEFAULT_VIEWER
        lr = self.rooms.get(room)
        if lr is None:
            lr = self.rooms[room] = LocalRoom(room, kind, room_id)
            lr.ready = asyncio.get_running_loop().create_task(
                self.broker.subscribe(channel_of(room)))
            self.metrics.rooms.set(len(self.rooms))
        sub = Sub(conn, viewer)
        lr.subs[conn.conn_id] = sub
        lr.special += _is_special(viewer)
        conn.subs[room] = sub
        self.metrics.subscriptions.inc()
        try:
            assert lr.ready is not None
            await asyncio.shield(lr.ready)
            epoch: str | None = None
            offset: int | None = None
            recovered = False
            replay: list[tuple[int, WireEvent]] = []
            if kind.keeps_history:
                if cmd.since is not None:
                    epoch, offset, recovered, replay = await read_since(
                        self.redis, room, cmd.since.epoch, cmd.since.offset)
                if epoch is None:  # no since, or the room has no epoch (yet / any more)
                    epoch, offset = await read_position(self.redis, room,
                                                        self.settings.history_ttl)
                if lr.offset is None:
                    lr.epoch, lr.offset = epoch, offset
            members: list[Member] = []
            total = 0
            if kind.presence:
                assert self.presence is not None
                joined, member, members, total = await self.presence.join_with_snapshot(
                    room, conn.info.user_id, conn.info.display_name, self.snapshot_max,
                    kind.initial_meta(conn.info, room_id))
                sub.joined = True
                self._queue_diff(room, "joined" if joined else "updated", conn.info.user_id,
                                 member)
        except BaseException:
            await self._leave(conn, room)
            raise
        if conn.closed:
            return
        conn.send(Ack(cmd.id, {"room": room, "epoch": epoch, "offset": offset,
                               "recovered": recovered, "presence": members,
                               "presence_total": total}))
        for off, wire in replay:
            self._deliver_one(sub, Outgoing(room, off, epoch, wire))
        pending, sub.pending = sub.pending or [], None
        for out in pending:
            if (offset is not None and out.offset is not None and out.epoch == epoch
                    and out.offset <= offset):
                continue
            self._deliver_one(sub, out)

    async def unsubscribe(self, conn: Connection, room: str) -> None:
        if room not in conn.subs:
            raise DomainError("not subscribed to this room", code="not_subscribed", field="room")
        await self._leave(conn, room)

    async def _leave(self, conn: Connection, room: str) -> None:
        sub = conn.subs.pop(room, None)
        lr = self.rooms.get(room)
        if sub is None or lr is None:
            return
        self.metrics.subscriptions.dec()
        if lr.subs.pop(conn.conn_id, None) is not None:
            lr.special -= _is_special(sub.viewer)
        if not lr.subs:
            del self.rooms[room]
            self.metrics.rooms.set(len(self.rooms))
            if not self.shutting_down and self.broker is not None:
                if lr.ready is not None and not lr.ready.done():
                    lr.ready.cancel()
                await self.broker.unsubscribe(channel_of(room))
        info = conn.info
        if info is None:
            return
        if sub.joined and not self.shutting_down:
            assert self.presence is not None
            try:
                left, member = await self.presence.leave(room, info.user_id)
                if left:
                    self._queue_diff(room, "left", info.user_id, None)
                elif member is not None:
                    self._queue_diff(room, "updated", info.user_id, member)
            except Exception:
                log.debug("hub: presence leave failed", exc_info=True)
        await lr.kind.on_leave(self, info, lr.room_id)

    async def client_publish(self, conn: Connection, cmd: Publish) -> dict[str, Any]:
        assert conn.info is not None
        kind, room_id = self.resolve(cmd.room)
        if cmd.room not in conn.subs:
            raise Forbidden("subscribe to the room before publishing", code="not_subscribed",
                            field="room")
        if not kind.accepts_publish:
            raise Forbidden("clients cannot publish into this room", code="publish_forbidden",
                            field="room")
        events, result = await kind.on_publish(self, conn.info, room_id, cmd.data)
        result = dict(result or {})
        for event in events:
            pos = await self.publish(cmd.room, event)
            if pos is not None:
                result.setdefault("epoch", pos[0])
                result["offset"] = pos[1]
        return result

    async def presence_update(self, conn: Connection, cmd: PresenceUpdate) -> None:
        assert conn.info is not None and self.presence is not None
        kind, room_id = self.resolve(cmd.room)
        sub = conn.subs.get(cmd.room)
        if sub is None or sub.pending is not None:
            raise Forbidden("subscribe to the room first", code="not_subscribed", field="room")
        if not kind.presence:
            raise Invalid("this room has no presence", code="no_presence", field="room")
        meta = await kind.on_presence(self, conn.info, room_id, cmd.meta)
        if len(msgspec.json.encode(meta)) > MAX_META_BYTES:
            raise Invalid(f"presence meta is limited to {MAX_META_BYTES} bytes", field="meta")
        member = await self.presence.set_meta(cmd.room, conn.info.user_id, meta)
        if member is not None:
            self._queue_diff(cmd.room, "updated", conn.info.user_id, member)

    # -- HubContext --------------------------------------------------------------------------
    def update_viewer(self, conn_id: str, room: str, **changes: Any) -> None:  # type: ignore[override]
        conn = self.conns.get(conn_id)
        sub = conn.subs.get(room) if conn is not None else None
        if sub is None:
            return
        allowed = {k: v for k, v in changes.items()
                   if k in ("progress", "shield", "hidden_authors") and v is not ...}
        if "hidden_authors" in allowed:
            allowed["hidden_authors"] = frozenset(allowed["hidden_authors"])
        lr = self.rooms.get(room)
        before = _is_special(sub.viewer)
        sub.viewer = msgspec.structs.replace(sub.viewer, **allowed)
        if lr is not None and lr.subs.get(conn_id) is sub:
            lr.special += _is_special(sub.viewer) - before

    async def send_to(self, conn_id: str, room: str, events: list[RoomEvent],
                      offset: int | None = None) -> None:
        conn = self.conns.get(conn_id)
        sub = conn.subs.get(room) if conn is not None else None
        if sub is None or conn is None or conn.info is None:
            return
        lr = self.rooms.get(room)
        epoch = lr.epoch if lr is not None and offset is not None else None
        for ev in events:
            wire = WireEvent(ev.event, ev.data, None, None, ev.author_id, ev.target_user_ids)
            out = Outgoing(room, offset, epoch, wire)
            if sub.pending is not None:
                sub.pending.append(out)
            else:
                self._deliver_one(sub, out)

    async def evict(self, room: str, user_id: int,
                    event: RoomEvent | None = None) -> None:
        """Remove a user's sockets from `room` on every node (e.g. kicked from a session).
        Each socket first gets `event` (default: `kicked` with the user id), then is
        unsubscribed; the socket itself stays open."""
        assert self.redis is not None
        ev = event or RoomEvent("kicked", {"user_id": user_id})
        await self.redis.publish(HUB_CONTROL, orjson.dumps({
            "type": "evict", "room": room, "user_id": user_id,
            "event": {"event": ev.event, "data": ev.data}}))

    async def _evict_local(self, room: str, user_id: int, event: Any) -> None:
        ev = RoomEvent(str(event.get("event", "kicked")), dict(event.get("data") or {})) \
            if isinstance(event, dict) else RoomEvent("kicked", {"user_id": user_id})
        for conn in sorted(self.by_user.get(user_id, ()), key=lambda c: c.conn_id):
            if room not in conn.subs:
                continue
            try:
                await self.send_to(conn.conn_id, room, [ev])
                await self._leave(conn, room)
            except Exception:
                log.debug("hub: evicting %s from %s failed", conn.conn_id, room, exc_info=True)

    async def publish(self, room: str, event: RoomEvent) -> tuple[str, int] | None:
        if self.publisher is None:
            raise BrokerUnavailable("hub not started")
        return await self.publisher.publish(room, event)
