"""Reading the reading state back: one state, a reader's shelf pages, the reading log."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.ops import covers
from domain.reading.schemas import (
    BookBrief,
    LogEntry,
    LogPage,
    ReadOut,
    StateOut,
    StatePage,
)
from domain.social import cursor

_STATE_SQL = """
SELECT s.*, b.title, b.cover_url, b.page_count,
       COALESCE((SELECT array_agg(a.name ORDER BY ba.position) FROM book_authors ba
                 JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id), '{}') AS authors,
       COALESCE((SELECT json_agg(json_build_object(
                   'id', r.id, 'number', r.number, 'started_on', r.started_on,
                   'finished_on', r.finished_on, 'outcome', r.outcome, 'progress', r.progress)
                 ORDER BY r.number)::text
                 FROM reading_reads r WHERE r.state_id = s.id), '[]') AS reads_json
FROM reading_states s JOIN books b ON b.id = s.book_id
"""
_reads_decoder = msgspec.json.Decoder(list[ReadOut])


def state_from(row: Any) -> StateOut:
    total = row["total_pages"] or row["page_count"]
    position = row["position"]
    page = round(position * total) if position is not None and total else None
    return StateOut(
        id=row["id"],
        book=BookBrief(id=row["book_id"], title=row["title"], authors=list(row["authors"]),
                       cover_url=covers.shown(row["book_id"], row["cover_url"]),
                       page_count=row["page_count"]),
        status=row["status"], shelves=list(row["shelves"]), format=row["format"],
        owned=row["owned"], private=row["private"], total_pages=row["total_pages"],
        furthest=row["furthest"], furthest_locator=row["furthest_locator"],
        position=position, locator=row["locator"], page=page, read_count=row["read_count"],
        reads=_reads_decoder.decode(row["reads_json"]), created_at=row["created_at"],
        updated_at=row["updated_at"])


async def load_state(conn: Any, user_id: int, book_id: int) -> StateOut | None:
    row = await conn.fetchrow(_STATE_SQL + " WHERE s.user_id = $1 AND s.book_id = $2",
                              user_id, book_id)
    return state_from(row) if row is not None else None


async def list_states(conn: Any, user_id: int, *, status: str | None, shelf: str | None,
                      after: str | None, limit: int, include_private: bool) -> StatePage:
    """A reader's states, most recently changed first, keyset-paged."""
    limit = cursor.check_limit(limit)
    where = ["s.user_id = $1"]
    args: list[Any] = [user_id]
    if status is not None:
        args.append(status)
        where.append(f"s.status = ${len(args)}")
    if shelf is not None:
        args.append(shelf.strip().lower())
        where.append(f"EXISTS (SELECT 1 FROM unnest(s.shelves) x WHERE lower(x) = ${len(args)})")
    if not include_private:
        where.append("NOT s.private")
    if keyset := cursor.after_clause(args, after, "s.updated_at, s.id"):
        where.append(keyset)
    args.append(limit + 1)
    rows = await conn.fetch(_STATE_SQL + " WHERE " + " AND ".join(where)
                            + f" ORDER BY s.updated_at DESC, s.id DESC LIMIT ${len(args)}", *args)
    items = [state_from(r) for r in rows[:limit]]
    return StatePage(items=items, next_cursor=cursor.next_page(rows, limit, "updated_at"))


async def log_page(conn: Any, user_id: int, *, book_id: int | None, after: str | None,
                   limit: int, include_private: bool) -> LogPage:
    """The reading log, newest first: one book's, or all of a reader's."""
    limit = cursor.check_limit(limit)
    where = ["l.user_id = $1"]
    args: list[Any] = [user_id]
    if book_id is not None:
        args.append(book_id)
        where.append(f"l.book_id = ${len(args)}")
    if not include_private:
        where.append("NOT s.private")
    if keyset := cursor.after_clause(args, after, "l.created_at, l.id"):
        where.append(keyset)
    args.append(limit + 1)
    rows = await conn.fetch(
        "SELECT l.* FROM reading_log l JOIN reading_states s ON s.id = l.state_id WHERE "
        + " AND ".join(where) + f" ORDER BY l.created_at DESC, l.id DESC LIMIT ${len(args)}",
        *args)
    items = [LogEntry(id=r["id"], book_id=r["book_id"], source=r["source"],
                      progression=r["progression"], page=r["page"], locator=r["locator"],
                      furthest=r["furthest_after"], pages=r["pages"], at=r["created_at"])
             for r in rows[:limit]]
    return LogPage(items=items, next_cursor=cursor.next_page(rows, limit))
