"""The node's one Redis pub/sub connection: room channels + the control channel, with reconnects.

The hub reference-counts rooms and asks for a channel once per room; `subscribe()` returns only
when Redis has confirmed it, so a history read that follows cannot miss an event. When the
connection drops (Redis restarted), the reader reconnects with backoff, resubscribes every
channel and tells the hub (`on_reconnect`) so it can repair presence and recover missed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis

from realtime.connection_redis import TURNS

log = logging.getLogger("readalong.hub")

SUBSCRIBE_TIMEOUT = 5.0
CHUNK = 500
# A room channel message starting with this byte is a control message about that room (sent on
# the room's channel so it keeps its order with the room's events, in cluster mode too).
CONTROL_MARK = b"!"


class BrokerUnavailable(RuntimeError):
    """Redis pub/sub is not reachable right now."""


class Broker:
    """Pub/sub reader. `on_message(channel, data)` is called synchronously for every message."""

    def __init__(self, redis_url: str, control: str,
                 on_message: Callable[[bytes, bytes], None],
                 on_control: Callable[[bytes], None],
                 on_reconnect: Callable[[], Coroutine[Any, Any, None]],
                 on_reconnect_metric: Callable[[], None] | None = None,
                 name: str = "readalong-hub") -> None:
        self.name = name  # CLIENT SETNAME, so operators (and tests) can find a node's socket
        self.redis_url = redis_url
        self.control = control
        self._control_b = control.encode()
        self.on_message = on_message
        self.on_control = on_control
        self.on_reconnect = on_reconnect
        self.on_reconnect_metric = on_reconnect_metric
        self.channels: set[str] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._client: Redis | None = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._batch: list[str] = []
        self._batch_futs: list[asyncio.Future[None]] = []
        self._batch_task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._client = Redis.from_url(self.redis_url, decode_responses=False,
                                      socket_connect_timeout=2, client_name=self.name)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hub-broker")
        try:
            await asyncio.wait_for(self._connected.wait(), 10)
        except TimeoutError:
            log.warning("hub: Redis pub/sub not connected yet; retrying in the background")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_pubsub()
        if self._client is not None:
            await self._client.aclose()

    async def _close_pubsub(self) -> None:
        ps, self._pubsub = self._pubsub, None
        if ps is not None:
            with contextlib.suppress(Exception):  # it is broken anyway
                await ps.aclose()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def subscribe(self, channel: str) -> None:
        """Subscribe the node to `channel`; returns once Redis confirmed (or raises).

        Channels asked for in the same event-loop turn go out as one SUBSCRIBE (reconnect
        storms subscribe thousands of `user:` rooms at once)."""
        await self.subscribing(channel)

    def subscribing(self, channel: str) -> asyncio.Future[None]:
        """`subscribe` as a future (no task of its own per room: a connecting socket's `user:`
        room is a new room every time): done once Redis confirmed, or failed with
        BrokerUnavailable after SUBSCRIBE_TIMEOUT; cancelling it only drops this waiter."""
        self.channels.add(channel)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(channel.encode(), []).append(fut)
        self._batch.append(channel)
        self._batch_futs.append(fut)
        if self._batch_task is None:
            self._batch_task = loop.create_task(self._send_batch())
        # (no `wait_for` per call: the batch's one timer fails what still waits after
        # SUBSCRIBE_TIMEOUT)
        return fut

    @staticmethod
    def _expire(futs: list[asyncio.Future[None]]) -> None:
        for fut in futs:
            if not fut.done():
                fut.set_exception(BrokerUnavailable("realtime backend unavailable"))

    async def _send_batch(self) -> None:
        for _ in range(TURNS):  # this loop turn's sockets and the next few turns' add theirs
            await asyncio.sleep(0)
        batch, self._batch = self._batch, []
        futs, self._batch_futs = self._batch_futs, []
        self._batch_task = None
        asyncio.get_running_loop().call_later(SUBSCRIBE_TIMEOUT, self._expire, futs)
        ps = self._pubsub
        wanted = [c for c in dict.fromkeys(batch) if c in self.channels]
        if ps is None or not self._connected.is_set() or not wanted:
            return  # the reader subscribes everything in `channels` when it (re)connects
        try:
            for i in range(0, len(wanted), CHUNK):
                await ps.subscribe(*wanted[i:i + CHUNK])
        except Exception:
            log.debug("hub: subscribe of %d channel(s) failed; will resubscribe", len(wanted))

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        ps = self._pubsub
        if ps is not None and self._connected.is_set():
            with contextlib.suppress(Exception):  # a reconnect drops it anyway
                await ps.unsubscribe(channel)

    async def ping(self) -> None:
        """Keep the connection honest (a half-open socket raises here and triggers a reconnect)."""
        ps = self._pubsub
        if ps is not None and self._connected.is_set():
            await ps.ping()

    def _resolve(self, channel: bytes) -> None:
        for fut in self._waiters.pop(channel, ()):
            if not fut.done():
                fut.set_result(None)

    async def _run(self) -> None:
        backoff = 0.05
        first = True
        assert self._client is not None
        while not self._stopping:
            try:
                ps = self._pubsub = self._client.pubsub()  # (closed by the except below)
                channels = sorted(self.channels)
                # bounded: a connect that hangs is abandoned and retried
                await asyncio.wait_for(self._resubscribe(ps, channels), SUBSCRIBE_TIMEOUT)
                self._pubsub = ps
                self._connected.set()
                if not first:
                    log.warning("hub: Redis pub/sub reconnected (%d channels)", len(channels))
                    if self.on_reconnect_metric is not None:
                        self.on_reconnect_metric()
                    asyncio.get_running_loop().create_task(self.on_reconnect())
                first = False
                backoff = 0.05
                await self._read(ps)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                if self._connected.is_set():
                    log.warning("hub: Redis pub/sub lost (%s); reconnecting", exc)
                else:
                    log.debug("hub: Redis pub/sub connect failed: %r", exc)
                self._connected.clear()
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _resubscribe(self, ps: Any, channels: list[str]) -> None:
        await ps.subscribe(self.control)
        for i in range(0, len(channels), CHUNK):
            await ps.subscribe(*channels[i:i + CHUNK])

    async def _read(self, ps: Any) -> None:
        on_message = self.on_message
        control = self._control_b
        while True:
            msg = await ps.get_message(timeout=None)
            if msg is None:
                continue
            kind = msg["type"]
            if kind == "message":
                channel = msg["channel"]
                data = msg["data"]
                if channel == control or data[:1] == CONTROL_MARK:
                    try:
                        self.on_control(data[1:] if data[:1] == CONTROL_MARK else data)
                    except Exception:
                        log.exception("hub: bad control message")
                    continue
                try:
                    on_message(channel, data)
                except Exception:
                    log.exception("hub: fan-out failed")
            elif kind == "subscribe":
                self._resolve(msg["channel"])
