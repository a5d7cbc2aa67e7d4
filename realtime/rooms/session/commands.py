"""What clients send into a session room: the discussion commands plus the session's `shield`
(`publish.data`, tag field `type`), and the presence meta (a reader's position)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.discussion.schemas import Position
from realtime.rooms import discussion_commands
from realtime.rooms.discussion_commands import DiscussionCommand


class Shield(msgspec.Struct, tag="shield", forbid_unknown_fields=True):
    """Turn my own shield on/off (null: back to the room default)."""

    enabled: bool | None


SessionCommand = DiscussionCommand | Shield


class PresenceMeta(msgspec.Struct, forbid_unknown_fields=True):
    """What a reader puts in presence: their position and whether they are active."""

    position: Position | None = None
    state: Literal["active", "idle"] = "active"


def decode(data: dict[str, Any], kind: Any, what: str) -> Any:
    """`data` as a session command or presence meta, or `Invalid` naming the field."""
    return discussion_commands.decode(data, kind, what)
