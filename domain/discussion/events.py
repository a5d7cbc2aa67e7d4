"""The events discussion content sends to a place's room: a closed msgspec union per room kind,
each with its delivery rules (`delivery`: the redacted variant, gate, recipients, history key).

The wire/storage carrier (realtime's RoomEvent) is built from a `Delivery` in one place
(`realtime.rooms.discussion.room_event`); nothing else spells an event name.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from domain.discussion.schemas import AnnotationOut, MessageOut, ReactionOut, Removed, TypingOut
from domain.discussion.spoilers import redact_annotation, redact_message, redact_reaction


class ChatPosted(msgspec.Struct, tag="chat", frozen=True, tag_field="event"):
    """A chat message (redacted for readers behind its gate)."""

    data: MessageOut


class ChatEdited(msgspec.Struct, tag="chat_edited", frozen=True, tag_field="event"):
    """An edited message: new content, gated at max(old gate, author's furthest at edit)."""

    data: MessageOut


class ChatDeleted(msgspec.Struct, tag="chat_deleted", frozen=True, tag_field="event"):
    """A message left every listing (its stored events leave the room's history)."""

    data: Removed


class Reacted(msgspec.Struct, tag="reaction", frozen=True, tag_field="event"):
    """An emoji on a passage or an annotation (redacted: no emoji, passage or count)."""

    data: ReactionOut


class Annotated(msgspec.Struct, tag="annotation", frozen=True, tag_field="event"):
    """A highlight/note or a reply (private ones go to their author only)."""

    data: AnnotationOut


class AnnotationDeleted(msgspec.Struct, tag="annotation_deleted", frozen=True, tag_field="event"):
    """An annotation left every listing."""

    data: Removed


class Typing(msgspec.Struct, tag="typing", frozen=True, tag_field="event"):
    """Someone is typing (ephemeral: never stored, not replayed)."""

    data: TypingOut


class Unlocked(msgspec.Struct, tag="unlocked", frozen=True, tag_field="event"):
    """The full variant of an item a reader just read past (sent to that reader only, under
    the item's own event name with `unlocked: true`)."""

    data: MessageOut | ReactionOut | AnnotationOut


#: What discussion content sends into a `session:` room (clubs will get their own union).
SessionEvent = (ChatPosted | ChatEdited | ChatDeleted | Reacted | Annotated | AnnotationDeleted
                | Typing | Unlocked)
#: The events as they appear on the wire, for the AsyncAPI document (`Unlocked` travels as
#: `chat`, `reaction` or `annotation` with `unlocked: true` in its data: no event of its own).
SessionWireEvent = (ChatPosted | ChatEdited | ChatDeleted | Reacted | Annotated
                    | AnnotationDeleted | Typing)
SESSION_EVENTS: tuple[type[msgspec.Struct], ...] = typing.get_args(SessionWireEvent)


class Delivery(msgspec.Struct, frozen=True):
    """How one event travels: the fields of realtime's RoomEvent, plain data."""

    event: str
    data: dict[str, Any]
    redacted: dict[str, Any] | None = None
    gate: float | None = None
    author_id: int | None = None
    target_user_ids: list[int] | None = None
    key: str | None = None
    retracts: str | None = None
    ephemeral: bool = False


def _d(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(item)
    return out


def _name(item: Any) -> str:
    return ("chat" if isinstance(item, MessageOut)
            else "reaction" if isinstance(item, ReactionOut) else "annotation")


def delivery(ev: SessionEvent) -> Delivery:
    """The one mapping from a typed event to how it is stored and fanned out."""
    match ev:
        case ChatPosted(data=m) | ChatEdited(data=m):
            # keyed in history (the message and its edits), so deleting it retracts them all
            return Delivery(ev.__struct_config__.tag, _d(m), _d(redact_message(m)),  # type: ignore[arg-type]
                            gate=m.gate, author_id=m.author_id, key=f"chat:{m.id}")
        case ChatDeleted(data=gone):
            return Delivery("chat_deleted", _d(gone), author_id=gone.author_id,
                            retracts=f"chat:{gone.id}")
        case Reacted(data=r):
            return Delivery("reaction", _d(r), _d(redact_reaction(r)), gate=r.gate,
                            author_id=r.author_id)
        case Annotated(data=a):
            targets = [a.author_id] if a.visibility == "private" else None
            return Delivery("annotation", _d(a), _d(redact_annotation(a)), gate=a.gate,
                            author_id=a.author_id, target_user_ids=targets,
                            key=f"annotation:{a.id}")
        case AnnotationDeleted(data=gone):
            return Delivery("annotation_deleted", _d(gone), author_id=gone.author_id,
                            target_user_ids=[gone.author_id] if gone.private else None,
                            retracts=f"annotation:{gone.id}")
        case Typing(data=t):
            return Delivery("typing", _d(t), author_id=t.user_id, ephemeral=True)
        case Unlocked(data=item):
            return Delivery(_name(item), {**_d(item), "unlocked": True},
                            author_id=item.author_id)
    raise TypeError(f"not a session event: {ev!r}")  # pragma: no cover
