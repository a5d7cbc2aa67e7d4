"""msgspec Structs of the co-reading context: what REST and the room take in and give out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Progression = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Locator = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]

MAX_MESSAGE_CHARS = 2000
MAX_NOTE_CHARS = 4000
MAX_QUOTE_CHARS = 2000
EMOJI = ("👍", "❤️", "😂", "😮", "😢", "😱", "🔥", "🤔", "👏", "💡")


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    book_id: int
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


class Position(msgspec.Struct, forbid_unknown_fields=True):
    """Where a reader is: an opaque client locator, a progression 0..1, and the TOC chapter."""

    progression: float
    locator: str | None = None
    chapter: int | None = None


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


class MessageOut(msgspec.Struct):
    id: int
    session_id: int
    author_id: int
    author_name: str
    gate: float
    chapter: int | None
    locator: str | None
    created_at: datetime
    edited_at: datetime | None = None
    body: str | None = None
    redacted: bool = False


class ReactionOut(msgspec.Struct):
    id: int
    session_id: int
    author_id: int
    author_name: str
    gate: float
    chapter: int | None
    locator: str
    created_at: datetime
    emoji: str | None = None
    count: int | None = None
    redacted: bool = False
    annotation_id: int | None = None  # a reaction to this annotation (its author is notified)


class TextQuoteSelector(msgspec.Struct, tag="TextQuoteSelector", forbid_unknown_fields=True):
    exact: str
    prefix: str = ""
    suffix: str = ""


class ProgressionSelector(msgspec.Struct, tag="ProgressionSelector", forbid_unknown_fields=True):
    """The position range of the highlighted passage (normalised progressions)."""

    start: float
    end: float


class LocatorSelector(msgspec.Struct, tag="LocatorSelector", forbid_unknown_fields=True):
    """The client's own locator of the passage (EPUB CFI, XPointer, page label)."""

    value: str


Selector = TextQuoteSelector | ProgressionSelector | LocatorSelector


class AnnotationCreate(msgspec.Struct, forbid_unknown_fields=True):
    selectors: list[Selector]
    note: str = ""
    visibility: Literal["private", "session", "public"] = "session"
    parent_id: int | None = None  # a reply to this annotation (same session, not private)


class ReactionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An emoji on a passage (`position`) or on an annotation (`annotation_id`: anchored at the
    annotation's passage when no position is given)."""

    emoji: str
    position: Position | None = None
    annotation_id: int | None = None


class InvitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Whom the host invites: user ids and/or handles (at most 50 in all)."""

    user_ids: list[int] = msgspec.field(default_factory=list)
    handles: list[str] = msgspec.field(default_factory=list)


class InvitationsOut(msgspec.Struct):
    session_id: int
    invited: list[int]  # everyone now invited by this request (newly or before)
    notified: list[int]  # those newly invited (each got a `session_invitation` notification)
    invite_code: str | None
    link: str


class AnnotationOut(msgspec.Struct):
    id: int
    session_id: int | None
    book_id: int
    author_id: int
    author_name: str
    visibility: str
    gate: float
    range_start: float
    range_end: float
    chapter: int | None
    locator: str | None
    created_at: datetime
    selectors: list[Selector] | None = None
    quote: str | None = None
    note: str | None = None
    redacted: bool = False
    parent_id: int | None = None  # a reply to this annotation


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None = None


class ReactionPage(msgspec.Struct):
    items: list[ReactionOut]
    next_cursor: str | None = None


class AnnotationPage(msgspec.Struct):
    items: list[AnnotationOut]
    next_cursor: str | None = None
