"""msgspec Structs of the shielded discussion: what REST and rooms take in and give out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from domain.ids import Id

MAX_MESSAGE_CHARS = 2000
MAX_NOTE_CHARS = 4000
MAX_QUOTE_CHARS = 2000
EMOJI = ("👍", "❤️", "😂", "😮", "😢", "😱", "🔥", "🤔", "👏", "💡")

#: A client-chosen idempotency key (socket: `idempotency_key`; REST: `Idempotency-Key`).
ClientKey = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
#: How an annotation's gate is chosen: the author's furthest progression when they wrote it
#: (default), or the end of the passage ("no spoilers beyond this passage", the author's choice).
GateAt = Literal["progress", "passage"]


class Position(msgspec.Struct, forbid_unknown_fields=True):
    """Where a reader is: an opaque client locator, a progression 0..1, and the TOC chapter."""

    progression: float
    locator: str | None = None
    chapter: int | None = None


class MessageOut(msgspec.Struct):
    id: int
    session_id: int  # the place's id (a session today)
    author_id: int
    author_name: str
    gate: float
    chapter: int | None
    locator: str | None
    created_at: datetime
    edited_at: datetime | None = None
    body: str | None = None
    redacted: bool = False
    parent_id: int | None = None  # a reply (places whose tables keep replies: club threads)


class ReactionOut(msgspec.Struct):
    """`count`: reactions with this emoji on this passage that the receiver may see in full
    (see domain.discussion.spoilers); the redacted variant has no emoji and no count."""

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
    """`gate_at="passage"` lowers the gate to the passage's end (the author promises no
    spoilers beyond it); by default it is the author's furthest progression."""

    selectors: list[Selector]
    note: str = ""
    visibility: Literal["private", "session", "public"] = "session"
    parent_id: Id | None = None  # a reply to this annotation (same session, not private)
    gate_at: GateAt = "progress"


class ReactionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """An emoji on a passage (`position`) or on an annotation (`annotation_id`: anchored at the
    annotation's passage when no position is given)."""

    emoji: str
    position: Position | None = None
    annotation_id: Id | None = None


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str


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
    gate_at: GateAt = "passage"  # how the gate was chosen (shown on every variant)


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None = None


class ReactionPage(msgspec.Struct):
    items: list[ReactionOut]
    next_cursor: str | None = None


class AnnotationPage(msgspec.Struct):
    items: list[AnnotationOut]
    next_cursor: str | None = None


class Removed(msgspec.Struct):
    """A message or annotation that left every listing (the payload of the *_deleted events)."""

    id: int
    session_id: int | None
    deleted_by: int
    author_id: int
    private: bool = False  # a private annotation's removal goes to its author only


class TypingOut(msgspec.Struct):
    user_id: int
    name: str
    typing: bool
