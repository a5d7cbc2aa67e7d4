"""Content use-cases: chat, reactions and annotations — stored gated, listed through the shield."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.sessions.books import get_book
from domain.sessions.lifecycle import fetch_session, may_see, parse_cursor
from domain.sessions.schemas import (
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
    ReactionOut,
    ReactionPage,
    Selector,
    TextQuoteSelector,
)
from domain.sessions.spoilers import ViewerState, check_progression, for_viewer
from domain.social.rules import hidden_user_ids

_MSG_SQL = ("SELECT m.id, m.session_id, m.author_id, u.display_name AS author_name, m.gate,"
            " m.chapter, m.locator, m.created_at, m.edited_at, m.body FROM session_messages m"
            " JOIN users u ON u.id = m.author_id")
_REACT_SQL = ("SELECT r.id, r.session_id, r.author_id, u.display_name AS author_name, r.gate,"
              " r.chapter, r.locator, r.created_at, r.emoji, (SELECT count(*) FROM"
              " session_reactions c WHERE c.session_id = r.session_id AND c.locator = r.locator"
              " AND c.emoji = r.emoji) AS count, r.annotation_id FROM session_reactions r"
              " JOIN users u ON u.id = r.author_id")
_ANN_SQL = ("SELECT a.id, a.session_id, a.book_id, a.author_id, u.display_name AS author_name,"
            " a.visibility, a.gate, a.range_start, a.range_end, a.chapter, a.locator,"
            " a.created_at, a.selectors, a.quote, a.note, a.parent_id FROM session_annotations a"
            " JOIN users u ON u.id = a.author_id")
_selectors = msgspec.json.Decoder(list[Selector])


def message_out(r: Any) -> MessageOut:
    return MessageOut(id=r["id"], session_id=r["session_id"], author_id=r["author_id"],
                      author_name=r["author_name"], gate=r["gate"], chapter=r["chapter"],
                      locator=r["locator"], created_at=r["created_at"],
                      edited_at=r["edited_at"], body=r["body"])


def reaction_out(r: Any) -> ReactionOut:
    return ReactionOut(id=r["id"], session_id=r["session_id"], author_id=r["author_id"],
                       author_name=r["author_name"], gate=r["gate"], chapter=r["chapter"],
                       locator=r["locator"], created_at=r["created_at"], emoji=r["emoji"],
                       count=int(r["count"]), annotation_id=r["annotation_id"])


def annotation_out(r: Any) -> AnnotationOut:
    raw = r["selectors"]
    sels = _selectors.decode(raw.encode() if isinstance(raw, str) else raw)
    return AnnotationOut(id=r["id"], session_id=r["session_id"], book_id=r["book_id"],
                         author_id=r["author_id"], author_name=r["author_name"],
                         visibility=r["visibility"], gate=r["gate"],
                         range_start=r["range_start"], range_end=r["range_end"],
                         chapter=r["chapter"], locator=r["locator"],
                         created_at=r["created_at"], selectors=sels, quote=r["quote"],
                         note=r["note"], parent_id=r["parent_id"])


async def viewer_state(db: Database, session_id: int, user_id: int | None) -> ViewerState:
    """The viewer's furthest progression and shield in a session, and the authors hidden from
    them (blocked either way, muted). Outsiders see everything gated as not yet read."""
    if user_id is None:
        return ViewerState(user_id=0, progress=None, shield=True)
    row = await db.pool.fetchrow(
        "SELECT p.furthest, COALESCE(p.shield, s.shield_default) AS shield FROM"
        " reading_sessions s LEFT JOIN session_participants p ON p.session_id = s.id"
        " AND p.user_id = $2 WHERE s.id = $1", session_id, user_id)
    hidden = frozenset(await hidden_user_ids(db, user_id))
    if row is None:
        return ViewerState(user_id=user_id, progress=None, shield=True, hidden_authors=hidden)
    return ViewerState(user_id=user_id, progress=row["furthest"],
                       shield=True if row["shield"] is None else bool(row["shield"]),
                       hidden_authors=hidden)


async def active_participant(db: Database, session_id: int, who: Principal,
                              *, chat: bool = False) -> tuple[Any, Any]:
    """The live session and the author's participant row, or the error saying why not."""
    row = await fetch_session(db, session_id)
    if row["status"] == "ended":
        raise Conflict("the session has ended and is read-only", code="session_ended")
    if row["status"] != "live":
        raise Conflict("the session has not started yet", code="session_not_live")
    part = await db.pool.fetchrow(
        "SELECT * FROM session_participants WHERE session_id = $1 AND user_id = $2",
        session_id, who.user_id)
    if part is None:
        raise Forbidden("join the session first", code="not_participant")
    if part["kicked"]:
        raise Forbidden("you were removed from this session", code="kicked")
    privileged = who.user_id == row["host_id"] or who.is_moderator
    if chat and part["muted"] and not privileged:
        raise Forbidden("the host muted you in this session", code="muted")
    if chat and row["chat_locked"] and not privileged:
        raise Forbidden("the host locked the chat", code="chat_locked")
    return row, part


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise Invalid("body must be a string", code="invalid_message", field="body")
    text = body.strip()
    if not text:
        raise Invalid("a message needs some text", code="empty_message", field="body")
    if len(text) > MAX_MESSAGE_CHARS:
        raise Invalid(f"a message holds at most {MAX_MESSAGE_CHARS} characters",
                      code="message_too_long", field="body")
    return text


