"""One WebSocket connection: who it is, its subscriptions, limits, and how bytes reach its socket.

Under uvicorn's default (websockets sans-I/O) protocol the hub writes pre-framed bytes straight
to the transport: the fan-out never awaits a client, the same bytes go to every recipient, and
the transport's buffer is the bounded outbound queue (over `ws_queue_bytes` -> close 4013).
Under any other ASGI server the connection falls back to a bounded deque drained by one writer
task through the ASGI `send` (over `ws_queue_size` frames -> close 4013).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from realtime.protocol import CLOSE_REASONS, CODECS, Codec, frame
from realtime.ratelimit import COMMAND_LIMITS, Limits
from realtime.rooms.base import ConnectionInfo

if TYPE_CHECKING:
    from domain.accounts.tokens import Principal
    from realtime.hub import Sub

log = logging.getLogger("readalong.hub")

try:  # the sans-I/O state enum of the websockets library (uvicorn's default protocol)
    from websockets.protocol import State as _WsState

    _OPEN: Any = _WsState.OPEN
except ImportError:  # pragma: no cover
    _OPEN = object()


def _direct_protocol(send: Callable[..., Any]) -> Any:
    """uvicorn's WebSocketsSansIOProtocol behind an ASGI `send`, if that is what we got."""
    proto = getattr(send, "__self__", None)
    if proto is None or type(proto).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not all(hasattr(proto, a) for a in ("conn", "transport", "queue", "close_sent")):
        return None
    return proto


def _release_handshake(proto: Any) -> None:
    """uvicorn keeps the upgrade request and the 101 response (headers and all, ~4 KB) for the
    socket's lifetime but never reads them after the handshake: let them go (idle sockets are
    the hub's biggest memory cost)."""
    if getattr(proto, "handshake_complete", False):
        for attr in ("request", "response"):
            if getattr(proto, attr, None) is not None:
                setattr(proto, attr, None)


class Connection:
    """A live socket after the handshake. `write(frame_bytes)` never blocks."""

    __slots__ = (
        "__weakref__",
        "_grace",
        "_limit",
        "_proto",
        "_queue",
        "_send",
        "_timers",
        "_transport",
        "_wake",
        "_writer",
        "_ws",
        "closed",
        "codec",
        "conn_id",
        "fmt",
        "hub",
        "info",
        "limits",
        "opcode",
        "principal",
        "subs",
        "write",
    )

    def __init__(self, hub: Any, conn_id: str, fmt: int, send: Callable[..., Any],
                 queue_bytes: int, queue_frames: int, grace: float) -> None:
        self.hub = hub
        self.conn_id = conn_id
        self.codec: Codec = CODECS[fmt]
        self.fmt = fmt
        self.opcode = self.codec.opcode
        self.principal: Principal | None = None
        self.info: ConnectionInfo | None = None
        self.subs: dict[str, Sub] = {}
        self.closed = False
        self.limits = Limits(getattr(hub, "command_limits", COMMAND_LIMITS))
        self._timers: list[asyncio.TimerHandle] = []
        self._grace = grace
        self._send = send
        self._proto = _direct_protocol(send)
        self._queue: collections.deque[bytes] | None = None
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        if self._proto is not None:
            _release_handshake(self._proto)
            self._transport = self._proto.transport
            self._ws = self._proto.conn
            self._limit = queue_bytes
            self.write = self._write_direct
        else:
            self._transport = None
            self._ws = None
            self._limit = queue_frames
            self._queue = collections.deque()
            self._wake = asyncio.Event()
            self.write = self._write_queued

    # -- writing ---------------------------------------------------------------------------
    def _write_direct(self, data: bytes) -> None:
        transport = self._transport
        # (uvicorn closes the transport when the peer closes, and sets close_sent when it does)
        if self.closed or self._proto.close_sent or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._limit:
            self.hub.slow_consumer(self)

    def _write_queued(self, data: bytes) -> None:
        if self.closed:
            return
        queue = self._queue
        assert queue is not None and self._wake is not None
        if len(queue) >= self._limit:
            self.hub.slow_consumer(self)
            return
        queue.append(data)
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        queue, wake = self._queue, self._wake
        assert queue is not None and wake is not None
        text = not self.codec.binary
        try:
            while True:
                while queue:
                    data = queue.popleft()
                    n = data[1] & 0x7F
                    payload = data[2 if n < 126 else 4 if n == 126 else 10:]
                    if text:
                        await self._send({"type": "websocket.send", "text": payload.decode()})
                    else:
                        await self._send({"type": "websocket.send", "bytes": payload})
                if self.closed:
                    return
                wake.clear()
                await wake.wait()
        except Exception:  # noqa: BLE001 - the socket is gone; the read loop cleans up
            self.closed = True

    def send(self, obj: Any) -> None:
        """Encode one server frame (a Struct from realtime.events) and write it."""
        self.write(frame(self.opcode, self.codec.encode(obj)))

    @property
    def buffered(self) -> int:
        if self._transport is not None:
            return int(self._transport.get_write_buffer_size())
        return len(self._queue or ())

    # -- timers ------------------------------------------------------------------------------
    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> None:
        self._timers.append(asyncio.get_running_loop().call_at(when, fn, *args))

    def cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    # -- closing -----------------------------------------------------------------------------
    def close(self, code: int, reason: str | None = None) -> None:
        """Send a close frame now (ahead of nothing: it queues behind what is buffered) and stop
        writing; the transport is aborted if the peer has not finished closing within the grace."""
        if self.closed:
            return
        self.closed = True
        self.cancel_timers()
        reason = (reason if reason is not None else CLOSE_REASONS.get(code, ""))[:120]
        proto = self._proto
        loop = asyncio.get_running_loop()
        if proto is not None:
            if proto.close_sent or self._ws.state is not _OPEN or self._transport.is_closing():
                return
            # What uvicorn does for an ASGI "websocket.close", minus waiting for the buffer to
            # drain (a slow consumer's buffer may never drain).
            proto.queue.put_nowait({"type": "websocket.disconnect", "code": code,
                                    "reason": reason})
            self._ws.send_close(code, reason)
            self._transport.write(b"".join(self._ws.data_to_send()))
            proto.close_sent = True
            if getattr(proto, "read_paused", False):
                proto.read_paused = False
                self._transport.resume_reading()
            close_timeout = float(getattr(proto, "close_timeout", 10.0))
            proto.close_timer = loop.call_later(close_timeout, self._transport.close)
            # a peer that never reads never lets the buffer drain: drop it after a while
            loop.call_later(max(self._grace, close_timeout) + 5.0, self._abort)
        else:
            if self._queue is not None:
                self._queue.clear()
            if self._wake is not None:
                self._wake.set()
            loop.create_task(self._send_close(code, reason))

    def _abort(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() or (
                transport is not None and transport.get_write_buffer_size()):
            transport.abort()

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already gone
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code,
                                               "reason": reason}), self._grace)
