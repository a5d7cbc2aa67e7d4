"""THE entry point that moves a reader's furthest progression in a book: `advance()`.

Every source calls `advance(conn, user_id, book_id, progression, source)` inside its own
transaction: a progress update over REST, a co-reading session, a club, an e-reader sync, an
import, finishing a book. Nothing else writes `reading_states.furthest`. The furthest
progression only ever grows; `position` (where the reader last was) may go back.

Spoiler gates read it with `furthest()` / `furthest_of()` (one indexed query).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import msgspec

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.ids import in_range
from domain.reading import gamification, leaderboards, views
from domain.reading.clock import local_day, time_zone_of, time_zones_of, utcnow
from domain.reading.events import ReadingEvent
from domain.reading.leaderboards import Score
from domain.reading.schemas import AdvanceOut, ProgressIn, ProgressOut

SOURCES: tuple[str, ...] = ("progress", "session", "club", "sync", "import", "status")


class Advance(msgspec.Struct, frozen=True):
    """What one `advance()` did. `moved` is True when the furthest progression grew: a caller
    with live rooms then pushes unlocks to every room the reader is in (after its commit)."""

    user_id: int
    book_id: int
    state_id: int
    previous: float        # furthest before
    furthest: float        # furthest after (>= previous)
    moved: bool
    read_id: int | None    # the open read this update counted towards
    gain: float            # progression gained in the open read
    pages: int             # pages that gain is worth (0 when the page count is unknown)
    status: str
    created: bool          # this call created the reading state
    opened: bool           # this call opened a read (a first read or a re-read)
    logged: bool           # a reading_log row was written
    scores: list[Score] = msgspec.field(default_factory=list)  # leaderboard records it moved


def book_not_found() -> NotFound:
    return NotFound("no such book", code="book_not_found")


def check_progression(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or not 0.0 <= value <= 1.0:
        raise Invalid("progression must be a number from 0 to 1", code="invalid_position",
                      field="progression")
    return float(value)


_UPSERT_SQL = """
INSERT INTO reading_states (user_id, book_id, status) VALUES ($1, $2, 'reading')
ON CONFLICT (user_id, book_id) DO UPDATE SET status = reading_states.status
RETURNING id, status, furthest, total_pages, private, (xmax = 0) AS created
"""
_OPEN_READ_SQL = """
INSERT INTO reading_reads (state_id, number, started_on)
SELECT $1, COALESCE(max(number), 0) + 1, $2 FROM reading_reads WHERE state_id = $1
RETURNING id, progress
"""
# many readers' first reads at once (one per state: `advance_many` moves each state once)
_OPEN_READS_SQL = """
INSERT INTO reading_reads (state_id, number, started_on)
SELECT m.state_id,
       COALESCE((SELECT max(r.number) FROM reading_reads r WHERE r.state_id = m.state_id), 0) + 1,
       m.day
