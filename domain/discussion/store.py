"""Rows of the shielded discussion: the SQL that reads and writes messages, reactions and
annotations of a place, and the row -> Struct mappers. One table set per place kind."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.discussion.place import Place
from domain.discussion.schemas import AnnotationOut, MessageOut, ReactionOut, Selector
from domain.discussion.spoilers import ViewerState


class Tables(msgspec.Struct, frozen=True):
    """Where a place kind keeps its content (same columns in each; `place` names the id column)."""

    messages: str
    reactions: str
    annotations: str
    place: str
    replies: bool = False   # messages have `parent_id` (one level of replies)


#: A new place kind adds its table set here (by a migration with the same columns).
TABLES = {"session": Tables("session_messages", "session_reactions", "session_annotations",
                            "session_id"),
          "club": Tables("club_messages", "club_reactions", "club_annotations", "club_id"),
          "club_thread": Tables("club_thread_messages", "club_thread_reactions",
                                "club_thread_annotations", "section_id", replies=True)}


def tables(place: Place) -> Tables:
    return TABLES[place.kind]


def msg_sql(t: Tables) -> str:
    parent = "m.parent_id" if t.replies else "NULL::bigint AS parent_id"
    return (f"SELECT m.id, m.{t.place} AS place_id, m.author_id, u.display_name AS author_name,"
            " m.gate, m.chapter, m.locator, m.created_at, m.edited_at, m.body, m.deleted_at,"
            f" {parent} FROM {t.messages} m JOIN users u ON u.id = m.author_id")


#: count as of the reaction's own gate: safe for every receiver of its full variant
GATE_COUNT = "c.gate <= r.gate"
#: count over what one viewer sees in full ($V viewer, $S shield, $P progress, $H hidden)
VIEWER_COUNT = ("(c.author_id = {v} OR NOT {s} OR c.gate <= {p})"
                " AND NOT (c.author_id = ANY({h}::bigint[]))")


def react_sql(t: Tables, count_rule: str = GATE_COUNT, counted: str | None = None) -> str:
    """Reactions with their count; `counted`: the rows counted (default the table)."""
    return (f"SELECT r.id, r.{t.place} AS place_id, r.author_id, u.display_name AS author_name,"
            " r.gate, r.chapter, r.locator, r.created_at, r.emoji, (SELECT count(*) FROM"
            f" {counted or t.reactions} c WHERE c.{t.place} = r.{t.place} AND c.locator = r.locator"
            f" AND c.emoji = r.emoji AND {count_rule}) AS count, r.annotation_id"
            f" FROM {t.reactions} r JOIN users u ON u.id = r.author_id")


def react_both_sql(t: Tables, first: int, counted: str | None = None) -> str:
    """`react_sql` with both counts: `count` (as of its gate) and `viewer_count` (over what the
    viewer in parameters `first`.. sees in full), for a new reaction's event and its ack."""
    return react_sql(t, counted=counted).replace(" AS count,", " AS count, (SELECT count(*) FROM"
                                f" {counted or t.reactions} c WHERE c.{t.place} = r.{t.place}"
                                " AND c.locator = r.locator AND c.emoji = r.emoji AND"
                                f" {viewer_count(first)}) AS viewer_count,")


def viewer_count(first: int) -> str:
    """VIEWER_COUNT with its four parameters numbered from `first`."""
    return VIEWER_COUNT.format(v=f"${first}", s=f"${first + 1}", p=f"${first + 2}",
                               h=f"${first + 3}")


def viewer_args(state: ViewerState) -> list[Any]:
    return [state.user_id, state.shield, state.progress or 0.0, list(state.hidden_authors)]


def ann_sql(t: Tables) -> str:
    return (f"SELECT a.id, a.{t.place} AS place_id, a.book_id, a.author_id,"
            " u.display_name AS author_name, a.visibility, a.gate, a.range_start, a.range_end,"
            " a.chapter, a.locator, a.created_at, a.selectors, a.quote, a.note, a.parent_id,"
            f" a.gate_at FROM {t.annotations} a JOIN users u ON u.id = a.author_id")


_selectors = msgspec.json.Decoder(list[Selector])


def message_out(r: Any) -> MessageOut:
    return MessageOut(id=r["id"], session_id=r["place_id"], author_id=r["author_id"],
                      author_name=r["author_name"], gate=r["gate"], chapter=r["chapter"],
                      locator=r["locator"], created_at=r["created_at"],
                      edited_at=r["edited_at"], body=r["body"], parent_id=r["parent_id"])


def reaction_out(r: Any) -> ReactionOut:
    return ReactionOut(id=r["id"], session_id=r["place_id"], author_id=r["author_id"],
                       author_name=r["author_name"], gate=r["gate"], chapter=r["chapter"],
                       locator=r["locator"], created_at=r["created_at"], emoji=r["emoji"],
                       count=int(r["count"]), annotation_id=r["annotation_id"])


