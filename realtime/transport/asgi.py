"""The generic transport: a bounded deque drained through the ASGI `send` by one writer task."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from typing import Any


class AsgiTransport:
    """Works under any ASGI server; over `limit` queued frames the new frame is not queued."""

    __slots__ = ("_send", "binary", "closed", "grace", "limit", "on_overflow", "queue", "wake",
                 "writer")

    def __init__(self, send: Callable[..., Any], binary: bool, limit: int, grace: float,
                 on_overflow: Callable[[], None]) -> None:
        self._send = send
        self.binary = binary
        self.limit = limit
        self.grace = grace
        self.on_overflow = on_overflow
        self.closed = False
        self.queue: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.limit:
            self.on_overflow()
            return
        self.queue.append(data)
        self.wake.set()
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._drain())

    @property
    def buffered(self) -> int:
        return len(self.queue)

    async def _drain(self) -> None:
        queue, wake = self.queue, self.wake
        try:
            while True:
                while queue:
                    data = queue.popleft()
                    n = data[1] & 0x7F  # strip our own frame header: ASGI frames for us
                    payload = data[2 if n < 126 else 4 if n == 126 else 10:]
                    if self.binary:
                        await self._send({"type": "websocket.send", "bytes": payload})
                    else:
                        await self._send({"type": "websocket.send", "text": payload.decode()})
                if self.closed:
                    return
                wake.clear()
                await wake.wait()
        except Exception:
            self.closed = True

    def close(self, code: int, reason: str) -> None:
        self.closed = True
        self.queue.clear()
        self.wake.set()
        asyncio.get_running_loop().create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already gone
            await asyncio.wait_for(self._send({"type": "websocket.close", "code": code,
                                               "reason": reason}), self.grace)