async def post_message(db: Database, who: Principal, session_id: int, body: Any) -> MessageOut:
    """Store a chat message gated at the author's current progression."""
    text = _clean_body(body)
    _, part = await active_participant(db, session_id, who, chat=True)
    gate = part["progression"] or 0.0
    row = await db.pool.fetchrow(
        "WITH m AS (INSERT INTO session_messages (session_id, author_id, body, gate, locator,"
        " chapter) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)"
        " SELECT m.id, m.session_id, m.author_id, u.display_name AS author_name, m.gate,"
        " m.chapter, m.locator, m.created_at, m.edited_at, m.body FROM m"
        " JOIN users u ON u.id = m.author_id",
        session_id, who.user_id, text, gate, part["locator"], part["chapter"])
    return message_out(row)


async def edit_message(db: Database, who: Principal, session_id: int, message_id: Any,
                       body: Any) -> MessageOut:
    """The author edits their message (not in an ended session)."""
    text = _clean_body(body)
    mid = _id(message_id, "message_id")
    row = await fetch_session(db, session_id)
    if row["status"] == "ended":
        raise Conflict("the session has ended and is read-only", code="session_ended")
    msg = await db.pool.fetchrow(
        "SELECT author_id, deleted_at FROM session_messages WHERE id = $1 AND session_id = $2",
        mid, session_id)
    if msg is None or msg["deleted_at"] is not None:
        raise NotFound(f"no message {mid}", code="message_not_found", field="message_id")
    if msg["author_id"] != who.user_id:
        raise Forbidden("only the author may edit a message", code="not_author")
    await db.pool.execute("UPDATE session_messages SET body = $2, edited_at = now()"
                          " WHERE id = $1", mid, text)
    return message_out(await db.pool.fetchrow(_MSG_SQL + " WHERE m.id = $1", mid))


async def delete_message(db: Database, who: Principal, session_id: int,
                         message_id: Any) -> MessageOut:
    """The author, the host or a moderator deletes a message (it leaves every listing)."""
    mid = _id(message_id, "message_id")
    row = await fetch_session(db, session_id)
    msg = await db.pool.fetchrow(_MSG_SQL + " WHERE m.id = $1 AND m.session_id = $2"
                                 " AND m.deleted_at IS NULL", mid, session_id)
    if msg is None:
        raise NotFound(f"no message {mid}", code="message_not_found", field="message_id")
    _check_may_remove(who, msg["author_id"], row["host_id"], "a message")
    await db.pool.execute("UPDATE session_messages SET deleted_at = now(), deleted_by = $2"
                          " WHERE id = $1", mid, who.user_id)
    return message_out(msg)


def _check_may_remove(who: Principal, author_id: int, host_id: int, what: str) -> None:
    """The one rule for deleting content: its author, the session's host or a moderator."""
    if who.user_id not in (author_id, host_id) and not who.is_moderator:
        raise Forbidden(f"only the author, the host or a moderator may delete {what}",
                        code="not_allowed")


def _id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"{field} must be a positive integer", code="invalid_id", field=field)
    return value


