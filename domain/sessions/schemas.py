"""msgspec Structs of the co-reading context: what REST and the room take in and give out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

# the content structs belong to the shielded discussion; re-exported for the session context
from domain.discussion.schemas import (
    EMOJI,
    MAX_MESSAGE_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUOTE_CHARS,
    AnnotationCreate,
    AnnotationOut,
    AnnotationPage,
    LocatorSelector,
    MessageOut,
    MessagePage,
    Position,
    ProgressionSelector,
    ReactionCreate,
    ReactionOut,
    ReactionPage,
    Selector,
    TextQuoteSelector,
)
from domain.ids import Id

__all__ = [  # re-exported (defined in domain.discussion)
    "EMOJI", "MAX_MESSAGE_CHARS", "MAX_NOTE_CHARS", "MAX_QUOTE_CHARS", "AnnotationCreate",
    "AnnotationOut", "AnnotationPage", "LocatorSelector", "MessageOut", "MessagePage", "Position",
    "ProgressionSelector", "ReactionCreate", "ReactionOut", "ReactionPage", "Selector",
    "TextQuoteSelector"
]

Progression = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Locator = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    book_id: Id
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    mode: Literal["follow", "free"] = "free"
    visibility: Literal["public", "followers", "invite"] = "public"
    scheduled_at: datetime | None = None
    capacity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    shield_default: bool = True


class SessionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Host settings that may change while the session runs."""

    chat_locked: bool | None = None
    shield_default: bool | None = None
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120)] | None = None


class SessionOut(msgspec.Struct):
    id: int
    book_id: int
    title: str
    host_id: int
    mode: str
    visibility: str
    status: str
    capacity: int
    chat_locked: bool
    shield_default: bool
    scheduled_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    room: str
    participants: int = 0
    invite_code: str | None = None  # only shown to the host and moderators
    host_position: Position | None = None


class SessionPage(msgspec.Struct):
    items: list[SessionOut]
    next_cursor: str | None = None


class ParticipantOut(msgspec.Struct):
    user_id: int
    display_name: str
    joined_at: datetime
    seconds_present: int
    present: bool
    progression: float | None
    furthest: float | None
    start_progression: float | None
    chapter: int | None
    muted: bool
    kicked: bool
    seconds_speaking: int = 0  # unmuted on the session's audio stage (domain.audio)


class SessionRecord(msgspec.Struct):
    """What an (ended) session leaves behind: attendance, duration, progress read together."""

    session: SessionOut
    duration_seconds: int | None
    attendance: list[ParticipantOut]
    progress_read_together: float  # sum over readers of (furthest - start progression)
    pages_read_together: int | None  # the same in pages, when the book has a page count
    messages: int
    reactions: int
    annotations: int


class InvitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Whom the host invites: user ids and/or handles (at most 50 in all)."""

    user_ids: list[Id] = msgspec.field(default_factory=list)
    handles: list[str] = msgspec.field(default_factory=list)


class InvitationsOut(msgspec.Struct):
    session_id: int
    invited: list[int]  # everyone now invited by this request (newly or before)
    notified: list[int]  # those newly invited (each got a `session_invitation` notification)
    invite_code: str | None
    link: str