FROM unnest($1::bigint[], $2::date[]) AS m(state_id, day)
RETURNING id, state_id
"""
_LOG_SQL = """
INSERT INTO reading_log (user_id, book_id, state_id, read_id, source, progression, page, locator,
                         furthest_before, furthest_after, gain, pages, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""


async def advance(conn: Any, user_id: int, book_id: int, progression: float, source: str, *,
                  locator: str | None = None, page: int | None = None, reopen: bool = False,
                  always_log: bool = False, now: datetime | None = None) -> Advance:
    """Move `user_id`'s furthest progression in `book_id` to at least `progression`.

    Runs in the caller's transaction on `conn` (it locks the reading state row, so concurrent
    advances of one reader and book serialise and the furthest never goes back). Creates the
    reading state (status `reading`, a first read opened) when there is none. A `want_to_read`
    state starts being read. A finished (`read`/`did_not_finish`) state keeps its status unless
    `reopen` (an explicit progress update: that starts a re-read). Writes a reading_log row
    when the furthest or the open read moved forward, or always with `always_log`.
    """
    progression = check_progression(progression)
    if source not in SOURCES:
        raise ValueError(f"unknown progress source {source!r}")
    at = now or utcnow()
    page_count = await conn.fetchval("SELECT page_count FROM books WHERE id = $1", book_id)
    if page_count is None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM books WHERE id = $1)", book_id):
        raise book_not_found()
    state = await conn.fetchrow(_UPSERT_SQL, user_id, book_id)
    status = str(state["status"])
    read = await conn.fetchrow("SELECT id, progress FROM reading_reads WHERE state_id = $1 "
                               "AND outcome IS NULL", state["id"])
    opened = read is None and (state["created"] or status == "want_to_read" or reopen)
    if opened:
        today = local_day(at, await time_zone_of(conn, user_id))
        read = await conn.fetchrow(_OPEN_READ_SQL, state["id"], today)
    if read is not None:
        status = "reading"
    previous = float(state["furthest"])
    furthest = max(previous, progression)
    moved = furthest > previous
    base = float(read["progress"]) if read is not None else previous
    gain = max(0.0, progression - base)
    total = state["total_pages"] or page_count
    pages = round(gain * total) if total else 0
    await conn.execute(
        "UPDATE reading_states SET furthest = $2, status = $3, position = $4, locator = $5,"
        " furthest_locator = CASE WHEN $6 THEN $5 ELSE furthest_locator END,"
        " furthest_at = CASE WHEN $6 THEN $7 ELSE furthest_at END, updated_at = $7"
        " WHERE id = $1", state["id"], furthest, status, progression, locator, moved, at)
    read_id = int(read["id"]) if read is not None else None
    if read_id is not None and gain > 0:
        await conn.execute("UPDATE reading_reads SET progress = $2 WHERE id = $1", read_id,
                           progression)
    logged = moved or gain > 0 or always_log
    if logged:
        await conn.execute(_LOG_SQL, user_id, book_id, state["id"], read_id, source, progression,
                           page, locator, previous, furthest, gain, pages, at)
    scores: list[Score] = []
    if pages > 0 and not state["private"]:
        scores = await leaderboards.credit(conn, user_id, pages=pages, books=0, at=at)
        await gamification.earn(conn, user_id, "pages", pages, at)
    if source == "club" and gain > 0 and not state["private"]:  # club participation
        await gamification.earn(conn, user_id, "club", 1, at)
    return Advance(user_id=user_id, book_id=book_id, state_id=int(state["id"]),
                   previous=previous, furthest=furthest, moved=moved, read_id=read_id,
                   gain=gain, pages=pages, status=status, created=bool(state["created"]),
                   opened=opened, logged=logged, scores=scores)


async def furthest(conn: Any, user_id: int, book_id: int) -> float:
    """The reader's furthest progression in the book (0 without a reading state)."""
    value = await conn.fetchval("SELECT furthest FROM reading_states WHERE user_id = $1"
                                " AND book_id = $2", user_id, book_id)
    return float(value) if value is not None else 0.0


async def furthest_of(conn: Any, user_ids: list[int], book_id: int) -> dict[int, float]:
    """Furthest progressions of many readers in one book (missing readers: 0), one query."""
    rows = await conn.fetch("SELECT user_id, furthest FROM reading_states WHERE book_id = $1"
                            " AND user_id = ANY($2::bigint[])", book_id, user_ids)
    found = {int(r["user_id"]): float(r["furthest"]) for r in rows}
    return {uid: found.get(uid, 0.0) for uid in user_ids}


def to_progression(data: ProgressIn, total_pages: int | None) -> tuple[float, int | None]:
    """The normalised progression (and page) of a progress update; `Invalid` when ambiguous."""
    given = [name for name in ("page", "percentage", "progression")
             if getattr(data, name) is not None]
    if len(given) != 1:
        raise Invalid("give exactly one of page, percentage or progression",
                      code="invalid_progress", field="progression")
    if data.locator is not None and data.progression is None:
        raise Invalid("a locator comes with its progression", code="invalid_progress",
                      field="locator")
    if data.page is not None:
        if not total_pages:
            raise Invalid("this book has no page count: set total_pages on your reading state"
                          " or send a percentage", code="page_count_unknown", field="page")
        if data.page > total_pages:
            raise Invalid(f"page must be at most {total_pages}", code="invalid_progress",
                          field="page")
        return data.page / total_pages, data.page
    if data.percentage is not None:
        return data.percentage / 100.0, None
    assert data.progression is not None
    return float(data.progression), None


async def record_progress(db: Database, user_id: int, book_id: int, data: ProgressIn, *,
                          now: datetime | None = None,
                          events: list[ReadingEvent] | None = None) -> ProgressOut:
    """A progress update outside live rooms: logged, and the furthest progression advanced.
    Appends a `started` event to `events` when it opened a read."""
    if not in_range(book_id):
        raise book_not_found()
    async with db.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT b.page_count, s.total_pages FROM books b LEFT JOIN reading_states s"
            " ON s.book_id = b.id AND s.user_id = $1 WHERE b.id = $2", user_id, book_id)
        if row is None:
            raise book_not_found()
        progression, page = to_progression(data, row["total_pages"] or row["page_count"])
        result = await advance(conn, user_id, book_id, progression, "progress",
                               locator=data.locator, page=page, reopen=True, always_log=True,
                               now=now)
        state = await views.load_state(conn, user_id, book_id)
    assert state is not None
    if events is not None:
        if result.opened:
            events.append(ReadingEvent("started", user_id, book_id))
        if result.scores:
            events.append(ReadingEvent("scored", user_id, book_id, scores=result.scores))
        if result.moved:
            events.append(ReadingEvent("advanced", user_id, book_id, previous=result.previous,
                                       furthest=result.furthest))
    return ProgressOut(state=state, advance=AdvanceOut(
        previous=result.previous, furthest=result.furthest, moved=result.moved,
        pages=result.pages))