async def react(db: Database, who: Principal, session_id: int, emoji: Any,
                position: Position | None, annotation_id: Any = None) -> ReactionOut:
    """An emoji from the fixed set on a passage; gated at max(anchor, author's progression).
    With `annotation_id` it reacts to that annotation (same session, visible to the reactor),
    anchored at the annotation's passage unless a position is given."""
    if emoji not in EMOJI:
        raise Invalid("emoji must be one of " + " ".join(EMOJI), code="invalid_emoji",
                      field="emoji")
    target = None
    if annotation_id is not None:
        target = await _annotation_for(db, who, session_id, _id(annotation_id, "annotation_id"),
                                       "annotation_id")
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
    _, part = await active_participant(db, session_id, who)
    gate = max(anchor, part["progression"] or 0.0)
    book = await get_book(db, (await fetch_session(db, session_id))["book_id"])
    new_id = await db.pool.fetchval(
        "INSERT INTO session_reactions (session_id, author_id, emoji, gate, locator, chapter,"
        " annotation_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        session_id, who.user_id, emoji, gate, position.locator, book.chapter_at(anchor),
        target["id"] if target is not None else None)
    return reaction_out(await db.pool.fetchrow(_REACT_SQL + " WHERE r.id = $1", new_id))


async def _annotation_for(db: Database, who: Principal, session_id: int, annotation_id: int,
                          field: str) -> Any:
    """An annotation of this session that `who` may see (not deleted, not someone else's
    private one, its author not blocked either way or muted), or `annotation_not_found`."""
    row = await db.pool.fetchrow(
        "SELECT id, author_id, visibility, gate, locator FROM session_annotations WHERE id = $1"
        " AND session_id = $2 AND deleted_at IS NULL", annotation_id, session_id)
    if row is None or (row["visibility"] == "private" and row["author_id"] != who.user_id) or \
            row["author_id"] in await hidden_user_ids(db, who.user_id):
        raise NotFound(f"no annotation {annotation_id} in this session",
                       code="annotation_not_found", field=field)
    return row


def _check_selectors(selectors: list[Any]) -> tuple[float, float, str | None, str | None]:
    """(range start, range end, quote, locator) from W3C-style selectors, or Invalid."""
    if not selectors:
        raise Invalid("an annotation needs selectors (a progression range at least)",
                      code="empty_selectors", field="selectors")
    rng = [s for s in selectors if isinstance(s, ProgressionSelector)]
    quotes = [s for s in selectors if isinstance(s, TextQuoteSelector)]
    locs = [s for s in selectors if isinstance(s, LocatorSelector)]
    if len(rng) != 1:
        raise Invalid("exactly one ProgressionSelector is needed", code="empty_selectors",
                      field="selectors")
    start = check_progression(rng[0].start, "selectors.start")
    end = check_progression(rng[0].end, "selectors.end")
    if start > end:
        raise Invalid("the range must not end before it starts", code="invalid_position",
                      field="selectors")
    quote = None
    if quotes:
        q = quotes[0]
        if not q.exact.strip():
            raise Invalid("a TextQuoteSelector needs the exact text", code="empty_selectors",
                          field="selectors.exact")
        if len(q.exact) + len(q.prefix) + len(q.suffix) > MAX_QUOTE_CHARS:
            raise Invalid("the quoted text is too long", code="quote_too_long",
                          field="selectors.exact")
        quote = q.exact
    locator = None
    if locs:
        if not locs[0].value or len(locs[0].value) > 512:
            raise Invalid("a LocatorSelector needs a value of at most 512 characters",
                          code="empty_selectors", field="selectors.value")
        locator = locs[0].value
    return start, end, quote, locator


async def annotate(db: Database, who: Principal, session_id: int,
                   data: AnnotationCreate) -> AnnotationOut:
    """A highlight/note in a live session, gated at the end of the anchored passage."""
    start, end, quote, locator = _check_selectors(data.selectors)
    if len(data.note) > MAX_NOTE_CHARS:
        raise Invalid(f"a note holds at most {MAX_NOTE_CHARS} characters", code="note_too_long",
                      field="note")
    row, _ = await active_participant(db, session_id, who)
    parent = None
    if data.parent_id is not None:  # a reply: to an annotation of this session the author sees
        parent = (await _annotation_for(db, who, session_id, _id(data.parent_id, "parent_id"),
                                        "parent_id"))["id"]
    book = await get_book(db, row["book_id"])
    new_id = await db.pool.fetchval(
        "INSERT INTO session_annotations (session_id, book_id, author_id, visibility, selectors,"
        " quote, note, range_start, range_end, gate, locator, chapter, parent_id) VALUES ($1,"
        " $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $9, $10, $11, $12) RETURNING id",
        session_id, row["book_id"], who.user_id, data.visibility,
        msgspec.json.encode(data.selectors).decode(), quote, data.note.strip(), start, end,
        locator, book.chapter_at(start), parent)
    return annotation_out(await db.pool.fetchrow(_ANN_SQL + " WHERE a.id = $1", new_id))


