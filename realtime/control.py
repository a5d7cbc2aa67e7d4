"""The one control channel between nodes: a closed msgspec union, JSON on `HUB_CONTROL`.

Every node's broker subscribes to it with the room channels (one Redis connection, so a
control message published before a room event reaches each node before that event).
`domain.accounts.revocation` publishes `Revoke` as plain JSON with the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from redis.asyncio import Redis

from domain.ids import Id
from domain.keys import HUB_CONTROL
from realtime.broker import CONTROL_MARK
from realtime.publisher import publish_plain
from realtime.rooms.base import RoomEvent

log = logging.getLogger("readalong.hub")


class KickEvent(msgspec.Struct):
    """The event an evicted socket gets before it is unsubscribed."""

    event: str
    data: dict[str, Any] = {}


class Evict(msgspec.Struct, tag="evict", tag_field="type"):
    """Send `user_id`'s sockets in `room` the event, then unsubscribe them (sockets stay open)."""

    room: str
    user_id: Id
    event: KickEvent | None = None


class Revoke(msgspec.Struct, tag="revoke", tag_field="type"):
    """Close `user_id`'s sockets (of one refresh `family`, or all) with 4003."""

    user_id: Id
    family: str | None = None


class Reshield(msgspec.Struct, tag="reshield", tag_field="type"):
    """A room's shield default changed: its kind re-reads the viewer state of its local readers."""

    room: str


class ReaderChanged(msgspec.Struct, tag="reader_changed", tag_field="type", omit_defaults=True):
    """One reader's viewer state in a room changed: apply it on every connection of theirs."""

    room: str
    user_id: Id
    origin: str  # the node that applied it already
    progress: float | UnsetType | None = UNSET
    shield: bool | UnsetType = UNSET
    hidden_authors: list[int] | UnsetType = UNSET

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.progress is not UNSET:
            out["progress"] = self.progress
        if self.shield is not UNSET:
            out["shield"] = self.shield
        if self.hidden_authors is not UNSET:
            out["hidden_authors"] = frozenset(self.hidden_authors)
        return out


class ReaderEvents(msgspec.Struct, tag="reader_events", tag_field="type"):
    """Send these events (full variant, filters apply) to every connection of one reader."""

    room: str
    user_id: Id
    origin: str
    events: list[RoomEvent]


Control = Evict | Revoke | Reshield | ReaderChanged | ReaderEvents
CONTROLS: tuple[type[msgspec.Struct], ...] = (Evict, Revoke, Reshield, ReaderChanged,
                                               ReaderEvents)

_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Control)


def encode(msg: Control) -> bytes:
    return _encode(msg)


def decode(data: bytes) -> Control | None:
    """The control message in `data`, or None (logged) when it is not one we know."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("hub: ignoring a control message: %s", exc)
        return None


async def publish(redis: Redis, msg: Control) -> None:
    """Tell every node (this one too). A message about one room goes on that room's channel
    (to the nodes with members there, in order with the room's events: a cluster keeps no
    order between channels); the rest on the control channel."""
    room = getattr(msg, "room", None)
    if room is None:
        await redis.publish(HUB_CONTROL, encode(msg))
    else:
        await publish_plain(redis, room, CONTROL_MARK + encode(msg))
