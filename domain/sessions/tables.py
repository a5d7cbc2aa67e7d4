"""piccolo tables of the co-reading context (see m0009_sessions and m0010_session_content)."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from domain.accounts.tables import User


class ReadingSession(Table, tablename="reading_sessions"):
    """A co-reading session for one book: scheduled -> live -> ended (kept as a record)."""

    id = BigSerial(primary_key=True)
    book_id = BigInt()
    host_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_by = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=120)
    mode = Varchar(length=8)
    visibility = Varchar(length=16)
    invite_code = Varchar(length=32, null=True, default=None)
    capacity = Integer(default=50)
    status = Varchar(length=12, default="scheduled")
    chat_locked = Boolean(default=False)
    shield_default = Boolean(default=True)
    scheduled_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    host_progression = DoublePrecision(null=True, default=None)
    host_locator = Text(null=True, default=None)
    host_chapter = Integer(null=True, default=None)
    created_at = Timestamptz()


class SessionParticipant(Table, tablename="session_participants"):
    """A reader admitted to a session: attendance, position, furthest progression, host flags."""

    id = BigSerial(primary_key=True)
    session_id = ForeignKey(references=ReadingSession, on_delete=OnDelete.cascade, null=False)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    joined_at = Timestamptz()
    present_since = Timestamptz(null=True, default=None)
    last_seen_at = Timestamptz(null=True, default=None)  # last connect or disconnect
    connections = Integer(default=0)
    seconds_present = Integer(default=0)
    progression = DoublePrecision(null=True, default=None)
    start_progression = DoublePrecision(null=True, default=None)
    furthest = DoublePrecision(null=True, default=None)
    locator = Text(null=True, default=None)
    chapter = Integer(null=True, default=None)
    shield = Boolean(null=True, default=None)
    muted = Boolean(default=False)
    kicked = Boolean(default=False)


class SessionMessage(Table, tablename="session_messages"):
    """A chat message, gated at the author's progression when it was sent."""

    id = BigSerial(primary_key=True)
    session_id = ForeignKey(references=ReadingSession, on_delete=OnDelete.cascade, null=False)
    author_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    body = Text()
    gate = DoublePrecision()
    locator = Text(null=True, default=None)
    chapter = Integer(null=True, default=None)
    created_at = Timestamptz()
    edited_at = Timestamptz(null=True, default=None)
    deleted_at = Timestamptz(null=True, default=None)
    deleted_by = BigInt(null=True, default=None)
    client_key = Varchar(length=100, null=True, default=None)  # m0014: idempotent resend


class SessionReaction(Table, tablename="session_reactions"):
    """An emoji from the fixed set anchored to a passage (locator + progression = gate)."""

    id = BigSerial(primary_key=True)
    session_id = ForeignKey(references=ReadingSession, on_delete=OnDelete.cascade, null=False)
    author_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    emoji = Varchar(length=16)
    gate = DoublePrecision()
    locator = Text()
    chapter = Integer(null=True, default=None)
    created_at = Timestamptz()
    annotation_id = BigInt(null=True, default=None)  # m0011: a reaction to this annotation
    client_key = Varchar(length=100, null=True, default=None)  # m0014: idempotent resend


class SessionAnnotation(Table, tablename="session_annotations"):
    """A highlight with an optional note, anchored by Web-Annotation-style selectors."""

    id = BigSerial(primary_key=True)
    session_id = ForeignKey(references=ReadingSession, on_delete=OnDelete.set_null, null=True)
    book_id = BigInt()
    author_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    visibility = Varchar(length=16)
    selectors = JSONB()
    quote = Text(null=True, default=None)
    note = Text(default="")
    range_start = DoublePrecision()
    range_end = DoublePrecision()
    gate = DoublePrecision()
    locator = Text(null=True, default=None)
    chapter = Integer(null=True, default=None)
    created_at = Timestamptz()
    deleted_at = Timestamptz(null=True, default=None)
    parent_id = BigInt(null=True, default=None)  # m0011: a reply to this annotation
    client_key = Varchar(length=100, null=True, default=None)  # m0014: idempotent resend
    gate_at = Varchar(length=8, default="passage")  # m0014: 'progress' or 'passage'


class SessionInvitation(Table, tablename="session_invitations"):
    """The host invited a user: they may see and join the session (also invite-only ones)."""

    id = BigSerial(primary_key=True)
    session_id = ForeignKey(references=ReadingSession, on_delete=OnDelete.cascade, null=False)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    invited_by = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()


class BookReading(Table, tablename="book_readings"):
    """When a reader first reported a position in a book, and when they finished it (once each:
    the started/finished feed activities hang on these)."""

    id = BigSerial(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    book_id = BigInt()
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)


SESSION_TABLES: list[type[Table]] = [ReadingSession, SessionParticipant, SessionMessage,
                                     SessionReaction, SessionAnnotation, SessionInvitation,
                                     BookReading]
