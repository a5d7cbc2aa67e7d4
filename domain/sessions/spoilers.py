"""The spoiler shield's rules: who gets full content, who the redacted variant, who nothing."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from domain.errors import Invalid
from domain.sessions.schemas import AnnotationOut, MessageOut, ReactionOut


class ViewerState(msgspec.Struct, frozen=True):
    """One reader's view of one session: furthest progression, shield on/off, hidden authors."""

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


def is_shielded(viewer: ViewerState, gate: float, author_id: int) -> bool:
    """True when `viewer` must get the redacted variant (same rule as realtime.rooms.base)."""
    return (viewer.shield and author_id != viewer.user_id
            and (viewer.progress or 0.0) < gate)


def is_hidden(viewer: ViewerState, author_id: int) -> bool:
    """True when the viewer never sees this author's content (blocked either way, or muted)."""
    return author_id in viewer.hidden_authors


def redact_message(full: MessageOut) -> MessageOut:
    """Who and where, that there is a message, never its text."""
    return msgspec.structs.replace(full, body=None, edited_at=None, redacted=True)


def redact_reaction(full: ReactionOut) -> ReactionOut:
    """Who and where, that someone reacted, not with what."""
    return msgspec.structs.replace(full, emoji=None, count=None, redacted=True)


def redact_annotation(full: AnnotationOut) -> AnnotationOut:
    """Who, where (the range) and that there is an annotation; no quote, note or selectors."""
    return msgspec.structs.replace(full, selectors=None, quote=None, note=None, redacted=True)


def for_viewer(viewer: ViewerState, item: Any) -> Any | None:
    """The variant of a content item this viewer may see (None: nothing at all)."""
    if is_hidden(viewer, item.author_id):
        return None
    if not is_shielded(viewer, item.gate, item.author_id):
        return item
    if isinstance(item, MessageOut):
        return redact_message(item)
    if isinstance(item, ReactionOut):
        return redact_reaction(item)
    if isinstance(item, AnnotationOut):
        return redact_annotation(item)
    raise TypeError(f"no redaction for {type(item).__name__}")