def annotation_out(r: Any) -> AnnotationOut:
    raw = r["selectors"]
    sels = _selectors.decode(raw.encode() if isinstance(raw, str) else raw)
    return AnnotationOut(id=r["id"], session_id=r["place_id"], book_id=r["book_id"],
                         author_id=r["author_id"], author_name=r["author_name"],
                         visibility=r["visibility"], gate=r["gate"],
                         range_start=r["range_start"], range_end=r["range_end"],
                         chapter=r["chapter"], locator=r["locator"],
                         created_at=r["created_at"], selectors=sels, quote=r["quote"],
                         note=r["note"], parent_id=r["parent_id"], gate_at=r["gate_at"])


async def insert_message(conn: Any, place: Place, author_id: int, body: str, gate: float,
                         locator: str | None, chapter: int | None,
                         key: str | None, parent_id: int | None = None) -> tuple[Any, bool]:
    """(row as `msg_sql` reads it, created) in one statement; with an idempotency key already
    used by this author, the stored message and False. `parent_id`: a reply (replies tables)."""
    t = tables(place)
    cols, args = "", [place.id, author_id, body, gate, locator, chapter, key]
    if t.replies:
        cols, args = ", parent_id", [*args, parent_id]
    row = await conn.fetchrow(
        f"WITH m AS (INSERT INTO {t.messages} ({t.place}, author_id, body, gate, locator,"
        f" chapter, client_key{cols}) VALUES ($1, $2, $3, $4, $5, $6, $7{', $8' if cols else ''})"
        " ON CONFLICT (author_id, client_key) WHERE client_key IS NOT NULL DO NOTHING"
        " RETURNING *)" + msg_sql(t).replace(f" FROM {t.messages} m", " FROM m"), *args)
    if row is not None:
        return row, True
    return await conn.fetchrow(msg_sql(t) + " WHERE m.author_id = $1 AND m.client_key = $2",
                               author_id, key), False


async def insert_reaction(conn: Any, place: Place, author_id: int, emoji: str, gate: float,
                          locator: str, chapter: int | None, annotation_id: int | None,
                          key: str | None, viewer: ViewerState) -> tuple[Any, bool]:
    """(row as `react_both_sql` reads it for `viewer`, created) in one statement (the counts
    take in the new row); with an idempotency key already used by this author, the stored
    reaction and False."""
    t = tables(place)
    both = react_both_sql(t, 9, counted=f"(SELECT * FROM {t.reactions} UNION ALL"
                                        " SELECT * FROM r)")
    row = await conn.fetchrow(
        f"WITH r AS (INSERT INTO {t.reactions} ({t.place}, author_id, emoji, gate, locator,"
        " chapter, annotation_id, client_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (author_id, client_key) WHERE client_key IS NOT NULL DO NOTHING"
        " RETURNING *)" + both.replace(f" FROM {t.reactions} r JOIN", " FROM r JOIN"),
        place.id, author_id, emoji, gate, locator, chapter, annotation_id, key,
        *viewer_args(viewer))
    if row is not None:
        return row, True
    old = await conn.fetchval(f"SELECT id FROM {t.reactions} WHERE author_id = $1"
                              " AND client_key = $2", author_id, key)
    return await conn.fetchrow(react_both_sql(t, 2) + " WHERE r.id = $1", old,
                               *viewer_args(viewer)), False


async def insert_annotation(conn: Any, place: Place, author_id: int, values: dict[str, Any],
                            key: str | None) -> tuple[Any, bool]:
    """(row as `ann_sql` reads it, created) in one statement; with an idempotency key already
    used by this author, the stored annotation and False."""
    t = tables(place)
    row = await conn.fetchrow(
        f"WITH a AS (INSERT INTO {t.annotations} ({t.place}, book_id, author_id, visibility,"
        " selectors, quote, note, range_start, range_end, gate, locator, chapter, parent_id,"
        " gate_at, client_key) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11,"
        " $12, $13, $14, $15) ON CONFLICT (author_id, client_key) WHERE client_key IS NOT NULL"
        " DO NOTHING RETURNING *)" + ann_sql(t).replace(f" FROM {t.annotations} a", " FROM a"),
        place.id, place.book_id, author_id, values["visibility"],
        values["selectors"], values["quote"], values["note"], values["start"], values["end"],
        values["gate"], values["locator"], values["chapter"], values["parent_id"],
        values["gate_at"], key)
    if row is not None:
        return row, True
    return await conn.fetchrow(ann_sql(t) + " WHERE a.author_id = $1 AND a.client_key = $2",
                               author_id, key), False
