"""The use-cases of the shielded discussion, one per action, shared by REST and the socket:
each validates, writes (one statement: committed when it returns) and hands back an `Outcome`
with the events and side effects that `commit.deliver` runs after the commit."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import store
from domain.discussion.commit import Effect, Outcome
from domain.discussion.events import (
    Annotated,
    AnnotationDeleted,
    ChatDeleted,
    ChatEdited,
    ChatPosted,
    Reacted,
    Typing,
)
from domain.discussion.place import Place, Venue
from domain.discussion.schemas import (
    EMOJI,
    MAX_MESSAGE_CHARS,
    MAX_NOTE_CHARS,
    AnnotationCreate,
    AnnotationOut,
    MessageOut,
    Position,
    ReactionOut,
    Removed,
    TypingOut,
)
from domain.discussion.selectors import check_selectors
from domain.discussion.spoilers import (
    ViewerState,
    annotation_gate,
    check_progression,
    edit_gate,
    is_hidden,
    message_gate,
    reaction_gate,
)
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.social.rules import hidden_user_ids


def check_writable(place: Place) -> None:
    if not place.writable:
        raise Conflict(place.closed_reason or "this place is read-only",
                       code=place.closed_code or "read_only")


def clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise Invalid("body must be a string", code="invalid_message", field="body")
    text = body.strip()
    if not text:
        raise Invalid("a message needs some text", code="empty_message", field="body")
    if len(text) > MAX_MESSAGE_CHARS:
        raise Invalid(f"a message holds at most {MAX_MESSAGE_CHARS} characters",
                      code="message_too_long", field="body")
    return text


def check_may_remove(who: Principal, author_id: int, place: Place, what: str) -> None:
    """The one rule for deleting content: its author, the place's moderators (a session's host)
    or a site moderator."""
    if who.user_id != author_id and not place.may_moderate(who):
        raise Forbidden(f"only the author, the host or a moderator may delete {what}",
                        code="not_allowed")


async def _message(db: Database, place: Place, mid: int) -> MessageOut:
    row = await db.pool.fetchrow(store.msg_sql(store.tables(place)) + " WHERE m.id = $1", mid)
    return store.message_out(row)


async def _viewer_of(db: Database, who: Principal, state: ViewerState | None) -> ViewerState:
    """`who`'s hidden authors: from `state` (their viewer state, read already) or read now."""
    if state is not None and state.user_id == who.user_id:
        return state
    return ViewerState(user_id=who.user_id, progress=None, shield=True,
                       hidden_authors=frozenset(await hidden_user_ids(db, who.user_id)))


async def visible_message(db: Database, place: Place, who: Principal, message_id: int,
                          field: str, state: ViewerState | None = None) -> Any:
    """A message of this place (not deleted, its author not hidden from `who`), or
    `message_not_found`. `state`: `who`'s viewer state when the caller has it (whom they hide
    is not read again)."""
    t = store.tables(place)
    row = await db.pool.fetchrow(store.msg_sql(t) + f" WHERE m.id = $1 AND m.{t.place} = $2"
                                 " AND m.deleted_at IS NULL", message_id, place.id)
    if row is None or is_hidden(await _viewer_of(db, who, state), row["author_id"]):
        raise NotFound(f"no message {message_id} in this {place.kind}",
                       code="message_not_found", field=field)
    return row


async def post_message(db: Database, venue: Venue, place_id: int, who: Principal, body: Any,
                       key: str | None = None, spoiler_free: bool = False,
                       reply_to: int | None = None) -> Outcome[MessageOut]:
    """A chat message gated at the author's furthest progression (or, `spoiler_free`, at the
    place's floor: only where the venue offers one). `reply_to`: a reply (where the place keeps
    replies), one level deep (a reply to a reply hangs under the same post) and never gated
    below the message it answers."""
    text = clean_body(body)
    place = await venue.place(db, place_id, who)
    check_writable(place)
    poster = await venue.poster(db, place, who, chat=True)
    if spoiler_free and poster.floor is None:
        raise Invalid(f"a {place.kind} has no spoiler-free messages", code="no_spoiler_free",
                      field="spoiler_free")
    gate = message_gate(poster.furthest, poster.floor if spoiler_free else None)
    parent_id = None
    if reply_to is not None:
        if not store.tables(place).replies:
            raise Invalid(f"a {place.kind} has no replies", code="no_replies",
                          field="parent_id")
        parent = await visible_message(db, place, who, reply_to, "parent_id")
        parent_id = int(parent["parent_id"] or parent["id"])
        gate = max(gate, float(parent["gate"]))
    row, created = await store.insert_message(
        db.pool, place, who.user_id, text, gate, poster.locator, poster.chapter, key, parent_id)
    msg = store.message_out(row)
    if not created:
        return Outcome(msg, place.room, replayed=True)
    effects = [Effect("mentions", msg, place)]
    if parent_id is not None:
        effects.append(Effect("replied", msg, place))
    return Outcome(msg, place.room, [ChatPosted(msg)], effects)


