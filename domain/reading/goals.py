"""Yearly reading goals in books and/or pages: progress, pace, and "reached" exactly once.

A goal with both targets is reached when both are met. A yearly goal is the period 1 January
to 31 December of the reader's local year: progress, pace and "reached" follow THE goal rules
of `domain.reading.pace` (shared with `period_goals`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.reading import pace
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.stats import check_year

BookTarget = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
PageTarget = Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]


class GoalIn(msgspec.Struct, forbid_unknown_fields=True):
    books: BookTarget | None = None
    pages: PageTarget | None = None


class GoalOut(pace.Tally, frozen=True):
    year: int
    books: int | None          # targets
    pages: int | None
    reached_at: datetime | None


def goal_not_found() -> NotFound:
    return NotFound("no goal for this year", code="goal_not_found")


def year_period(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def elapsed_share(year: int, today: date) -> float:
    """How much of `year` has gone by at the end of `today` (0 before it, 1 after it)."""
    return pace.period_share(*year_period(year), today)


async def _out(conn: Any, user_id: int, row: Any, now: datetime) -> GoalOut:
    year = int(row["year"])
    t = await pace.tally(conn, user_id, row, *year_period(year), now)
    return GoalOut(year=year, books=row["books"], pages=row["pages"],
                   reached_at=row["reached_at"], **msgspec.structs.asdict(t))


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


_MARK_SQL = ("UPDATE reading_goals SET reached_at = $2 WHERE id = $1 AND reached_at IS NULL"
             " RETURNING id")


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
    return await pace.reach(db, redis, user_id, row, *year_period(year), at, _MARK_SQL,
                            target_kind="goal", target_id=year, label=year)
