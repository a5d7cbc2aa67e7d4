"""Changing one's reading state of a book: status and reads, shelves, flags; removing it.

Status rules (each read is a row of reading_reads; `read_count` counts the finished ones):
- `reading` opens a read when none is open (from `read`/`did_not_finish` that is a re-read).
- `read` finishes the open read (opening one if needed), dated today in the reader's zone
  unless `finished_on` is given, and advances the furthest progression to 1 (source `status`).
- `did_not_finish` closes the open read as not finished (or records one).
- `want_to_read` drops an open read that has no progress, and closes one that has progress as
  `did_not_finish` (each read that happened stays).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.ids import in_range
from domain.labels import distinct_labels
from domain.reading import gamification, leaderboards, views
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.events import ReadingEvent
from domain.reading.leaderboards import Score
from domain.reading.progress import advance, book_not_found
from domain.reading.schemas import (
    SHELF_MAX_LEN,
    STATUSES,
    ShelfCount,
    ShelvesOut,
    StateIn,
    StateOut,
)


def state_not_found() -> NotFound:
    return NotFound("this book is not on your shelves", code="reading_state_not_found")


def clean_shelves(shelves: list[str]) -> list[str]:
    """Trim and collapse spaces; drop case-insensitive duplicates (first spelling wins)."""
    return distinct_labels(shelves, SHELF_MAX_LEN, str.casefold, lambda: Invalid(
        f"each shelf name must be 1 to {SHELF_MAX_LEN} characters", code="invalid_shelf",
        field="shelves"))


async def _known_spellings(conn: Any, user_id: int, shelves: list[str]) -> list[str]:
    """A reader's shelf names are case-insensitive: reuse the spelling already on their shelves."""
    rows = await conn.fetch("SELECT DISTINCT ON (lower(name)) name FROM reading_states,"
                            " unnest(shelves) AS name WHERE user_id = $1"
                            " AND lower(name) = ANY($2::text[])", user_id,
                            [s.lower() for s in shelves])
    known = {str(r["name"]).lower(): str(r["name"]) for r in rows}
    return [known.get(s.lower(), s) for s in shelves]


async def _open_read(conn: Any, state_id: int, started_on: date | None) -> Any:
    return await conn.fetchrow(
        "INSERT INTO reading_reads (state_id, number, started_on) SELECT $1,"
        " COALESCE(max(number), 0) + 1, $2 FROM reading_reads WHERE state_id = $1"
        " RETURNING id", state_id, started_on)


# A co-reading session already posted `finished book` for this read (its own finish line, e.g.
# the last chapter, when marking read did not follow): marking it read posts nothing again.
_ANNOUNCED_SQL = (
    "SELECT EXISTS (SELECT 1 FROM book_readings b, reading_reads r WHERE r.id = $3"
    " AND b.user_id = $1 AND b.book_id = $2 AND b.finished_at IS NOT NULL"
    " AND b.finished_at::date >= COALESCE(r.started_on, '-infinity'::date))")


async def apply_status(conn: Any, user_id: int, book_id: int, state_id: int, status: str,
                       data: StateIn, today: date, now: datetime,
                       events: list[ReadingEvent], *, to_the_end: bool = True) -> int | None:
    """Move the state to `status`; returns the id of the read it touched (for the dates).

    `to_the_end` (an explicit "mark read"): `read` also moves the furthest to 1.0, which
    unlocks everything. A passive finish (a session reaching its finish line, which may be the
    start of the last chapter) passes False: the furthest stays where the reader really is, so
    what they write next is gated there and the end of the book stays hidden from them."""
    read = await conn.fetchrow("SELECT id, progress FROM reading_reads WHERE state_id = $1"
                               " AND outcome IS NULL", state_id)
    started = data.started_on if isinstance(data.started_on, date) else None
    finished = data.finished_on if isinstance(data.finished_on, date) else today
    touched: int | None = int(read["id"]) if read is not None else None
    if status == "want_to_read":
        if read is not None and read["progress"] > 0:
            await conn.execute("UPDATE reading_reads SET outcome = 'did_not_finish',"
                               " finished_on = $2 WHERE id = $1", read["id"], today)
        elif read is not None:
            await conn.execute("DELETE FROM reading_reads WHERE id = $1", read["id"])
        touched = None
    elif status == "reading":
        if read is None:
            touched = int((await _open_read(conn, state_id, started or today))["id"])
            events.append(ReadingEvent("started", user_id, book_id))
    else:
        if read is None:
            touched = int((await _open_read(conn, state_id, started))["id"])
        if status == "read":
            scores: list[Score] = []
            if to_the_end:
                moved = await advance(conn, user_id, book_id, 1.0, "status", now=now)
                scores += moved.scores
                if moved.moved:  # marking a book read unlocks everything in its live rooms
                    events.append(ReadingEvent("advanced", user_id, book_id,
                                               previous=moved.previous, furthest=moved.furthest))
            if not await conn.fetchval(_ANNOUNCED_SQL, user_id, book_id, touched):
                events.append(ReadingEvent("finished", user_id, book_id))
            private = await conn.fetchval("SELECT private FROM reading_states WHERE id = $1",
                                          state_id)
            if not private:
                scores += await leaderboards.credit(conn, user_id, pages=0, books=1, at=now)
                await gamification.earn(conn, user_id, "finish", 1, now)
            if scores:
                events.append(ReadingEvent("scored", user_id, book_id, scores=scores))
        await conn.execute("UPDATE reading_reads SET outcome = $2, finished_on = $3"
                           " WHERE id = $1", touched, status, finished)
    await conn.execute(
        "UPDATE reading_states SET status = $2, updated_at = $3, read_count = (SELECT count(*)"
        " FROM reading_reads WHERE state_id = $1 AND outcome = 'read') WHERE id = $1",
        state_id, status, now)
    return touched


