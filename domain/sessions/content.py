"""The session's view of the shielded discussion (`domain.discussion`): the two reads the room's
presence path needs, by session id."""

from __future__ import annotations

from typing import Any

from domain.db import Database
from domain.discussion import listings
from domain.discussion.spoilers import ViewerState
from domain.sessions.venue import VENUE


async def viewer_state(db: Database, session_id: int, user_id: int | None) -> ViewerState:
    """A reader's furthest progression, shield and hidden authors in a session."""
    return await VENUE.viewer(db, session_id, user_id)


async def unlocked_between(db: Database, session_id: int, state: ViewerState, old: float,
                           new: float, *, known_gated: bool = False,
                           kinds: str = "mra") -> list[Any]:
    """What a reader unlocks in a session by moving from `old` to `new` (full variants)."""
    return await listings.unlocked_between(db, VENUE.kind, session_id, state, old, new,
                                           known_gated=known_gated, kinds=kinds)
