"""The discussion commands a room accepts in `publish.data` (tag field `type`), for any room kind
whose place is a `domain.discussion` place: decoded, run as the use-case REST also calls, then
delivered (publish, side effects) before the ack. A club room reuses this module as it is."""

from __future__ import annotations

import typing
from functools import lru_cache
from typing import Any, Literal

import msgspec
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import actions
from domain.discussion.commit import Outcome, Runner, deliver
from domain.discussion.place import Venue
from domain.discussion.schemas import AnnotationCreate, ClientKey, GateAt, Position, Selector
from domain.errors import Invalid
from domain.ids import Id
from domain.sessions.onconn import OnConnection
from realtime.rooms.base import ConnectionInfo, HubContext
from realtime.rooms.discussion import hub_publish


class Chat(msgspec.Struct, tag="chat", forbid_unknown_fields=True):
    """`idempotency_key`: resend after a reconnect; the same key stores and delivers once.
    `parent_id`: a reply and `spoiler_free`: gated at the place's floor (club threads only)."""

    body: str
    idempotency_key: ClientKey | None = None
    parent_id: Id | None = None
    spoiler_free: bool = False


class ChatEdit(msgspec.Struct, tag="chat_edit", forbid_unknown_fields=True):
    message_id: Id
    body: str


class ChatDelete(msgspec.Struct, tag="chat_delete", forbid_unknown_fields=True):
    message_id: Id


class React(msgspec.Struct, tag="react", forbid_unknown_fields=True):
    """On a passage (`position`), an annotation (`annotation_id`) or a message (`message_id`)."""

    emoji: str
    position: Position | None = None
    annotation_id: Id | None = None
    idempotency_key: ClientKey | None = None
    message_id: Id | None = None


class Annotate(msgspec.Struct, tag="annotate", forbid_unknown_fields=True):
    """`gate_at="passage"`: gated at the passage's end, not at my furthest progression."""

    selectors: list[Selector]
    note: str = ""
    visibility: Literal["private", "session", "public"] = "session"
    parent_id: Id | None = None  # a reply to an annotation of the same place
    gate_at: GateAt = "progress"
    idempotency_key: ClientKey | None = None


class AnnotationDelete(msgspec.Struct, tag="annotation_delete", forbid_unknown_fields=True):
    annotation_id: Id


class Typing(msgspec.Struct, tag="typing", forbid_unknown_fields=True):
    typing: bool = True


#: The discussion commands; a room kind adds its own (e.g. the session's `shield`) to a union.
DiscussionCommand = Chat | ChatEdit | ChatDelete | React | Annotate | AnnotationDelete | Typing
DISCUSSION_COMMANDS = (Chat, ChatEdit, ChatDelete, React, Annotate, AnnotationDelete, Typing)
ID_FIELDS = ("message_id", "annotation_id", "parent_id")


@lru_cache(maxsize=64)
def _by_tag(kind: Any) -> dict[Any, type[msgspec.Struct]]:
    """The tagged Structs of a union of commands by their tag (empty for anything else)."""
    out: dict[Any, type[msgspec.Struct]] = {}
    for member in typing.get_args(kind):
        config = getattr(member, "__struct_config__", None)
        if config is None or config.tag is None or config.tag_field != "type":
            return {}
        out[config.tag] = member
    return out


def decode(data: dict[str, Any], kind: Any, what: str) -> Any:
    """`data` as `kind`, or Invalid naming the field (`invalid` for an id out of range,
    `invalid_position` for a bad progression, else `invalid_payload`). A union of commands is
    converted as the one Struct its `type` names (msgspec rebuilds a union's type info on every
    `convert`, a Struct's is cached: ~1 us instead of ~14 us); the errors are the union's (a
    missing or unknown `type` goes through the union itself)."""
    try:
        tag = data.get("type") if type(data) is dict and not isinstance(kind, type) else None
        member = _by_tag(kind).get(tag) if type(tag) is str else None
        if member is not None:
            return msgspec.convert(data, member, strict=True)
        return msgspec.convert(data, kind, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = text.rsplit(" - at `$.", 1)[1].rstrip("`") if " - at `$." in text else None
        if field is not None and ("progression" in field):
            raise Invalid(f"bad {what}: {text}", code="invalid_position", field=field) from None
        if field is not None and field.endswith(ID_FIELDS):
            raise Invalid(f"bad {what}: {text}", field=field) from None  # code `invalid`
        raise Invalid(f"bad {what}: {text}", code="invalid_payload", field=field) from None


async def run(db: Database, venue: Venue, place_id: int, who: Principal, name: str,
              cmd: Any) -> Outcome[Any]:
    """One discussion use-case per command (the same ones REST calls)."""
    match cmd:
        case Chat(body=body, idempotency_key=key):
            return await actions.post_message(db, venue, place_id, who, body, key,
                                              cmd.spoiler_free, cmd.parent_id)
        case ChatEdit(message_id=mid, body=body):
            return await actions.edit_message(db, venue, place_id, who, mid, body)
        case ChatDelete(message_id=mid):
            return await actions.delete_message(db, venue, place_id, who, mid)
        case React(emoji=emoji, position=position, annotation_id=target, idempotency_key=key):
            return await actions.react(db, venue, place_id, who, emoji, position, target, key,
                                       cmd.message_id)
        case Annotate():
            return await actions.annotate(db, venue, place_id, who, AnnotationCreate(
                selectors=cmd.selectors, note=cmd.note, visibility=cmd.visibility,
                parent_id=cmd.parent_id, gate_at=cmd.gate_at), cmd.idempotency_key)
        case AnnotationDelete(annotation_id=aid):
            return await actions.delete_annotation(db, venue, place_id, who, aid)
        case Typing(typing=typing):
            return await actions.typing(db, venue, place_id, who, name, typing)
    raise Invalid("unknown discussion command", code="invalid_payload")  # pragma: no cover


def ack(cmd: Any, outcome: Outcome[Any], positions: list[tuple[str, int]]) -> dict[str, Any]:
    """The ack's result: the item's ids (a reaction's count is over what the reactor may see),
    `replayed` for an idempotent resend, and the last event's position in history."""
    item = outcome.result
    match cmd:
        case Chat() | Annotate():
            key = "message_id" if isinstance(cmd, Chat) else "annotation_id"
            result: dict[str, Any] = {key: item.id, "gate": item.gate}
        case ChatEdit() | ChatDelete():
            result = {"message_id": item.id}
        case React():
            result = {"reaction_id": item.id, "count": item.count}
        case AnnotationDelete():
            result = {"annotation_id": item.id}
        case _:
            result = {}
    if outcome.replayed:  # stored and delivered the first time: nothing published again
        result["replayed"] = True
    if positions:
        result["epoch"], result["offset"] = positions[-1]
    return result


async def handle(hub: HubContext, redis: Redis, db: Database, venue: Venue, effects: Runner,
                 place_id: int, conn: ConnectionInfo, who: Principal, cmd: Any) -> dict[str, Any]:
    """Run a decoded discussion command on one connection checkout, publish its events through
    the hub and run its side effects (`commit.deliver`, as REST does), then return the ack."""
    async with db.pool.acquire() as raw:
        outcome = await run(OnConnection(raw), venue, place_id, who,  # type: ignore[arg-type]
                            conn.display_name, cmd)
    positions = await deliver(outcome, hub_publish(hub, redis), db, redis, effects)
    return ack(cmd, outcome, positions)