class Passive(msgspec.Struct, frozen=True):
    """One reader's move from a passive source (a co-reading session, a club, a sync)."""

    user_id: int
    book_id: int
    progression: float
    locator: str | None = None


_LOCK_MANY_SQL = """
SELECT s.id, s.user_id, s.book_id, s.status, s.furthest, s.private, s.total_pages,
       r.id AS read_id, r.progress AS read_progress, b.page_count
FROM reading_states s JOIN books b ON b.id = s.book_id
LEFT JOIN reading_reads r ON r.state_id = s.id AND r.outcome IS NULL
WHERE (s.user_id, s.book_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
ORDER BY s.user_id, s.book_id FOR UPDATE OF s
"""
_UPSERT_MANY_SQL = """
INSERT INTO reading_states (user_id, book_id, status, furthest, furthest_locator, furthest_at,
                            position, locator, updated_at)
SELECT m.u, m.b, 'reading', m.p, m.l, $5, m.p, m.l, $5
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[]) AS m(u, b, p, l)
ORDER BY m.u, m.b
ON CONFLICT (user_id, book_id) DO UPDATE SET
    furthest = GREATEST(reading_states.furthest, EXCLUDED.furthest),
    furthest_locator = CASE WHEN EXCLUDED.furthest > reading_states.furthest
                       THEN EXCLUDED.locator ELSE reading_states.furthest_locator END,
    furthest_at = CASE WHEN EXCLUDED.furthest > reading_states.furthest
                  THEN EXCLUDED.updated_at ELSE reading_states.furthest_at END,
    status = CASE WHEN reading_states.status = 'want_to_read' THEN 'reading'
             ELSE reading_states.status END,
    position = EXCLUDED.position, locator = EXCLUDED.locator, updated_at = EXCLUDED.updated_at
RETURNING id, user_id, book_id, furthest, status, private, (xmax = 0) AS created
"""
_LOG_MANY_SQL = """
INSERT INTO reading_log (user_id, book_id, state_id, read_id, source, progression, locator,
                         furthest_before, furthest_after, gain, pages, created_at)
SELECT u, b, st, rd, $1, p, l, fb, fa, g, pg, $2
FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[], $8::text[],
            $9::float8[], $10::float8[], $11::float8[], $12::int[])
     AS m(u, b, st, rd, p, l, fb, fa, g, pg)
"""


def _key(row: Any) -> tuple[int, int]:
    return int(row["user_id"]), int(row["book_id"])