async def _apply_dates(conn: Any, state_id: int, read_id: int | None, data: StateIn,
                       today: date) -> None:
    if data.started_on is msgspec.UNSET and data.finished_on is msgspec.UNSET:
        return
    if read_id is None:
        read_id = await conn.fetchval("SELECT id FROM reading_reads WHERE state_id = $1"
                                      " ORDER BY number DESC LIMIT 1", state_id)
    if read_id is None:
        raise Invalid("dates belong to a read: set the status to reading or read first",
                      code="no_read_to_date", field="started_on")
    for name in ("started_on", "finished_on"):
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if value is not None and value > today + timedelta(days=1):
            raise Invalid(f"{name} cannot be in the future", code="invalid_date", field=name)
        await conn.execute(f"UPDATE reading_reads SET {name} = $2 WHERE id = $1", read_id, value)
    bad = await conn.fetchval("SELECT started_on > finished_on FROM reading_reads WHERE id = $1",
                              read_id)
    if bad:
        raise Invalid("finished_on must not be before started_on", code="invalid_date",
                      field="finished_on")


async def put_state(db: Database, user_id: int, book_id: int, data: StateIn, *,
                    now: datetime | None = None,
                    events: list[ReadingEvent] | None = None) -> StateOut:
    """Create or change one's reading state of a book (all checks before anything is kept).
    Appends `started`/`finished` events to `events` (for after the commit)."""
    collected: list[ReadingEvent] = []
    if not in_range(book_id):
        raise book_not_found()
    at = now or utcnow()
    shelves = clean_shelves(data.shelves) if isinstance(data.shelves, list) else None
    async with db.pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
            raise book_not_found()
        today = local_day(at, await time_zone_of(conn, user_id))
        row = await conn.fetchrow("SELECT id, status FROM reading_states WHERE user_id = $1"
                                  " AND book_id = $2 FOR UPDATE", user_id, book_id)
        if row is None:
            if data.status is msgspec.UNSET:
                raise Invalid("status is needed to add a book to your shelves",
                              code="status_required", field="status")
            row = await conn.fetchrow(
                "INSERT INTO reading_states (user_id, book_id, status, created_at, updated_at)"
                " VALUES ($1, $2, 'want_to_read', $3, $3) ON CONFLICT (user_id, book_id)"
                " DO UPDATE SET updated_at = $3 RETURNING id, status", user_id, book_id, at)
        changes: dict[str, Any] = {}
        for name in ("format", "owned", "private", "total_pages"):
            value = getattr(data, name)
            if value is not msgspec.UNSET:
                changes[name] = value
        if shelves is not None:
            changes["shelves"] = await _known_spellings(conn, user_id, shelves)
        if changes:
            sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=3))
            await conn.execute(f"UPDATE reading_states SET {sets}, updated_at = $2 WHERE id = $1",
                               row["id"], at, *changes.values())
        touched: int | None = None
        if data.status is not msgspec.UNSET and (data.status != row["status"]
                                                 or data.status == "read"):
            if data.status == "read" and row["status"] == "read":
                # already read: only the dates may change (re-reading goes through `reading`)
                touched = None
            else:
                touched = await apply_status(conn, user_id, book_id, int(row["id"]),
                                             data.status, data, today, at, collected)
        await _apply_dates(conn, int(row["id"]), touched, data, today)
        state = await views.load_state(conn, user_id, book_id)
    assert state is not None
    if events is not None:
        events.extend(collected)
    return state


async def get_state(db: Database, user_id: int, book_id: int) -> StateOut:
    if not in_range(book_id):
        raise state_not_found()
    state = await views.load_state(db.pool, user_id, book_id)
    if state is None:
        raise state_not_found()
    return state


async def delete_state(db: Database, user_id: int, book_id: int) -> None:
    """Forget a book: its state, reads and log go (the furthest progression with them)."""
    if not in_range(book_id):
        raise state_not_found()
    done = await db.pool.fetchval("DELETE FROM reading_states WHERE user_id = $1 AND book_id = $2"
                                  " RETURNING id", user_id, book_id)
    if done is None:
        raise state_not_found()


async def shelves_of(conn: Any, user_id: int, *, include_private: bool) -> ShelvesOut:
    """How many books a reader has in each status and on each custom shelf."""
    private = "" if include_private else " AND NOT private"
    counts = {r["status"]: int(r["n"]) for r in await conn.fetch(
        "SELECT status, count(*) AS n FROM reading_states WHERE user_id = $1" + private
        + " GROUP BY status", user_id)}
    shelves = await conn.fetch(
        "SELECT name, count(*) AS n FROM reading_states, unnest(shelves) AS name"
        " WHERE user_id = $1" + private + " GROUP BY name ORDER BY lower(name), name", user_id)
    return ShelvesOut(statuses={s: counts.get(s, 0) for s in STATUSES},
                      shelves=[ShelfCount(name=r["name"], books=int(r["n"])) for r in shelves])
