"""The `session:<id>` room kind: co-reading rooms with positions, chat and the spoiler shield.

`room.py` the room kind (admission, commands, positions, unlocks, shield changes),
`commands.py` what clients send into the room, `events.py` the events the room builds itself.
Chat, reactions and annotations are the shielded discussion's (`domain.discussion`, run through
`realtime.rooms.discussion_commands`)."""

from realtime.rooms.session.commands import PresenceMeta, SessionCommand, Shield
from realtime.rooms.session.events import unlocked_event
from realtime.rooms.session.room import SessionRoom, session_id_of

__all__ = ["PresenceMeta", "SessionCommand", "SessionRoom", "Shield", "session_id_of",
           "unlocked_event"]
