"""Yearly reading goals in books and/or pages: progress, pace, and "reached" exactly once.

A goal with both targets is reached when both are met. Pace compares what is done with the
share of the (local) year elapsed, today included: `books_ahead` is books done minus the books
due by today (whole books), negative when behind ("3 books behind schedule"). A goal is marked
reached the first time a check finds it met (one conditional UPDATE, so two racing checks mark
it once) and its reader is notified (`goal_reached`) after the commit.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.notifications.service import notify
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.stats import check_year, pages_between, year_bounds

BookTarget = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
PageTarget = Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]


class GoalIn(msgspec.Struct, forbid_unknown_fields=True):
    books: BookTarget | None = None
    pages: PageTarget | None = None


class GoalOut(msgspec.Struct, frozen=True):
    year: int
    books: int | None          # targets
    pages: int | None
    books_done: int
    pages_done: int
    books_ahead: int | None    # negative: behind schedule
    pages_ahead: int | None
    pace: str
    reached: bool
    reached_at: datetime | None


def goal_not_found() -> NotFound:
    return NotFound("no goal for this year", code="goal_not_found")


def elapsed_share(year: int, today: date) -> float:
    """How much of `year` has gone by at the end of `today` (0 before it, 1 after it)."""
    if today.year < year:
        return 0.0
    if today.year > year:
        return 1.0
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    return (today.toordinal() - date(year, 1, 1).toordinal() + 1) / days


def pace_text(books_ahead: int | None, pages_ahead: int | None, reached: bool) -> str:
    if reached:
        return "goal reached"
    parts = []
    for ahead, unit in ((books_ahead, "book"), (pages_ahead, "page")):
        if ahead is None or ahead == 0:
            continue
        plural = "s" if abs(ahead) != 1 else ""
        where = "ahead of" if ahead > 0 else "behind"
        parts.append(f"{abs(ahead)} {unit}{plural} {where} schedule")
    return ", ".join(parts) or "on track"


async def _done(conn: Any, user_id: int, year: int) -> tuple[int, int]:
    tz = await time_zone_of(conn, user_id)
    start, end = year_bounds(year, tz)
    books = await conn.fetchval(
        "SELECT count(*) FROM reading_reads r JOIN reading_states s ON s.id = r.state_id"
        " WHERE s.user_id = $1 AND r.outcome = 'read' AND r.finished_on >= $2"
        " AND r.finished_on < $3", user_id, date(year, 1, 1), date(year + 1, 1, 1))
    pages = await pages_between(conn, user_id, start, end, tz)
    return int(books), sum(pages.values())


async def _out(conn: Any, user_id: int, row: Any, now: datetime) -> GoalOut:
    year = int(row["year"])
    books_done, pages_done = await _done(conn, user_id, year)
    share = elapsed_share(year, local_day(now, await time_zone_of(conn, user_id)))
    books_ahead = books_done - math.floor(row["books"] * share) if row["books"] else None
    pages_ahead = pages_done - math.floor(row["pages"] * share) if row["pages"] else None
    reached = row["reached_at"] is not None
    return GoalOut(year=year, books=row["books"], pages=row["pages"], books_done=books_done,
                   pages_done=pages_done, books_ahead=books_ahead, pages_ahead=pages_ahead,
                   pace=pace_text(books_ahead, pages_ahead, reached), reached=reached,
                   reached_at=row["reached_at"])


async def get_goal(db: Database, user_id: int, year: int, *,
                   now: datetime | None = None) -> GoalOut:
    row = await db.pool.fetchrow("SELECT * FROM reading_goals WHERE user_id = $1 AND year = $2",
                                 user_id, year)
    if row is None:
        raise goal_not_found()
    return await _out(db.pool, user_id, row, now or utcnow())


async def set_goal(db: Database, redis: Redis | None, user_id: int, year: int, data: GoalIn, *,
                   now: datetime | None = None) -> GoalOut:
    """Set a year's targets (changing them clears "reached"; it is checked again at once)."""
    if data.books is None and data.pages is None:
        raise Invalid("give a books or a pages target (or both)", code="goal_empty",
                      field="books")
    check_year(year)
    await db.pool.execute(
        "INSERT INTO reading_goals (user_id, year, books, pages) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (user_id, year) DO UPDATE SET books = EXCLUDED.books,"
        " pages = EXCLUDED.pages, reached_at = CASE WHEN (reading_goals.books,"
        " reading_goals.pages) IS NOT DISTINCT FROM (EXCLUDED.books, EXCLUDED.pages)"
        " THEN reading_goals.reached_at END", user_id, year, data.books, data.pages)
    await check_reached(db, redis, user_id, now=now, year=year)
    return await get_goal(db, user_id, year, now=now)


async def delete_goal(db: Database, user_id: int, year: int) -> None:
    if await db.pool.fetchval("DELETE FROM reading_goals WHERE user_id = $1 AND year = $2"
                              " RETURNING id", user_id, year) is None:
        raise goal_not_found()


async def check_reached(db: Database, redis: Redis | None, user_id: int, *,
                        now: datetime | None = None, year: int | None = None) -> bool:
    """Mark this year's goal reached if it now is (at most once) and notify; after a commit."""
    at = now or utcnow()
    if year is None:
        year = local_day(at, await time_zone_of(db.pool, user_id)).year
    row = await db.pool.fetchrow("SELECT * FROM reading_goals WHERE user_id = $1 AND year = $2"
                                 " AND reached_at IS NULL", user_id, year)
    if row is None:
        return False
    books, pages = await _done(db.pool, user_id, year)
    if (row["books"] and books < row["books"]) or (row["pages"] and pages < row["pages"]):
        return False
    won = await db.pool.fetchval("UPDATE reading_goals SET reached_at = $2 WHERE id = $1"
                                 " AND reached_at IS NULL RETURNING id", row["id"], at)
    if won is None:
        return False
    summary = " and ".join(f"{n} {unit}" for n, unit in ((row["books"], "books"),
                                                         (row["pages"], "pages")) if n)
    await notify(db, redis, recipient_id=user_id, type="goal_reached", target_kind="goal",
                 target_id=year, payload={"year": year, "summary": summary})
    return True
