"""uvicorn's fast path: pre-framed bytes written straight to the transport of its sans-I/O protocol.

This reaches into uvicorn internals (the attributes in `REQUIRED`); pyproject pins uvicorn's
version and `tests/test_hub_transport.py` fails loudly when they change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from realtime.transport.slim import slim

PROTOCOL: Any
OPEN: Any
try:  # uvicorn's default WebSocket protocol (websockets' sans-I/O core)
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol as PROTOCOL,
    )
    from websockets.protocol import State

    OPEN = State.OPEN
except ImportError:  # pragma: no cover - then every socket takes the ASGI queue
    PROTOCOL = None
    OPEN = object()

# uvicorn's class and ours (`realtime.transport.upgrade`: the same, entered with a parsed request)
_PROTOCOLS: tuple[type, ...] = ()
if PROTOCOL is not None:
    try:
        from realtime.transport.upgrade import HubWebSocketProtocol
    except ImportError:  # pragma: no cover - no httptools: uvicorn's class only
        _PROTOCOLS = (PROTOCOL,)
    else:
        _PROTOCOLS = (PROTOCOL, HubWebSocketProtocol)

# What the fast path reads or sets on uvicorn's protocol object.
REQUIRED = ("conn", "transport", "queue", "close_sent", "handshake_complete", "request",
            "response", "read_paused", "close_timeout", "close_timer")


def direct_protocol(send: Callable[..., Any]) -> Any:
    """uvicorn's WebSocketsSansIOProtocol behind an ASGI `send`, if that is what we got."""
    proto = getattr(send, "__self__", None)
    if proto is None or PROTOCOL is None or type(proto) not in _PROTOCOLS:
        return None
    if not all(hasattr(proto, a) for a in REQUIRED):
        return None
    return proto


class DirectTransport:
    """The transport's own write buffer is the bounded outbound queue (`limit` bytes)."""

    __slots__ = ("closed", "conn", "drop", "grace", "limit", "on_overflow", "proto", "transport")

    def __init__(self, proto: Any, limit: int, grace: float, on_overflow: Callable[[], None],
                 drop: bool) -> None:
        self.proto = proto
        self.transport = proto.transport
        self.conn = proto.conn
        self.limit = limit
        self.grace = grace
        self.on_overflow = on_overflow
        self.drop = drop
        self.closed = False
        # uvicorn keeps the upgrade request and the 101 response (~4 KB) for the socket's
        # lifetime but never reads them after the handshake (idle sockets are the hub's
        # biggest memory cost): let them go.
        if proto.handshake_complete:
            proto.request = proto.response = None
            slim(proto)

    def write(self, data: bytes) -> None:
        transport = self.transport
        # (uvicorn closes the transport when the peer closes, and sets close_sent when it does)
        if self.closed or self.proto.close_sent or transport.is_closing():
            return
        if self.drop and transport.get_write_buffer_size() > self.limit:
            self.on_overflow()
            return
        transport.write(data)
        if not self.drop and transport.get_write_buffer_size() > self.limit:
            self.on_overflow()

    @property
    def buffered(self) -> int:
        return int(self.transport.get_write_buffer_size())

    def close(self, code: int, reason: str) -> None:
        """What uvicorn does for an ASGI `websocket.close`, minus waiting for the buffer to
        drain (a slow consumer's buffer may never drain); aborted after the grace."""
        self.closed = True
        proto, transport = self.proto, self.transport
        if proto.close_sent or self.conn.state is not OPEN or transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        proto.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        transport.write(b"".join(self.conn.data_to_send()))
        proto.close_sent = True
        if proto.read_paused:
            proto.read_paused = False
            transport.resume_reading()
        close_timeout = float(proto.close_timeout)
        proto.close_timer = loop.call_later(close_timeout, transport.close)
        # a peer that never reads never lets the buffer drain: drop it after a while
        loop.call_later(max(self.grace, close_timeout) + 5.0, self._abort)

    def _abort(self) -> None:
        transport = self.transport
        if not transport.is_closing() or transport.get_write_buffer_size():
            transport.abort()
