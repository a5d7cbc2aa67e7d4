"""The node's pub/sub in cluster mode: sharded pub/sub, one connection per shard primary.

A room's channel `ra:{<room>}:ch` lives on the room's slot, so its messages (SPUBLISHed by the
publish script on the shard that holds the room's history) reach only the subscribers of that
shard. This broker keeps one subscription connection per primary it has rooms on
(`SSUBSCRIBE`, one command per slot: a command's channels must share a slot), and one more for
the control channel (classic `SUBSCRIBE ra:ctl`, which a cluster broadcasts to every node, so
any node will do). Room-scoped control messages ride the room's own channel (see
`realtime/node.py`), so they keep their order with the room's events.

Failover and slot moves: when a shard connection drops (its primary died) or the server says a
channel moved (`-MOVED` on subscribe, or an unasked `sunsubscribe` when a slot migrates), the
broker re-reads the slot map (`CLUSTER SLOTS`, from any live node), reconnects to whichever
node now serves each channel, resubscribes, and calls `on_reconnect` (the hub repairs presence
and replays what rooms missed; rooms whose history did not survive answer `recovered: false`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.crc import key_slot

from domain.redisconn import cluster_seeds
from realtime.broker import CONTROL_MARK, SUBSCRIBE_TIMEOUT, BrokerUnavailable

log = logging.getLogger("readalong.hub")

Addr = tuple[str, int]


class _Shard:
    """One subscription connection (to one node) and its reader task."""

    def __init__(self, broker: ShardedBroker, addr: Addr, control: bool) -> None:
        self.broker = broker
        self.addr = addr
        self.control = control
        self.conn: Connection | None = None
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def open(self, channels: list[str]) -> None:
        conn = Connection(host=self.addr[0], port=self.addr[1], socket_connect_timeout=2,
                          client_name=self.broker.name, **self.broker.auth)
        await conn.connect()  # type: ignore[no-untyped-call]
        self.conn = conn
        if self.control:
            await conn.send_command("SUBSCRIBE", self.broker.control)
        await self.send(channels)
        self.task = asyncio.get_running_loop().create_task(self.read(), name="hub-shard")

    async def send(self, channels: list[str]) -> None:
        if self.conn is None or not channels:
            return
        by_slot: dict[int, list[str]] = {}
        for ch in channels:
            by_slot.setdefault(key_slot(ch.encode()), []).append(ch)
        cmds = [("SSUBSCRIBE", *chs) for chs in by_slot.values()]
        await self.conn.send_packed_command(self.conn.pack_commands(cmds))

    async def read(self) -> None:
        conn = self.conn
        assert conn is not None
        broker = self.broker
        try:
            while True:
                try:
                    msg = await conn.read_response(timeout=None, disconnect_on_error=True)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    text = str(exc)
                    if text.startswith(("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN")):
                        broker.replan(f"subscribe answered {text.split(' ', 1)[0]}")
                        continue
                    raise
                if not isinstance(msg, list) or not msg:
                    continue
                kind = msg[0]
                if kind in (b"smessage", b"message"):
                    broker.dispatch(msg[1], msg[2])
                elif kind == b"ssubscribe":
                    self.ready.set()
                    broker.confirmed(msg[1], self)
                elif kind == b"subscribe":
                    self.ready.set()
                elif kind == b"sunsubscribe":
                    broker.dropped(msg[1], self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            broker.lost(self, exc)

    async def ping(self) -> None:
        if self.conn is not None:
            await self.conn.send_command("PING")

    async def close(self) -> None:
        task, self.task = self.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)


class ShardedBroker:
    """The Broker interface (subscribe/unsubscribe/ping/start/stop) over a cluster."""

    def __init__(self, redis_url: str, control: str,
                 on_message: Callable[[bytes, bytes], None],
                 on_control: Callable[[bytes], None],
                 on_reconnect: Callable[[], Coroutine[Any, Any, None]],
                 on_reconnect_metric: Callable[[], None] | None = None,
                 name: str = "readalong-hub", auth: dict[str, Any] | None = None) -> None:
        self.name = name
        self.control = control
        self.on_message = on_message
        self.on_control = on_control
        self.on_reconnect = on_reconnect
        self.on_reconnect_metric = on_reconnect_metric
        self.auth = {k: v for k, v in (auth or {}).items() if k in ("username", "password")}
        self.known: list[Addr] = cluster_seeds(redis_url)
        self.slots: list[tuple[int, int, Addr]] = []
        self.channels: set[str] = set()
        self.where: dict[str, _Shard] = {}  # confirmed subscriptions
        self.shards: dict[Addr, _Shard] = {}
        self.ctl: _Shard | None = None
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._leaving: dict[str, int] = {}  # SUNSUBSCRIBEs we sent, not yet confirmed
        self._plan: asyncio.Task[None] | None = None
        self._replan = asyncio.Event()
        self._connected = asyncio.Event()
        self._stopping = False
        self._first = True

    # -- public interface --------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        self._replan.set()
        self._plan = asyncio.get_running_loop().create_task(self._planner(), name="hub-shards")
        try:
            await asyncio.wait_for(self._connected.wait(), 10)
        except TimeoutError:
            log.warning("hub: cluster pub/sub not connected yet; retrying in the background")

    async def stop(self) -> None:
        self._stopping = True
        if self._plan is not None:
            self._plan.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._plan
        for shard in [*self.shards.values(), *([self.ctl] if self.ctl else [])]:
            await shard.close()
        self.shards.clear()

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        if channel in self.where:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel.encode(), []).append(fut)
        shard = self._shard_for(channel)
        if shard is not None and shard.conn is not None:
            with contextlib.suppress(Exception):
                await shard.send([channel])
        else:
            self.replan("a channel of a shard not connected")
        try:
            await asyncio.wait_for(asyncio.shield(fut), SUBSCRIBE_TIMEOUT)
        except TimeoutError as exc:
            raise BrokerUnavailable("realtime backend unavailable") from exc

    def subscribing(self, channel: str) -> asyncio.Future[None]:
        """`subscribe` as a future (the single-instance broker's API)."""
        return asyncio.get_running_loop().create_task(self.subscribe(channel))

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        shard = self.where.pop(channel, None)
        if shard is not None and shard.conn is not None:
            self._leaving[channel] = self._leaving.get(channel, 0) + 1
            with contextlib.suppress(Exception):
                await shard.conn.send_command("SUNSUBSCRIBE", channel)

    async def ping(self) -> None:
        for shard in [*self.shards.values(), *([self.ctl] if self.ctl else [])]:
            await shard.ping()

    # -- called by the shard readers ---------------------------------------------------------
    def dispatch(self, channel: bytes, data: bytes) -> None:
        if channel == self.control.encode() or data[:1] == CONTROL_MARK:
            try:
                self.on_control(data[1:] if data[:1] == CONTROL_MARK else data)
            except Exception:
                log.exception("hub: bad control message")
            return
        try:
            self.on_message(channel, data)
        except Exception:
            log.exception("hub: fan-out failed")

    def confirmed(self, channel: bytes, shard: _Shard) -> None:
        name = channel.decode()
        if name in self.channels:
            self.where[name] = shard
        for fut in self._waiters.pop(channel, ()):
            if not fut.done():
                fut.set_result(None)

    def dropped(self, channel: bytes, shard: _Shard) -> None:
        name = channel.decode()
        asked = self._leaving.get(name, 0)
        if asked:  # our own unsubscribe (the room may be wanted again already)
            if asked == 1:
                del self._leaving[name]
            else:
                self._leaving[name] = asked - 1
            return
        if self.where.get(name) is shard:
            del self.where[name]
        if name in self.channels:  # not asked for: the slot moved away
            self.replan(f"{name} was unsubscribed by the server (slot moved)")

    def lost(self, shard: _Shard, exc: BaseException) -> None:
        if self._stopping:
            return
        log.warning("hub: cluster pub/sub connection to %s:%s lost (%s)", *shard.addr, exc)
        self.replan("a shard connection was lost")

    def replan(self, why: str) -> None:
        log.debug("hub: cluster pub/sub replanning: %s", why)
        self._replan.set()

    # -- planning: who serves which channel ----------------------------------------------------
    def _node_of(self, channel: str) -> Addr | None:
        slot = key_slot(channel.encode())
        for start, end, addr in self.slots:
            if start <= slot <= end:
                return addr
        return None

    def _shard_for(self, channel: str) -> _Shard | None:
        addr = self._node_of(channel)
        return self.shards.get(addr) if addr is not None else None

    async def _read_slots(self) -> None:
        last: Exception | None = None
        for host, port in list(dict.fromkeys(self.known)):
            client = Redis(host=host, port=port, socket_connect_timeout=1, socket_timeout=2,
                           **self.auth)
            try:
                raw = await client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            except Exception as exc:
                last = exc
                continue
            finally:
                await client.aclose()
            slots: list[tuple[int, int, Addr]] = []
            nodes: list[Addr] = []
            for start, end, primary, *replicas in raw:
                addr = (primary[0].decode() or host, int(primary[1]))
                slots.append((int(start), int(end), addr))
                nodes += [addr] + [(r[0].decode() or host, int(r[1])) for r in replicas]
            self.slots = slots
            self.known = list(dict.fromkeys([*nodes, *self.known]))
            return
        raise ConnectionError(f"no cluster node answered CLUSTER SLOTS: {last}")

    async def _apply(self) -> None:
        await self._read_slots()
        wanted: dict[Addr, list[str]] = {}
        for ch in sorted(self.channels):
            addr = self._node_of(ch)
            if addr is not None:
                wanted.setdefault(addr, [])
                if self.where.get(ch) is None or self.where[ch].addr != addr:
                    wanted[addr].append(ch)
        for addr in {a for _, _, a in self.slots}:
            wanted.setdefault(addr, [])
        for addr, old in list(self.shards.items()):  # dead or no longer a primary
            if addr not in wanted or old.task is None or old.task.done():
                await old.close()
                del self.shards[addr]
                self._leaving.clear()  # (a new connection starts with nothing subscribed)
                for ch, where in list(self.where.items()):
                    if where is old:
                        del self.where[ch]
                if addr in wanted:
                    wanted[addr] = [ch for ch in self.channels if self._node_of(ch) == addr]
        failed: list[Addr] = []
        for addr, chans in wanted.items():
            shard = self.shards.get(addr)
            try:
                if shard is None:
                    shard = _Shard(self, addr, control=False)
                    await shard.open(chans)
                    self.shards[addr] = shard
                else:
                    await shard.send(chans)
            except Exception as exc:  # that primary is down (a failover under way): retry
                log.debug("hub: cluster node %s:%s not subscribed: %r", *addr, exc)
                failed.append(addr)
        if self.ctl is None or self.ctl.task is None or self.ctl.task.done():
            await self._open_control()
        if failed:
            raise ConnectionError(f"{len(failed)} shard(s) not reachable yet")

    async def _open_control(self) -> None:
        """The control channel: classic pub/sub, on any live node (the cluster broadcasts it)."""
        if self.ctl is not None:
            await self.ctl.close()
            self.ctl = None
        primaries = [a for _, _, a in self.slots]
        for addr in dict.fromkeys([*primaries, *self.known]):
            ctl = _Shard(self, addr, control=True)
            try:
                await ctl.open([])
                await asyncio.wait_for(ctl.ready.wait(), SUBSCRIBE_TIMEOUT)
            except Exception:
                await ctl.close()
                continue
            self.ctl = ctl
            return
        raise ConnectionError("no cluster node took the control subscription")

    async def _planner(self) -> None:
        backoff = 0.05
        while not self._stopping:
            await self._replan.wait()
            self._replan.clear()
            try:
                await self._apply()
                await self._settle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("hub: cluster pub/sub plan failed: %r", exc)
                self._connected.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                self._replan.set()
                continue
            backoff = 0.05
            was = self._connected.is_set()
            self._connected.set()
            if not self._first and not was:
                log.warning("hub: cluster pub/sub reconnected (%d channels)", len(self.channels))
            if not self._first and (not was or self._missing_since_replan):
                if self.on_reconnect_metric is not None:
                    self.on_reconnect_metric()
                asyncio.get_running_loop().create_task(self.on_reconnect())
            self._first = False

    async def _settle(self) -> None:
        """Wait (bounded) until every wanted channel is confirmed; note whether any was not
        subscribed for a while (then events may have been missed: the hub repairs)."""
        self._missing_since_replan = any(ch not in self.where for ch in self.channels)
        deadline = asyncio.get_running_loop().time() + SUBSCRIBE_TIMEOUT
        while any(ch not in self.where for ch in self.channels):
            if self._replan.is_set() or asyncio.get_running_loop().time() > deadline:
                raise ConnectionError("channels not confirmed yet")
            await asyncio.sleep(0.02)

    _missing_since_replan = False
