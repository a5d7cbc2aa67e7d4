"""The spoiler shield, written once: which variant of which item each viewer gets, and gates.

The spec (every path follows it: live fan-out, replay, REST listings, unlock pushes,
notifications, emails and web push built from them, feed items, counts):

1. **Hidden.** A viewer never gets anything by an author they blocked, who blocked them, or whom
   they muted (`hidden_authors`); nor an item whose audience excludes them (a private annotation
   is its author's; an item is never readable wider than the place it was written in, see
   `reaches_beyond_place`).
2. **Redacted.** With the shield on, a viewer whose furthest progression in the place is below
   an item's gate gets the redacted variant: who, when and where (gate, chapter, locator or
   range), never the text, the note, the quote, the emoji or a count. Authors always see their
   own.
3. **Full** otherwise.

Gates (`*_gate`): an item is gated at least at the author's furthest progression when they wrote
it; an **edit is new content** (gate = max(old gate, furthest at edit time)); a reaction also at
its anchor; an annotation (and a reply) at the author's furthest progression unless the author
explicitly lowers it to the passage's end (`gate_at="passage"`), and a reply never below its
parent. **Aggregates** (reaction counts) are computed over items the receiver may see in full:
per viewer in acks and listings, and over items gated at or below the item's own gate in events
that go to many (every receiver of the full variant has read that far).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import msgspec

from domain.discussion.schemas import AnnotationOut, GateAt, MessageOut, ReactionOut
from domain.errors import Invalid

__all__ = [  # the item structs are re-exported: the rule's tests build items from here
    "FULL", "REDACTED", "SKIP", "AnnotationOut", "Audience", "MessageOut", "ReactionOut",
    "ViewerState", "annotation_gate", "check_progression", "edit_gate", "for_viewer",
    "is_hidden", "is_shielded", "known_furthest", "message_gate", "reaches_beyond_place",
    "reaction_gate",
    "redact_annotation", "redact_message", "redact_reaction", "redacted", "sees_in_full",
    "variant",
]

Audience = Literal["public", "followers", "invite"]


#: Which variant of an item one viewer receives (`realtime.rooms.base` re-exports these).
SKIP = -1
FULL = 0
REDACTED = 1


class ViewerState(msgspec.Struct, frozen=True):
    """One reader's view of one place: furthest progression, shield on/off, hidden authors."""

    user_id: int
    progress: float | None
    shield: bool
    hidden_authors: frozenset[int] = frozenset()


def check_progression(value: Any, field: str = "progression") -> float:
    """A normalised progression: a finite number from 0 to 1 (else `Invalid`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"{field} must be a number from 0 to 1", code="invalid_position",
                      field=field)
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or number > 1.0:
        raise Invalid(f"{field} must be between 0 and 1 (got {value!r})",
                      code="invalid_position", field=field)
    return number


def known_furthest(*stored: float | None, live: float | None = None) -> float:
    """How far a reader has read, for an author's gate at writing time: the largest of every
    stored furthest and the live one (moves acked in Redis, written to PostgreSQL behind the
    ack). A gate never goes below it, on any node, whether the write-behind has caught up or
    not. (A viewer's REST listing may read the stored furthest alone: while the write-behind
    lags it hides more than the live shield, never less.)"""
    return max([0.0, *(f for f in (*stored, live) if f is not None)])


def variant(viewer_id: int, progress: float | None, shield: bool,
            hidden_authors: frozenset[int], author_id: int | None, gate: float | None,
            redactable: bool = True) -> int:
    """THE rule (spec 1-3) for one viewer and one item: SKIP, FULL or REDACTED; `gate=None`
    or not `redactable`: the item has no redacted variant (e.g. a deletion notice). Plain
    ints and positional arguments: the hub calls this once per recipient of a gated event."""
    if author_id is not None and author_id in hidden_authors:
        return SKIP
    if (gate is not None and redactable and shield and author_id != viewer_id
            and (progress or 0.0) < gate):
        return REDACTED
    return FULL


def is_shielded(viewer: ViewerState, gate: float, author_id: int) -> bool:
    """True when `viewer` must get the redacted variant of an item (ignoring hidden authors)."""
    return variant(viewer_id=viewer.user_id, progress=viewer.progress, shield=viewer.shield,
                   hidden_authors=frozenset(), author_id=author_id,
                   gate=gate) == REDACTED


def is_hidden(viewer: ViewerState, author_id: int) -> bool:
    """True when the viewer never sees this author's content (blocked either way, or muted)."""
    return author_id in viewer.hidden_authors