async def advance_many(conn: Any, moves: list[Passive], source: str = "session", *,
                       now: datetime | None = None) -> dict[tuple[int, int], Advance]:
    """`advance()` for many readers at once from a passive source, in the caller's transaction:
    one `INSERT … ON CONFLICT` takes the maximum for every (reader, book). The same rules as
    `advance(reopen=False)`: a missing state is created (`reading`, a first read opened), a
    `want_to_read` state starts being read (a read opened), a finished (`read` /
    `did_not_finish`) state keeps its status (never reopened); a reading_log row is written
    when the furthest or the open read moved forward; pages gained credit leaderboards and XP
    (books not private), and source `club` its participation XP (one unit per reader and book
    that gained ground). Several moves of one reader in one book: the furthest counts.
    Returns an `Advance` per (user_id, book_id); `moved` says whose furthest grew."""
    if source not in SOURCES:
        raise ValueError(f"unknown progress source {source!r}")
    at = now or utcnow()
    best: dict[tuple[int, int], Passive] = {}
    for m in moves:
        key = (m.user_id, m.book_id)
        if key not in best or check_progression(m.progression) >= best[key].progression:
            best[key] = m
    if not best:
        return {}
    keys = sorted(best)
    users, books = [k[0] for k in keys], [k[1] for k in keys]
    before = {(int(r["user_id"]), int(r["book_id"])): r
              for r in await conn.fetch(_LOCK_MANY_SQL, users, books)}
    rows = await conn.fetch(_UPSERT_MANY_SQL, users, books,
                            [best[k].progression for k in keys],
                            [best[k].locator for k in keys], at)
    page_counts = {k[1]: r["page_count"] for k, r in before.items()}
    unknown = sorted({b for b in books if b not in page_counts})
    if unknown:  # books none of these readers had a state of (first moves)
        page_counts.update({int(r["id"]): r["page_count"] for r in await conn.fetch(
            "SELECT id, page_count FROM books WHERE id = ANY($1::bigint[])", unknown)})
    out: dict[tuple[int, int], Advance] = {}
    logs: list[tuple[Any, ...]] = []
    reads: list[tuple[int, float]] = []
    credits: list[tuple[tuple[int, int], int]] = []  # ((reader, book), pages)
    clubbed: list[tuple[int, int]] = []  # (reader, 1): club participation XP
    # the states that open a read (created, or want_to_read starting): all in two statements,
    # each dated by its reader's own calendar day
    def opens(row: Any) -> bool:
        old = before.get(_key(row))
        if old is None:
            return bool(row["created"])
        return old["read_id"] is None and (bool(row["created"])
                                           or old["status"] == "want_to_read")

    opening = [row for row in rows if opens(row)]
    opened_reads: dict[int, int] = {}  # state id -> its new read
    if opening:
        zones = await time_zones_of(conn, sorted({int(r["user_id"]) for r in opening}))
        opened_reads = {int(r["state_id"]): int(r["id"]) for r in await conn.fetch(
            _OPEN_READS_SQL, [int(r["id"]) for r in opening],
            [local_day(at, zones[int(r["user_id"])]) for r in opening])}
    for row in rows:
        key = _key(row)
        old = before.get(key)
        progression = best[key].progression
        previous = float(old["furthest"]) if old is not None else 0.0
        read_id = old["read_id"] if old is not None else None
        base = float(old["read_progress"]) if old is not None and read_id is not None \
            else previous
        opened = int(row["id"]) in opened_reads
        if opened:
            read_id, base = opened_reads[int(row["id"])], 0.0
        gain = max(0.0, progression - base) if read_id is not None else 0.0
        total = (old["total_pages"] if old is not None else None) or page_counts.get(key[1])
        pages = round(gain * total) if total else 0
        furthest = float(row["furthest"])
        moved = furthest > previous
        if read_id is not None and gain > 0:
            reads.append((int(read_id), progression))
        logged = moved or gain > 0
        if logged:
            logs.append((key[0], key[1], int(row["id"]), read_id, progression,
                         best[key].locator, previous, furthest, gain, pages))
        if pages > 0 and not row["private"]:
            credits.append((key, pages))
        if source == "club" and gain > 0 and not row["private"]:
            clubbed.append((key[0], 1))  # club participation, as `advance`: once per batch
        out[key] = Advance(user_id=key[0], book_id=key[1], state_id=int(row["id"]),
                           previous=previous, furthest=furthest, moved=moved,
                           read_id=int(read_id) if read_id is not None else None, gain=gain,
                           pages=pages, status=str(row["status"]), created=bool(row["created"]),
                           opened=opened, logged=logged)
    if credits:  # every reader's leaderboard records and XP in a few statements
        scored = await leaderboards.credit_many(conn, [(k[0], p, 0) for k, p in credits], at)
        await gamification.earn_many(conn, "pages", [(k[0], p) for k, p in credits], at)
        for (key, _), scores in zip(credits, scored, strict=True):
            out[key] = msgspec.structs.replace(out[key], scores=scores)
    if clubbed:
        await gamification.earn_many(conn, "club", clubbed, at)
    if reads:
        await conn.execute(
            "UPDATE reading_reads r SET progress = GREATEST(r.progress, m.p) FROM"
            " unnest($1::bigint[], $2::float8[]) AS m(id, p) WHERE r.id = m.id",
            [r[0] for r in reads], [r[1] for r in reads])
    if logs:
        cols = list(zip(*logs, strict=True))
        await conn.execute(_LOG_MANY_SQL, source, at, *cols)
    return out


def passive_events(advances: Any) -> list[ReadingEvent]:
    """The events a passive source's caller hands to `events.after_commit` (after its commit):
    `started` for every read opened, `scored` for leaderboard records moved, `advanced` for
    every reader whose furthest grew (that one pushes unlocks to their live rooms)."""
    happened: list[ReadingEvent] = []
    for a in advances:
        if a.opened:
            happened.append(ReadingEvent("started", a.user_id, a.book_id))
        if a.scores:
            happened.append(ReadingEvent("scored", a.user_id, a.book_id, scores=a.scores))
        if a.moved:
            happened.append(ReadingEvent("advanced", a.user_id, a.book_id,
                                         previous=a.previous, furthest=a.furthest))
    return happened
