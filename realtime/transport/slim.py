"""Lighter stand-ins for the per-socket objects uvicorn keeps for a socket's whole life.

An idle authenticated socket is the hub's biggest memory cost (README "Inside the hub": the
per-socket objects). uvicorn's WebSocket protocol keeps, per socket, an `asyncio.Queue` for
inbound ASGI messages (four deques of 64 slots and an Event: about 3.5 KiB while empty), an
`asyncio.Event` for write flow control (one more deque) and, in the handshake parser's suspended
generator, the whole upgrade request (headers, with the bearer subprotocol entry). After the
handshake `slim()` swaps the first two for single-consumer equivalents that allocate only while
something waits, and restarts the frame parser at a frame boundary so the request can go.
Each step checks what it replaces and leaves anything unexpected alone (the pinned uvicorn and
websockets versions are checked by `tests/test_hub_transport.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

_WSProtocol: Any
_Reader: Any
try:
    from websockets.protocol import Protocol as _WSProtocol
    from websockets.streams import StreamReader as _Reader
except ImportError:  # pragma: no cover
    _WSProtocol = _Reader = None


class InboundQueue:
    """The ASGI receive queue of one socket: one consumer (the endpoint's read loop), FIFO;
    what uvicorn uses of `asyncio.Queue` (`put_nowait`, `get`, `empty`, `qsize`)."""

    __slots__ = ("items", "waiter")

    def __init__(self, items: list[Any] | None = None) -> None:
        self.items: list[Any] | None = items or None
        self.waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self.items is None:
            self.items = [item]
        else:
            self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:
        return len(self.items) if self.items else 0

    async def get(self) -> Any:
        while not self.items:
            waiter = self.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self.waiter = None
        items = self.items
        item = items.pop(0)
        if not items:
            self.items = None
        return item


class Writable:
    """uvicorn's write flow-control flag (`asyncio.Event` API: set, clear, is_set, wait)."""

    __slots__ = ("flag", "waiters")

    def __init__(self, flag: bool) -> None:
        self.flag = flag
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True
        waiters, self.waiters = self.waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    def clear(self) -> None:
        self.flag = False

    async def wait(self) -> bool:
        if self.flag:
            return True
        fut = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(fut)
        await fut
        return True


def _at_frame_boundary(parser: Any) -> bool:
    """True when websockets' parser generator waits in `StreamReader.at_eof` (nothing buffered,
    no frame half-read), i.e. a fresh `Protocol.parse` would be in the very same state."""
    gen = parser
    for _ in range(4):
        inner = getattr(gen, "gi_yieldfrom", None)
        if inner is None:
            break
        gen = inner
    return getattr(getattr(gen, "gi_code", None), "co_name", None) == "at_eof" \
        and getattr(gen, "gi_frame", None) is not None


def slim(proto: Any) -> int:
    """Swap uvicorn's per-socket queue, write flag and handshake parser for lighter ones
    (after the handshake); returns how many of the three were swapped."""
    done = 0
    queue = getattr(proto, "queue", None)
    if type(queue) is asyncio.Queue:
        pending: list[Any] = []
        while not queue.empty():
            pending.append(queue.get_nowait())
        proto.queue = InboundQueue(pending)
        done += 1
    writable = getattr(proto, "writable", None)
    if type(writable) is asyncio.Event and not getattr(writable, "_waiters", None):
        proto.writable = Writable(writable.is_set())
        done += 1
    conn: Any = getattr(proto, "conn", None)
    parser = getattr(conn, "parser", None)
    if (_WSProtocol is not None and parser is not None
            and getattr(getattr(conn, "state", None), "name", None) == "OPEN"
            and type(conn).parse is not _WSProtocol.parse
            and getattr(parser, "gi_code", None) is not _WSProtocol.parse.__code__
            and isinstance(getattr(conn, "reader", None), _Reader)
            and not conn.reader.buffer and _at_frame_boundary(parser)):
        fresh = _WSProtocol.parse(conn)
        next(fresh)  # runs to `at_eof`'s first yield: the buffer is empty
        conn.parser = fresh
        done += 1
    return done
