"""Client -> server frames: a closed union of tagged msgspec Structs (tag field `type`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

CommandId = Annotated[str, msgspec.Meta(max_length=64, description="client-chosen id, echoed")]
RoomName = Annotated[str, msgspec.Meta(max_length=160, description="`<kind>:<id>`")]


class Since(msgspec.Struct, forbid_unknown_fields=True):
    """The last event a client saw in a room (from an `event` frame or a `subscribe` ack)."""

    epoch: Annotated[str, msgspec.Meta(max_length=64)]
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class Auth(msgspec.Struct, tag="auth", tag_field="type"):
    """Authenticate (first frame) or re-authenticate (before the token expires)."""

    id: CommandId
    token: Annotated[str, msgspec.Meta(max_length=4096)]


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="type"):
    """Join a room; with `since`, first receive the events missed after that offset."""

    id: CommandId
    room: RoomName
    since: Since | None = None


class Unsubscribe(msgspec.Struct, tag="unsubscribe", tag_field="type"):
    """Leave a room."""

    id: CommandId
    room: RoomName


class Publish(msgspec.Struct, tag="publish", tag_field="type"):
    """Publish into a room that accepts it; `data` is the room kind's payload."""

    id: CommandId
    room: RoomName
    data: dict[str, Any]


class PresenceUpdate(msgspec.Struct, tag="presence", tag_field="type"):
    """Replace this user's presence metadata in a room (e.g. position, active/idle)."""

    id: CommandId
    room: RoomName
    meta: dict[str, Any]


class Ping(msgspec.Struct, tag="ping", tag_field="type"):
    """Application-level ping, answered by `ack`."""

    id: CommandId


Command = Auth | Subscribe | Unsubscribe | Publish | PresenceUpdate | Ping
COMMANDS: tuple[type[msgspec.Struct], ...] = (Auth, Subscribe, Unsubscribe, Publish,
                                               PresenceUpdate, Ping)


class IdOnly(msgspec.Struct):
    """Used to recover the command id from a frame that failed to decode."""

    id: Any = None
