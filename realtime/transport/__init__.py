"""How bytes reach a socket: uvicorn's fast path or the generic ASGI queue, behind one interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from realtime.transport.asgi import AsgiTransport
from realtime.transport.direct import DirectTransport, direct_protocol

OVERFLOW_POLICIES = ("close", "drop")


class Transport(Protocol):
    """One socket's outbound side. `write` never blocks; over the limit it calls `on_overflow`."""

    closed: bool

    def write(self, data: bytes) -> None: ...

    @property
    def buffered(self) -> int: ...

    def close(self, code: int, reason: str) -> None: ...


def attach(send: Callable[..., Any], *, binary: bool, queue_bytes: int, queue_frames: int,
           grace: float, on_overflow: Callable[[], None], drop: bool = False) -> Transport:
    """The fast path when `send` belongs to uvicorn's sans-I/O protocol, else the ASGI queue."""
    proto = direct_protocol(send)
    if proto is not None:
        return DirectTransport(proto, queue_bytes, grace, on_overflow, drop)
    return AsgiTransport(send, binary, queue_frames, grace, on_overflow)


__all__ = ["OVERFLOW_POLICIES", "AsgiTransport", "DirectTransport", "Transport", "attach"]
