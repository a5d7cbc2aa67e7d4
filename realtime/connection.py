"""One WebSocket connection: who it is, its subscriptions, limits, timers and its transport.

Bytes go out through a `realtime.transport` (uvicorn's fast path or the ASGI queue); when a
socket's outbound buffer passes its bound, the node's overflow policy decides (README:
`READALONG_WS_OVERFLOW`, `close` -> 4013 by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from realtime.protocol import CLOSE_REASONS, CODECS, Codec, frame
from realtime.ratelimit import COMMAND_LIMITS, Limits
from realtime.rooms.base import ConnectionInfo
from realtime.transport import Transport, attach

if TYPE_CHECKING:
    from domain.accounts.tokens import Principal
    from realtime.command_queue import CommandQueue
    from realtime.subscriptions import Sub


class Owner(Protocol):
    """What a connection needs from its node (implemented by `realtime.node.Hub`)."""

    command_limits: dict[str, tuple[float, float]]
    drop_on_overflow: bool

    def slow_consumer(self, conn: Connection) -> None: ...


class Connection:
    """A live socket after the handshake. `write(frame_bytes)` never blocks."""

    __slots__ = ("__weakref__", "closed", "codec", "commands", "conn_id", "fmt", "info", "limits",
                 "opcode", "owner", "principal", "subs", "timer_set", "transport", "unnamed",
                 "write")

    def __init__(self, hub: Owner | Any, conn_id: str, fmt: int, send: Callable[..., Any],
                 queue_bytes: int, queue_frames: int, grace: float) -> None:
        self.owner: Owner = hub
        self.conn_id = conn_id
        self.codec: Codec = CODECS[fmt]
        self.fmt = fmt
        self.opcode = self.codec.opcode
        self.principal: Principal | None = None
        self.info: ConnectionInfo | None = None
        self.unnamed = False  # `info` shows "user <id>" until a room that shows names needs it
        self.subs: dict[str, Sub] = {}
        self.closed = False
        self.limits = Limits(getattr(hub, "command_limits", COMMAND_LIMITS))
        # the node's expiry-wheel bucket this socket waits in (reauth notice or expiry close):
        # one shared timer for every socket, none per socket (`realtime.auth.ExpiryWheel`)
        self.timer_set: set[Connection] | None = None
        # the commands read and not answered yet, while there are any (`realtime.command_queue`;
        # an idle socket holds none)
        self.commands: CommandQueue | None = None
        self.transport: Transport = attach(
            send, binary=self.codec.binary, queue_bytes=queue_bytes, queue_frames=queue_frames,
            grace=grace, on_overflow=self._overflow,
            drop=bool(getattr(hub, "drop_on_overflow", False)))
        self.write: Callable[[bytes], None] = self.transport.write

    def _overflow(self) -> None:
        self.owner.slow_consumer(self)

    @property
    def user_id(self) -> int | None:
        return self.info.user_id if self.info is not None else None

    def send(self, obj: Any) -> None:
        """Encode one server frame (a Struct from realtime.events) and write it."""
        self.write(frame(self.opcode, self.codec.encode(obj)))

    @property
    def buffered(self) -> int:
        return self.transport.buffered

    # -- timers ------------------------------------------------------------------------------
    def cancel_timers(self) -> None:
        """Leave the expiry wheel (no reauth notice, no expiry close)."""
        bucket, self.timer_set = self.timer_set, None
        if bucket is not None:
            bucket.discard(self)

    # -- closing -----------------------------------------------------------------------------
    def close(self, code: int, reason: str | None = None) -> None:
        """Send a close frame now (it queues behind what is buffered) and stop writing."""
        if self.closed:
            return
        self.closed = True
        self.cancel_timers()
        self.transport.close(code, (reason if reason is not None
                                    else CLOSE_REASONS.get(code, ""))[:120])