async def delete_annotation(db: Database, who: Principal, session_id: int,
                            annotation_id: Any) -> AnnotationOut:
    """The author, the host or a moderator removes an annotation (from every listing)."""
    aid = _id(annotation_id, "annotation_id")
    row = await fetch_session(db, session_id)
    ann = await db.pool.fetchrow(_ANN_SQL + " WHERE a.id = $1 AND a.session_id = $2"
                                 " AND a.deleted_at IS NULL", aid, session_id)
    if ann is None:
        raise NotFound(f"no annotation {aid}", code="annotation_not_found",
                       field="annotation_id")
    _check_may_remove(who, ann["author_id"], row["host_id"], "an annotation")
    await db.pool.execute("UPDATE session_annotations SET deleted_at = now() WHERE id = $1", aid)
    return annotation_out(ann)


def _page(items: list[Any], rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    return items, (str(rows[limit - 1]["id"]) if more else None)


def _limit(limit: int) -> int:
    return max(1, min(limit, 200))


async def _readable(db: Database, session_id: int, viewer: Principal | None) -> None:
    row = await fetch_session(db, session_id)
    if not await may_see(db, row, viewer):
        raise NotFound(f"no session {session_id}", code="session_not_found")
    if viewer is not None and not viewer.is_moderator:
        kicked = await db.pool.fetchval(
            "SELECT kicked FROM session_participants WHERE session_id = $1 AND user_id = $2",
            session_id, viewer.user_id)
        if kicked:
            raise Forbidden("you were removed from this session", code="kicked")


async def list_messages(db: Database, viewer: Principal | None, session_id: int,
                        cursor: str | None = None, limit: int = 50) -> MessagePage:
    """Chat in order (oldest first, `cursor` = last id seen), through the shield."""
    await _readable(db, session_id, viewer)
    limit = _limit(limit)
    state = await viewer_state(db, session_id, viewer.user_id if viewer else None)
    rows = await db.pool.fetch(
        _MSG_SQL + " WHERE m.session_id = $1 AND m.deleted_at IS NULL AND m.id > $2"
        f" ORDER BY m.id LIMIT {limit + 1}", session_id, parse_cursor(cursor) or 0)
    items = [v for r in rows[:limit] if (v := for_viewer(state, message_out(r))) is not None]
    return MessagePage(*_page(items, rows, limit))


async def list_reactions(db: Database, viewer: Principal | None, session_id: int,
                         cursor: str | None = None, limit: int = 100) -> ReactionPage:
    await _readable(db, session_id, viewer)
    limit = _limit(limit)
    state = await viewer_state(db, session_id, viewer.user_id if viewer else None)
    rows = await db.pool.fetch(
        _REACT_SQL + f" WHERE r.session_id = $1 AND r.id > $2 ORDER BY r.id LIMIT {limit + 1}",
        session_id, parse_cursor(cursor) or 0)
    items = [v for r in rows[:limit] if (v := for_viewer(state, reaction_out(r))) is not None]
    return ReactionPage(*_page(items, rows, limit))


async def list_session_annotations(db: Database, viewer: Principal | None, session_id: int,
                                   cursor: str | None = None, limit: int = 50) -> AnnotationPage:
    """A session's annotations (session- and public-visible, plus the viewer's private ones)."""
    await _readable(db, session_id, viewer)
    limit = _limit(limit)
    uid = viewer.user_id if viewer else 0
    state = await viewer_state(db, session_id, viewer.user_id if viewer else None)
    rows = await db.pool.fetch(
        _ANN_SQL + " WHERE a.session_id = $1 AND a.deleted_at IS NULL AND a.id > $2 AND"
        " (a.visibility <> 'private' OR a.author_id = $3)"
        f" ORDER BY a.id LIMIT {limit + 1}", session_id, parse_cursor(cursor) or 0, uid)
    items = [v for r in rows[:limit] if (v := for_viewer(state, annotation_out(r))) is not None]
    return AnnotationPage(*_page(items, rows, limit))


async def book_progress(db: Database, user_id: int, book_id: int) -> float | None:
    """How far a reader got in a book across all the sessions they joined for it."""
    return await db.pool.fetchval(
        "SELECT max(p.furthest) FROM session_participants p JOIN reading_sessions s"
        " ON s.id = p.session_id WHERE p.user_id = $1 AND s.book_id = $2", user_id, book_id)


async def list_book_annotations(db: Database, viewer: Principal | None, book_id: int,
                                cursor: str | None = None, limit: int = 50,
                                shield: bool = True) -> AnnotationPage:
    """Public annotations on a book (plus the viewer's own), gated by the viewer's furthest
    progression in that book; `shield=False` opts out of redaction."""
    await get_book(db, book_id)
    limit = _limit(limit)
    uid = viewer.user_id if viewer else 0
    hidden = frozenset(await hidden_user_ids(db, uid)) if viewer else frozenset()
    progress = await book_progress(db, uid, book_id) if viewer else None
    state = ViewerState(user_id=uid, progress=progress, shield=shield, hidden_authors=hidden)
    rows = await db.pool.fetch(
        _ANN_SQL + " WHERE a.book_id = $1 AND a.deleted_at IS NULL AND a.id > $2 AND"
        " (a.visibility = 'public' OR a.author_id = $3)"
        f" ORDER BY a.id LIMIT {limit + 1}", book_id, parse_cursor(cursor) or 0, uid)
    items = [v for r in rows[:limit] if (v := for_viewer(state, annotation_out(r))) is not None]
    return AnnotationPage(*_page(items, rows, limit))


_ANY_GATED = """
SELECT EXISTS (SELECT 1 FROM session_messages WHERE session_id = $1 AND gate > $2 AND gate <= $3
               AND deleted_at IS NULL AND author_id <> $4)
    OR EXISTS (SELECT 1 FROM session_reactions WHERE session_id = $1 AND gate > $2
               AND gate <= $3 AND author_id <> $4)
    OR EXISTS (SELECT 1 FROM session_annotations WHERE session_id = $1 AND gate > $2
               AND gate <= $3 AND deleted_at IS NULL AND author_id <> $4
               AND visibility <> 'private')
"""


async def unlocked_between(db: Database, session_id: int, state: ViewerState,
                           old: float, new: float, *, known_gated: bool = False,
                           kinds: str = "mra") -> list[Any]:
    """Content whose gate a reader just passed (old < gate <= new), full, oldest first —
    what the room pushes when they move forward (one cheap query when there is none).
    `kinds` (from the move's statement) skips the queries of kinds with no gate there."""
    if new <= old:
        return []
    uid = state.user_id
    if not known_gated and not await db.pool.fetchval(_ANY_GATED, session_id, old, new, uid):
        return []
    msgs = [] if "m" not in kinds else await db.pool.fetch(
        _MSG_SQL + " WHERE m.session_id = $1 AND m.deleted_at IS NULL AND m.gate > $2"
        " AND m.gate <= $3 AND m.author_id <> $4 ORDER BY m.id", session_id, old, new, uid)
    reacts = [] if "r" not in kinds else await db.pool.fetch(
        _REACT_SQL + " WHERE r.session_id = $1 AND r.gate > $2 AND r.gate <= $3"
        " AND r.author_id <> $4 ORDER BY r.id", session_id, old, new, uid)
    anns = [] if "a" not in kinds else await db.pool.fetch(
        _ANN_SQL + " WHERE a.session_id = $1 AND a.deleted_at IS NULL AND a.gate > $2"
        " AND a.gate <= $3 AND a.author_id <> $4 AND a.visibility <> 'private'"
        " ORDER BY a.id", session_id, old, new, uid)
    items: list[Any] = [message_out(r) for r in msgs]
    items += [reaction_out(r) for r in reacts]
    items += [annotation_out(r) for r in anns]
    return [i for i in items if i.author_id not in state.hidden_authors]


def to_dict(item: Any) -> dict[str, Any]:
    """A content Struct as plain JSON-ready data (for RoomEvent payloads)."""
    return json.loads(msgspec.json.encode(item))