async def edit_message(db: Database, venue: Venue, place_id: int, who: Principal,
                       message_id: int, body: Any) -> Outcome[MessageOut]:
    """The author edits their message: new content, so its gate rises to what they have read."""
    text = clean_body(body)
    place = await venue.place(db, place_id, who)
    check_writable(place)
    t = store.tables(place)
    msg = await db.pool.fetchrow(f"SELECT author_id, deleted_at FROM {t.messages} WHERE id = $1"
                                 f" AND {t.place} = $2", message_id, place.id)
    if msg is None or msg["deleted_at"] is not None:
        raise NotFound(f"no message {message_id}", code="message_not_found", field="message_id")
    if msg["author_id"] != who.user_id:
        raise Forbidden("only the author may edit a message", code="not_author")
    poster = await venue.poster(db, place, who, chat=True)
    await db.pool.execute(f"UPDATE {t.messages} SET body = $2, edited_at = now(),"
                          " gate = GREATEST(gate, $3) WHERE id = $1", message_id, text,
                          edit_gate(0.0, poster.furthest))
    out = await _message(db, place, message_id)
    return Outcome(out, place.room, [ChatEdited(out)])


async def delete_message(db: Database, venue: Venue, place_id: int, who: Principal,
                         message_id: int) -> Outcome[MessageOut]:
    """The author, a moderator of the place or a site moderator deletes a message."""
    place = await venue.place(db, place_id)
    t = store.tables(place)
    row = await db.pool.fetchrow(store.msg_sql(t) + f" WHERE m.id = $1 AND m.{t.place} = $2"
                                 " AND m.deleted_at IS NULL", message_id, place.id)
    if row is None:
        raise NotFound(f"no message {message_id}", code="message_not_found", field="message_id")
    msg = store.message_out(row)
    check_may_remove(who, msg.author_id, place, "a message")
    if await db.pool.fetchval(f"UPDATE {t.messages} SET deleted_at = now(), deleted_by = $2"
                              " WHERE id = $1 AND deleted_at IS NULL RETURNING id",
                              message_id, who.user_id) is None:  # deleted meanwhile: once
        raise NotFound(f"no message {message_id}", code="message_not_found", field="message_id")
    gone = Removed(id=msg.id, session_id=place.id, deleted_by=who.user_id,
                   author_id=msg.author_id)
    return Outcome(msg, place.room, [ChatDeleted(gone)])


async def restore_message(db: Database, venue: Venue, place_id: int, who: Principal,
                          message_id: int) -> Outcome[MessageOut]:
    """A moderator of the place brings back a message a moderator removed (not one its author
    deleted): it is posted again, under its own gate, to the room and every listing."""
    place = await venue.place(db, place_id)
    if not place.may_moderate(who):
        raise Forbidden("only the place's moderators may restore a message", code="not_allowed")
    t = store.tables(place)
    back = await db.pool.fetchval(
        f"UPDATE {t.messages} SET deleted_at = NULL, deleted_by = NULL WHERE id = $1 AND"
        f" {t.place} = $2 AND deleted_at IS NOT NULL AND deleted_by IS DISTINCT FROM author_id"
        " RETURNING id", message_id, place.id)
    if back is None:
        raise NotFound(f"no hidden message {message_id}", code="message_not_found",
                       field="message_id")
    msg = await _message(db, place, message_id)
    return Outcome(msg, place.room, [ChatPosted(msg)])


async def visible_annotation(db: Database, place: Place, who: Principal, annotation_id: int,
                             field: str, state: ViewerState | None = None) -> Any:
    """An annotation of this place that `who` may see (not deleted, not someone else's private
    one, its author not hidden from them), or `annotation_not_found` (`state`: as for
    `visible_message`)."""
    t = store.tables(place)
    row = await db.pool.fetchrow(
        f"SELECT id, author_id, visibility, gate, locator FROM {t.annotations} WHERE id = $1"
        f" AND {t.place} = $2 AND deleted_at IS NULL", annotation_id, place.id)
    if row is None or (row["visibility"] == "private" and row["author_id"] != who.user_id) or \
            is_hidden(await _viewer_of(db, who, state), row["author_id"]):
        raise NotFound(f"no annotation {annotation_id} in this {place.kind}",
                       code="annotation_not_found", field=field)
    return row


