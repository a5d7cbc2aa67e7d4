"""Reading a place's discussion through the shield: paged listings (REST), the book-wide
annotation listing, and what a reader unlocks by moving forward (pushed by the room)."""

from __future__ import annotations

from typing import Any

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.discussion import store
from domain.discussion.place import Place, Venue
from domain.discussion.schemas import AnnotationPage, MessagePage, ReactionPage
from domain.discussion.spoilers import ViewerState, for_viewer
from domain.errors import Invalid
from domain.social.rules import hidden_user_ids


def parse_cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 2**63 - 1:
        raise Invalid("cursor is not one this API gave out", code="invalid_cursor",
                      field="cursor")
    return number


def _page(items: list[Any], rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    return items, (str(rows[limit - 1]["id"]) if more else None)


def _limit(limit: int) -> int:
    return max(1, min(limit, 200))


async def _open(db: Database, venue: Venue, place_id: int,
                viewer: Principal | None) -> tuple[Place, ViewerState]:
    place = await venue.place(db, place_id)
    await venue.check_readable(db, place, viewer)
    return place, await venue.viewer(db, place.id, viewer.user_id if viewer else None)


def parse_before(value: str) -> int:
    """The `before` cursor: `latest` (the newest page) or the id the page ends before."""
    if value == "latest":
        return 2**63 - 1
    try:
        if value:
            return parse_cursor(value)
    except Invalid:
        pass
    raise Invalid("before is not a cursor this API gave out (or `latest`)",
                  code="invalid_cursor", field="before")


async def list_messages(db: Database, venue: Venue, place_id: int, viewer: Principal | None,
                        cursor: str | None = None, limit: int = 50,
                        before: str | None = None) -> MessagePage:
    """Chat in order (oldest first, `cursor` = last id seen), through the shield; with
    `before` the page is newest first and ends before that id (`latest`: the newest page),
    its `next_cursor` the `before` of the next, earlier page."""
    if before is not None and cursor:
        raise Invalid("give either cursor or before, not both", code="invalid_cursor",
                      field="before")
    upper = parse_before(before) if before is not None else None
    place, state = await _open(db, venue, place_id, viewer)
    limit, t = _limit(limit), store.tables(place)
    where = f" WHERE m.{t.place} = $1 AND m.deleted_at IS NULL"
    if upper is None:
        rows = await db.pool.fetch(store.msg_sql(t) + where + " AND m.id > $2"
                                   f" ORDER BY m.id LIMIT {limit + 1}", place.id,
                                   parse_cursor(cursor))
    else:
        rows = await db.pool.fetch(store.msg_sql(t) + where + " AND m.id < $2"
                                   f" ORDER BY m.id DESC LIMIT {limit + 1}", place.id, upper)
    items = [v for r in rows[:limit]
             if (v := for_viewer(state, store.message_out(r))) is not None]
    return MessagePage(*_page(items, rows, limit))


async def list_reactions(db: Database, venue: Venue, place_id: int, viewer: Principal | None,
                         cursor: str | None = None, limit: int = 100) -> ReactionPage:
    """Reactions through the shield; each count is over the reactions this viewer sees in full."""
    place, state = await _open(db, venue, place_id, viewer)
    limit, t = _limit(limit), store.tables(place)
    rows = await db.pool.fetch(
        store.react_sql(t, store.viewer_count(3)) + f" WHERE r.{t.place} = $1 AND r.id > $2"
        f" ORDER BY r.id LIMIT {limit + 1}", place.id, parse_cursor(cursor),
        *store.viewer_args(state))
    items = [v for r in rows[:limit]
             if (v := for_viewer(state, store.reaction_out(r))) is not None]
    return ReactionPage(*_page(items, rows, limit))


async def list_annotations(db: Database, venue: Venue, place_id: int, viewer: Principal | None,
                           cursor: str | None = None, limit: int = 50) -> AnnotationPage:
    """A place's annotations (all but others' private ones), through the shield."""
    place, state = await _open(db, venue, place_id, viewer)
    limit, t = _limit(limit), store.tables(place)
    rows = await db.pool.fetch(
        store.ann_sql(t) + f" WHERE a.{t.place} = $1 AND a.deleted_at IS NULL AND a.id > $2"
        " AND (a.visibility <> 'private' OR a.author_id = $3)"
        f" ORDER BY a.id LIMIT {limit + 1}", place.id, parse_cursor(cursor), state.user_id)
    items = [v for r in rows[:limit]
             if (v := for_viewer(state, store.annotation_out(r))) is not None]
    return AnnotationPage(*_page(items, rows, limit))


async def book_progress(db: Database, user_id: int, book_id: int) -> float | None:
    """How far a reader got in a book: their reading state's furthest progression (every
    source moves it, session moves included), never below the furthest of the sessions they
    joined for it (a state the reader deleted does not reopen spoilers)."""
    value = await db.pool.fetchval(
        "SELECT GREATEST((SELECT max(p.furthest) FROM session_participants p JOIN"
        " reading_sessions s ON s.id = p.session_id WHERE p.user_id = $1 AND s.book_id = $2),"
        " (SELECT r.furthest FROM reading_states r WHERE r.user_id = $1 AND r.book_id = $2))",
        user_id, book_id)
    return float(value) if value is not None else None


async def list_book_annotations(db: Database, venue: Venue, viewer: Principal | None,
                                book_id: int, cursor: str | None = None, limit: int = 50,
                                shield: bool = True) -> AnnotationPage:
    """Public annotations on a book (plus the viewer's own) from places the viewer may read
    (an item is never readable wider than its place), gated by the viewer's furthest
    progression in that book; `shield=False` opts out of redaction."""
    limit, t = _limit(limit), store.TABLES[venue.kind]
    uid = viewer.user_id if viewer else 0
    hidden = frozenset(await hidden_user_ids(db, uid)) if viewer else frozenset()
    progress = await book_progress(db, uid, book_id) if viewer else None
    state = ViewerState(user_id=uid, progress=progress, shield=shield, hidden_authors=hidden)
    readable = venue.readable_sql(f"a.{t.place}", "$3")
    rows = await db.pool.fetch(
        store.ann_sql(t) + " WHERE a.book_id = $1 AND a.deleted_at IS NULL AND a.id > $2 AND"
        f" ((a.visibility = 'public' AND (a.{t.place} IS NULL OR {readable}))"
        " OR a.author_id = $3)"
        f" ORDER BY a.id LIMIT {limit + 1}", book_id, parse_cursor(cursor), uid)
    items = [v for r in rows[:limit]
             if (v := for_viewer(state, store.annotation_out(r))) is not None]
    return AnnotationPage(*_page(items, rows, limit))


def _any_gated(t: store.Tables) -> str:
    return (f"SELECT EXISTS (SELECT 1 FROM {t.messages} WHERE {t.place} = $1 AND gate > $2"
            " AND gate <= $3 AND deleted_at IS NULL AND author_id <> $4)"
            f" OR EXISTS (SELECT 1 FROM {t.reactions} WHERE {t.place} = $1 AND gate > $2"
            " AND gate <= $3 AND author_id <> $4)"
            f" OR EXISTS (SELECT 1 FROM {t.annotations} WHERE {t.place} = $1 AND gate > $2"
            " AND gate <= $3 AND deleted_at IS NULL AND author_id <> $4"
            " AND visibility <> 'private')")


async def unlocked_between(db: Database, kind: str, place_id: int, state: ViewerState,
                           old: float, new: float, *, known_gated: bool = False,
                           kinds: str = "mra") -> list[Any]:
    """Content whose gate a reader just passed (old < gate <= new), full, oldest first —
    what the room pushes when they move forward (one cheap query when there is none).
    `kinds` (from the move's statement) skips the queries of kinds with no gate there."""
    if new <= old:
        return []
    uid, t = state.user_id, store.TABLES[kind]
    if not known_gated and not await db.pool.fetchval(_any_gated(t), place_id, old, new, uid):
        return []
    where = f" {t.place} = $1 AND {{a}}.gate > $2 AND {{a}}.gate <= $3 AND {{a}}.author_id <> $4"
    msgs = [] if "m" not in kinds else await db.pool.fetch(
        store.msg_sql(t) + " WHERE m." + where.format(a="m") + " AND m.deleted_at IS NULL"
        " ORDER BY m.id", place_id, old, new, uid)
    reacts = [] if "r" not in kinds else await db.pool.fetch(
        store.react_sql(t) + " WHERE r." + where.format(a="r") + " ORDER BY r.id",
        place_id, old, new, uid)
    anns = [] if "a" not in kinds else await db.pool.fetch(
        store.ann_sql(t) + " WHERE a." + where.format(a="a") + " AND a.deleted_at IS NULL"
        " AND a.visibility <> 'private' ORDER BY a.id", place_id, old, new, uid)
    items: list[Any] = [store.message_out(r) for r in msgs]
    items += [store.reaction_out(r) for r in reacts]
    items += [store.annotation_out(r) for r in anns]
    return [i for i in items if i.author_id not in state.hidden_authors]
