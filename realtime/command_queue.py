"""One socket's commands, run strictly in order by one task while the socket has any.

The read loop (`realtime.endpoint`) only decodes, rate-limits and queues, then goes straight back
to `receive()`: uvicorn stops reading a socket after each message until the app asks for the
next one, so a loop that awaited each command inline read nothing (pongs included) while one
command waited on Redis or PostgreSQL, and keepalive closed the socket (1011). A socket with
nothing to run holds no task and no queue: the first command that needs work makes a
`CommandQueue` (a deque and a task), which goes away when its last command is answered.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Connection(Protocol):
    """What a command queue needs of its socket (`realtime.connection.Connection`; a protocol
    here, since the connection holds its queue)."""

    closed: bool
    commands: CommandQueue | None


Execute = Callable[[Any, Any], Awaitable[None]]

# `retry_after` of an `overloaded` answer: how long the command at the head has been running,
# within these bounds (seconds)
MIN_RETRY_AFTER = 0.5
MAX_RETRY_AFTER = 5.0


class CommandQueue:
    """The commands of one busy socket not answered yet, in arrival order (the head is the one
    running), and the task that runs them one at a time. `conn.commands` points here while
    any is left."""

    __slots__ = ("conn", "execute", "items", "started", "task")

    def __init__(self, conn: Connection, execute: Execute, first: Any) -> None:
        self.conn = conn
        self.execute = execute
        self.items: collections.deque[Any] = collections.deque((first,))
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        self.task: asyncio.Task[None] = loop.create_task(self._run())

    @property
    def pending(self) -> int:
        """Commands queued or running, not answered yet."""
        return len(self.items)

    def retry_after(self) -> float:
        """Seconds to wait before sending more: how long the running command has taken so far,
        at least MIN_RETRY_AFTER and at most MAX_RETRY_AFTER."""
        waited = asyncio.get_running_loop().time() - self.started
        return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, waited))

    async def _run(self) -> None:
        conn, items = self.conn, self.items
        loop = asyncio.get_running_loop()
        try:
            while items and not conn.closed:  # (a socket the server closed runs no more)
                self.started = loop.time()
                await self.execute(conn, items[0])
                items.popleft()
        finally:
            items.clear()
            if conn.commands is self:
                conn.commands = None

    async def finish(self) -> None:
        """Wait until every queued command has run (the socket is going: its commands were
        read before it went, as the inline loop ran them); cancelled, cancel them too."""
        try:
            await asyncio.shield(self.task)
        except asyncio.CancelledError:
            self.task.cancel()
            raise


def submit(conn: Connection, cmd: Any, execute: Execute, limit: int) -> float | None:
    """Queue `cmd` behind the socket's other commands (starting their task if it has none);
    None, or the `retry_after` when `limit` commands are already pending (then not queued)."""
    queue = conn.commands
    if queue is None:
        conn.commands = CommandQueue(conn, execute, cmd)
        return None
    if len(queue.items) >= limit:
        return queue.retry_after()
    queue.items.append(cmd)
    return None
