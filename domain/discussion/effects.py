"""Side effects of discussion content, run by `commit.deliver` after the events are published:
@mentions, replies and reactions to notes (notifications) and public notes (feed activities).

Each goes through the shield: a mention's excerpt only for a recipient who may read it in full;
a feed item (seen by the author's followers, who may not be the place's audience) only for a
public note in a public place, and without quote or note. Every effect never raises.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from redis.asyncio import Redis

from domain.db import Database
from domain.discussion.commit import Effect, Runner
from domain.discussion.place import Place, Venue
from domain.discussion.schemas import AnnotationOut, MessageOut, ReactionOut
from domain.discussion.spoilers import is_shielded, reaches_beyond_place
from domain.discussion.store import tables
from domain.feeds import verbs
from domain.feeds.service import record_activity, retract_activity
from domain.notifications.service import notify

log = logging.getLogger("readalong.discussion")

MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])")
MAX_MENTIONS = 10  # per message: more @handles than this are not notified
EXCERPT_CHARS = 200


def mentioned_handles(body: str | None) -> list[str]:
    """The distinct @handles in a chat body (lower-cased, in order, at most MAX_MENTIONS)."""
    seen: list[str] = []
    for match in MENTION_RE.finditer(body or ""):
        handle = match.group(1).lower()
        if handle not in seen:
            seen.append(handle)
            if len(seen) == MAX_MENTIONS:
                break
    return seen


def _where(title: str, gate: float) -> str:
    return f"'{title}' (at {round(gate * 100)}%)"


async def mentions(db: Database, redis: Redis | None, venue: Venue, place: Place,
                   msg: MessageOut) -> int:
    """Notify each @mentioned user who may read the place (not the author); one behind the
    message's gate (shield on) gets who and where only, others also an excerpt."""
    handles = mentioned_handles(msg.body)
    if not handles:
        return 0
    sent = 0
    users = await db.pool.fetch("SELECT id, role FROM users WHERE lower(handle) = ANY($1::text[])",
                                handles)
    for u in users:
        uid = int(u["id"])
        if uid == msg.author_id or not await venue.may_read(db, place, uid, u["role"]):
            continue
        state = await venue.viewer(db, place.id, uid)
        behind = is_shielded(state, msg.gate, msg.author_id)
        payload: dict[str, Any] = {
            "where": _where(place.title, msg.gate), "title": place.title,
            f"{place.kind}_id": place.id, "message_id": msg.id, "gate": msg.gate,
            "redacted": behind}
        if not behind:
            payload["excerpt"] = (msg.body or "")[:EXCERPT_CHARS]
        nid = await notify(db, redis, recipient_id=uid, type="mention", actor_id=msg.author_id,
                           target_kind=place.kind, target_id=place.id, payload=payload)
        sent += nid is not None
    return sent


async def replied(db: Database, redis: Redis | None, venue: Venue, place: Place,
                  msg: MessageOut) -> int | None:
    """A reply notifies the author of the post it hangs under (not themselves, and only if
    they may still read the place); behind the reply's gate they get who and where only."""
    if msg.parent_id is None:
        return None
    row = await db.pool.fetchrow(f"SELECT m.author_id, u.role FROM {tables(place).messages} m"
                                 " JOIN users u ON u.id = m.author_id WHERE m.id = $1",
                                 msg.parent_id)
    if row is None or int(row["author_id"]) == msg.author_id or \
            not await venue.may_read(db, place, int(row["author_id"]), row["role"]):
        return None
    uid = int(row["author_id"])
    state = await venue.viewer(db, place.id, uid)
    if msg.author_id in state.hidden_authors:
        return None
    behind = is_shielded(state, msg.gate, msg.author_id)
    payload: dict[str, Any] = {
        "where": _where(place.title, msg.gate), "title": place.title,
        f"{place.kind}_id": place.id, "message_id": msg.id, "parent_id": msg.parent_id,
        "gate": msg.gate, "redacted": behind}
    if not behind:
        payload["excerpt"] = (msg.body or "")[:EXCERPT_CHARS]
    return await notify(db, redis, recipient_id=uid, type="message_reply",
                        actor_id=msg.author_id, target_kind=place.kind, target_id=place.id,
                        payload=payload)


async def _annotation_author(db: Database, place: Place, annotation_id: int) -> int | None:
    author = await db.pool.fetchval(
        f"SELECT author_id FROM {tables(place).annotations} WHERE id = $1"
        " AND deleted_at IS NULL", annotation_id)
    return int(author) if author is not None else None


async def annotated(db: Database, redis: Redis | None, place: Place, ann: AnnotationOut) -> None:
    """A public note of a public place becomes a `published_annotation` activity (no quote or
    note: the feed is not behind the shield); a reply (not private) notifies the parent's
    author."""
    if reaches_beyond_place(ann.visibility, place.audience):
        await record_activity(db, redis, actor_id=ann.author_id,
                              verb=verbs.PUBLISHED_ANNOTATION, object_kind="annotation",
                              object_id=ann.id, payload={
                                  "title": place.book_title, "book_id": ann.book_id,
                                  f"{place.kind}_id": place.id, "annotation_id": ann.id,
                                  "gate": ann.gate})
    if ann.parent_id is not None and ann.visibility != "private":
        parent_author = await _annotation_author(db, place, ann.parent_id)
        if parent_author is not None:
            await notify(db, redis, recipient_id=parent_author, type="annotation_reply",
                         actor_id=ann.author_id, target_kind="annotation",
                         target_id=ann.parent_id, payload={
                             "title": place.title, f"{place.kind}_id": place.id,
                             "annotation_id": ann.parent_id, "reply_id": ann.id})


async def unannotated(db: Database, ann: AnnotationOut) -> None:
    """A deleted public annotation leaves the feeds (its activity row goes)."""
    if ann.visibility == "public":
        await retract_activity(db, actor_id=ann.author_id, verb=verbs.PUBLISHED_ANNOTATION,
                               object_kind="annotation", object_id=ann.id)


async def reacted(db: Database, redis: Redis | None, place: Place, r: ReactionOut) -> None:
    """A reaction to an annotation notifies its author (grouped by `notify`)."""
    if r.annotation_id is None:
        return
    author = await _annotation_author(db, place, r.annotation_id)
    if author is None:
        return
    await notify(db, redis, recipient_id=author, type="annotation_reaction",
                 actor_id=r.author_id, target_kind="annotation", target_id=r.annotation_id,
                 payload={"title": place.title, f"{place.kind}_id": place.id,
                          "annotation_id": r.annotation_id})


def runner(venue: Venue) -> Runner:
    """The effect runner for a venue's places (what `commit.deliver` calls per effect)."""

    async def run(db: Database, redis: Redis | None, effect: Effect) -> None:
        try:
            if effect.kind == "mentions":
                await mentions(db, redis, venue, effect.place, effect.item)
            elif effect.kind == "replied":
                await replied(db, redis, venue, effect.place, effect.item)
            elif effect.kind == "annotated":
                await annotated(db, redis, effect.place, effect.item)
            elif effect.kind == "unannotated":
                await unannotated(db, effect.item)
            elif effect.kind == "reacted":
                await reacted(db, redis, effect.place, effect.item)
        except Exception:
            log.exception("%s after item %s failed", effect.kind,
                          getattr(effect.item, "id", "?"))

    return run
