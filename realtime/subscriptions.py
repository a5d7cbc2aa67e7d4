"""Subscribe, replay and leave as a state machine with no I/O: the hub feeds it, tests drive it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import msgspec

from domain.errors import DomainError, Invalid, NotFound
from realtime.outgoing import Outgoing
from realtime.rooms.base import ConnectionInfo, RoomKind, Viewer

ROOM_RE = re.compile(r"^([a-z][a-z0-9_]{0,31}):([A-Za-z0-9_.:\-]{1,128})$")
PREFIX_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_SUBSCRIPTIONS = 200
VIEWER_FIELDS = ("progress", "shield", "hidden_authors")

# The states of one subscription.
PENDING = "pending"    # authorised and buffering live events; ack and replay not sent yet
CATCHING = "catching"  # acked and replayed up to the ack's offset; pub/sub may still bring
                       # late live copies of those events (the history read and the room's
                       # channel are two sockets): they are dropped until one past it arrives
LIVE = "live"          # every event goes straight to the connection
CLOSED = "closed"    # left (unsubscribed, evicted, disconnected): events are dropped


class Recipient(Protocol):
    """What a subscription delivers to (a Connection, or a list in unit tests)."""

    fmt: int
    info: ConnectionInfo | None
    write: Callable[[bytes], None]


def is_special(viewer: Viewer) -> bool:
    """True when a viewer may get another variant than the full one (shield, hidden authors)."""
    return bool(viewer.hidden_authors) or viewer.shield


def covered(out: Outgoing, epoch: str | None, offset: int | None) -> bool:
    """True when `out` is at or below a position already delivered (ack or replay)."""
    return (offset is not None and out.offset is not None and out.epoch == epoch
            and out.offset <= offset)


def reached(out: Outgoing, epoch: str | None, offset: int) -> bool:
    """True when the room's channel, bringing `out`, is at or past the position (epoch, offset):
    no later live event can be a copy of one at or below it."""
    return out.offset is not None and (out.epoch != epoch or out.offset >= offset)


def viewer_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The viewer fields among `changes` (`...` means "leave as is"), normalised."""
    allowed = {k: v for k, v in changes.items() if k in VIEWER_FIELDS and v is not ...}
    if "hidden_authors" in allowed:
        allowed["hidden_authors"] = frozenset(allowed["hidden_authors"])
    return allowed


class Sub:
    """One connection's subscription to one room, from `pending` to `live` to `closed`."""

    __slots__ = ("conn", "floor", "joined", "pending", "state", "viewer")

    def __init__(self, conn: Recipient, viewer: Viewer) -> None:
        self.conn = conn
        self.viewer = viewer
        self.state = PENDING
        self.pending: list[Outgoing] | None = []  # live events buffered while PENDING
        self.joined = False  # counted in the room's presence
        self.floor: tuple[str | None, int] | None = None  # the ack's position while CATCHING

    @property
    def live(self) -> bool:
        """Acked: events are delivered (CATCHING only drops copies of what was replayed)."""
        return self.state is LIVE or self.state is CATCHING

    def offer(self, out: Outgoing) -> bool:
        """A live event: True to deliver it now, False when buffered (pending) or dropped."""
        if self.pending is not None:
            self.pending.append(out)
            return False
        if self.state is CATCHING:
            if out.offset is None:  # (presence, live-only events: never a copy, never the
                return True         # position a room without chat would wait for forever)
            assert self.floor is not None
            copy = covered(out, *self.floor)  # a late copy of what the replay or ack covered
            if reached(out, *self.floor):
                self.state, self.floor = LIVE, None  # the channel is at the ack: plain live
            return not copy
        return self.state is LIVE

    def activate(self, epoch: str | None, offset: int | None,
                 replay: Iterable[Outgoing] = ()) -> list[Outgoing]:
        """Go live after the ack at (epoch, offset): what to deliver, in order (the replay,
        then the buffered live events the replay and the ack position did not cover)."""
        if self.state != PENDING:
            return []
        pending, self.pending = self.pending or [], None
        if offset is None:
            self.state = LIVE
        else:
            self.state, self.floor = CATCHING, (epoch, offset)
            if any(reached(o, epoch, offset) for o in pending):
                self.state, self.floor = LIVE, None  # the channel got there before the ack
        out = list(replay)
        out.extend(o for o in pending if not covered(o, epoch, offset))
        return out

    def close(self) -> bool:
        """Leave: True the first time (then the caller leaves presence if `joined`)."""
        if self.state == CLOSED:
            return False
        self.state = CLOSED
        self.pending = self.floor = None
        return True

    def change_viewer(self, changes: Mapping[str, Any]) -> int:
        """Apply viewer changes; the change (-1, 0, 1) in the room's count of special viewers."""
        allowed = viewer_changes(changes)
        if not allowed:
            return 0
        before = is_special(self.viewer)
        self.viewer = msgspec.structs.replace(self.viewer, **allowed)
        return int(is_special(self.viewer)) - int(before)

    def matches(self, changes: Mapping[str, Any]) -> bool:
        """True when the viewer already has every one of `changes`."""
        return all(getattr(self.viewer, k) == v for k, v in viewer_changes(changes).items())


def resolve(kinds: Mapping[str, RoomKind], room: str) -> tuple[RoomKind, str]:
    """The room kind and the id of `<kind>:<id>`, or a DomainError naming the field."""
    m = ROOM_RE.match(room)
    if m is None:
        raise Invalid("room must look like <kind>:<id>", code="bad_room", field="room")
    kind = kinds.get(m.group(1))
    if kind is None:
        raise NotFound(f"unknown room kind {m.group(1)!r}", code="unknown_room", field="room")
    return kind, m.group(2)


def admit(subs: Mapping[str, Sub], room: str, limit: int = MAX_SUBSCRIPTIONS) -> None:
    """Refuse a second subscription to one room, or one past the per-connection limit."""
    if room in subs:
        raise DomainError("already subscribed to this room", code="already_subscribed",
                          field="room")
    if len(subs) >= limit:
        raise DomainError("too many subscriptions on one connection",
                          code="too_many_subscriptions")


def check_leave(subs: Mapping[str, Sub], room: str) -> None:
    """Refuse to unsubscribe from a room the connection is not in."""
    if room not in subs:
        raise DomainError("not subscribed to this room", code="not_subscribed", field="room")
