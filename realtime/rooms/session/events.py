"""Events a session room builds itself for one reader (the discussion events it publishes are
`domain.discussion.events.SessionWireEvent`, through `commit.deliver`)."""

from __future__ import annotations

from typing import Any

from domain.discussion.events import Unlocked
from realtime.rooms.base import RoomEvent
from realtime.rooms.discussion import room_event


def unlocked_event(item: Any) -> RoomEvent:
    """The full variant of something a reader just read past (pushed to that reader only)."""
    return room_event(Unlocked(item))