async def react(db: Database, venue: Venue, place_id: int, who: Principal, emoji: Any,
                position: Position | None, annotation_id: int | None = None,
                key: str | None = None, message_id: int | None = None) -> Outcome[ReactionOut]:
    """An emoji from the fixed set on a passage, on an annotation (anchored at its passage
    unless a position is given) or on a message (`message_id`: anchored at the message's gate,
    locator `message:<id>`); gated at max(anchor, the author's furthest progression). The
    result's count is over what the reactor may see; the event's over its own gate."""
    if emoji not in EMOJI:
        raise Invalid("emoji must be one of " + " ".join(EMOJI), code="invalid_emoji",
                      field="emoji")
    place = await venue.place(db, place_id, who)
    # the reactor's view (whom they hide, for the target's lookup and the ack's count): once,
    # or none where the venue read it with the place (`viewer_of`: the club venues)
    state = venue.viewer_of(place, who.user_id) or await venue.viewer(db, place.id, who.user_id)
    if message_id is not None:
        msg = await visible_message(db, place, who, message_id, "message_id", state)
        position = Position(progression=float(msg["gate"]), locator=f"message:{msg['id']}")
    target = None
    if annotation_id is not None:
        target = await visible_annotation(db, place, who, annotation_id, "annotation_id", state)
        if position is None:
            position = Position(progression=target["gate"],
                                locator=target["locator"] or f"annotation:{target['id']}")
    if position is None:
        raise Invalid("a reaction needs a position or an annotation_id", code="invalid_position",
                      field="position")
    anchor = check_progression(position.progression, "position.progression")
    if not isinstance(position.locator, str) or not position.locator or \
            len(position.locator) > 512:
        raise Invalid("a reaction needs the passage's locator", code="invalid_position",
                      field="position.locator")
    check_writable(place)
    poster = await venue.poster(db, place, who, chat=False)
    row, created = await store.insert_reaction(
        db.pool, place, who.user_id, emoji, reaction_gate(anchor, poster.furthest),
        position.locator, place.chapter_at(anchor),
        target["id"] if target is not None else None, key, state)
    shared = store.reaction_out(row)
    mine = msgspec.structs.replace(shared, count=int(row["viewer_count"]))
    if not created:
        return Outcome(mine, place.room, replayed=True)
    return Outcome(mine, place.room, [Reacted(shared)], [Effect("reacted", shared, place)])


async def annotate(db: Database, venue: Venue, place_id: int, who: Principal,
                   data: AnnotationCreate, key: str | None = None) -> Outcome[AnnotationOut]:
    """A highlight/note (or a reply), gated at the author's furthest progression unless they
    lowered it to the passage's end; a reply never below its parent."""
    start, end, quote, locator = check_selectors(data.selectors)
    if len(data.note) > MAX_NOTE_CHARS:
        raise Invalid(f"a note holds at most {MAX_NOTE_CHARS} characters", code="note_too_long",
                      field="note")
    place = await venue.place(db, place_id, who)
    check_writable(place)
    poster = await venue.poster(db, place, who, chat=False)
    parent_id, parent_gate = None, None
    if data.parent_id is not None:
        parent = await visible_annotation(db, place, who, data.parent_id, "parent_id")
        parent_id, parent_gate = int(parent["id"]), float(parent["gate"])
    gate = annotation_gate(end, poster.furthest, data.gate_at, parent_gate)
    row, created = await store.insert_annotation(db.pool, place, who.user_id, {
        "visibility": data.visibility, "selectors": msgspec.json.encode(data.selectors).decode(),
        "quote": quote, "note": data.note.strip(), "start": start, "end": end, "gate": gate,
        "locator": locator, "chapter": place.chapter_at(start), "parent_id": parent_id,
        "gate_at": data.gate_at}, key)
    ann = store.annotation_out(row)
    if not created:
        return Outcome(ann, place.room, replayed=True)
    return Outcome(ann, place.room, [Annotated(ann)], [Effect("annotated", ann, place)])


async def delete_annotation(db: Database, venue: Venue, place_id: int, who: Principal,
                            annotation_id: int) -> Outcome[AnnotationOut]:
    """The author, a moderator of the place or a site moderator removes an annotation."""
    place = await venue.place(db, place_id)
    t = store.tables(place)
    row = await db.pool.fetchrow(store.ann_sql(t) + f" WHERE a.id = $1 AND a.{t.place} = $2"
                                 " AND a.deleted_at IS NULL", annotation_id, place.id)
    if row is None:
        raise NotFound(f"no annotation {annotation_id}", code="annotation_not_found",
                       field="annotation_id")
    ann = store.annotation_out(row)
    check_may_remove(who, ann.author_id, place, "an annotation")
    if await db.pool.fetchval(f"UPDATE {t.annotations} SET deleted_at = now() WHERE id = $1"
                              " AND deleted_at IS NULL RETURNING id", annotation_id) is None:
        raise NotFound(f"no annotation {annotation_id}", code="annotation_not_found",
                       field="annotation_id")
    gone = Removed(id=ann.id, session_id=place.id, deleted_by=who.user_id,
                   author_id=ann.author_id, private=ann.visibility == "private")
    return Outcome(ann, place.room, [AnnotationDeleted(gone)], [Effect("unannotated", ann, place)])


async def typing(db: Database, venue: Venue, place_id: int, who: Principal, name: str,
                 is_typing: bool) -> Outcome[None]:
    """Someone is typing: checked like chat, never stored."""
    place = await venue.place(db, place_id, who)
    check_writable(place)
    await venue.poster(db, place, who, chat=True)
    return Outcome(None, place.room, [Typing(TypingOut(who.user_id, name, is_typing))])