def sees_in_full(viewer: ViewerState, gate: float, author_id: int) -> bool:
    """Spec 3 for one item: what aggregates (counts) may include for this viewer."""
    return variant(viewer_id=viewer.user_id, progress=viewer.progress, shield=viewer.shield,
                   hidden_authors=viewer.hidden_authors, author_id=author_id,
                   gate=gate) == FULL


# ---- gates -------------------------------------------------------------------------------

def message_gate(author_furthest: float | None, lowered_to: float | None = None) -> float:
    """The author's furthest progression, or the place's floor when the author marked the
    message spoiler-free (`lowered_to`: a club section's start)."""
    if lowered_to is not None:
        return lowered_to
    return author_furthest or 0.0


def edit_gate(old_gate: float, author_furthest: float | None) -> float:
    """An edit is new content: never below what the author has read when editing."""
    return max(old_gate, author_furthest or 0.0)


def reaction_gate(anchor: float, author_furthest: float | None) -> float:
    return max(anchor, author_furthest or 0.0)


def annotation_gate(range_end: float, author_furthest: float | None, gate_at: GateAt,
                    parent_gate: float | None = None) -> float:
    """The author's furthest progression (at least the passage's end), or the passage's end
    when the author lowered it; a reply is never gated below its parent."""
    gate = range_end if gate_at == "passage" else max(range_end, author_furthest or 0.0)
    return max(gate, parent_gate or 0.0)


# ---- audiences ---------------------------------------------------------------------------

def reaches_beyond_place(item_visibility: str, place_audience: Audience) -> bool:
    """An item may reach people outside its place's audience (book listings for strangers and
    anonymous callers, feed items for the author's followers) only when it is public AND the
    place is public: an item's audience is never wider than the place it was written in."""
    return item_visibility == "public" and place_audience == "public"


# ---- variants ----------------------------------------------------------------------------

def redact_message(full: MessageOut) -> MessageOut:
    """Who and where, that there is a message, never its text."""
    return msgspec.structs.replace(full, body=None, edited_at=None, redacted=True)


def redact_reaction(full: ReactionOut) -> ReactionOut:
    """Who and where, that someone reacted: not with what, and no count. (The passage stays, as
    a message's does: counts are computed over what each receiver may see, so reacting on the
    same passage learns nothing.)"""
    return msgspec.structs.replace(full, emoji=None, count=None, redacted=True)


def redact_annotation(full: AnnotationOut) -> AnnotationOut:
    """Who, where (the range) and that there is an annotation; no quote, note or selectors."""
    return msgspec.structs.replace(full, selectors=None, quote=None, note=None, redacted=True)


def redacted(item: Any) -> Any:
    if isinstance(item, MessageOut):
        return redact_message(item)
    if isinstance(item, ReactionOut):
        return redact_reaction(item)
    if isinstance(item, AnnotationOut):
        return redact_annotation(item)
    raise TypeError(f"no redaction for {type(item).__name__}")


def for_viewer(viewer: ViewerState, item: Any) -> Any | None:
    """The variant of a content item this viewer may see (None: nothing at all)."""
    got = variant(viewer_id=viewer.user_id, progress=viewer.progress, shield=viewer.shield,
                  hidden_authors=viewer.hidden_authors, author_id=item.author_id, gate=item.gate)
    if got == SKIP:
        return None
    return item if got == FULL else redacted(item)
