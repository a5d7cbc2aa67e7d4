"""Reading goals over a custom period (beside the yearly goal): books and/or pages between two
local dates, both included, with progress, pace and "reached" exactly once, by THE goal rules
of `domain.reading.pace` (shared with the yearly goal). A period is at most ten years long.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from redis.asyncio import Redis

from domain.db import Database
from domain.errors import Invalid, NotFound
from domain.ids import in_range
from domain.reading import pace
from domain.reading.clock import local_day, time_zone_of, utcnow
from domain.reading.goals import BookTarget, PageTarget

MAX_DAYS = 3660
GoalName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PeriodGoalIn(msgspec.Struct, forbid_unknown_fields=True):
    starts_on: date
    ends_on: date  # included
    books: BookTarget | None = None
    pages: PageTarget | None = None
    name: GoalName | None = None


class PeriodGoalOut(pace.Tally, frozen=True):
    id: int
    name: str | None
    starts_on: date
    ends_on: date
    books: int | None
    pages: int | None
    reached_at: datetime | None


def goal_not_found() -> NotFound:
    return NotFound("no such period goal", code="period_goal_not_found")


def check_period(data: PeriodGoalIn) -> None:
    if data.books is None and data.pages is None:
        raise Invalid("give a books or a pages target (or both)", code="goal_empty",
                      field="books")
    if data.ends_on < data.starts_on:
        raise Invalid("ends_on must not be before starts_on", code="invalid_period",
                      field="ends_on")
    if (data.ends_on - data.starts_on).days > MAX_DAYS or data.starts_on.year < 1900 \
            or data.ends_on.year > 9998:
        raise Invalid("a period goal spans at most ten years (1900-9998)",
                      code="invalid_period", field="ends_on")


async def _out(conn: Any, user_id: int, row: Any, now: datetime) -> PeriodGoalOut:
    t = await pace.tally(conn, user_id, row, row["starts_on"], row["ends_on"], now)
    return PeriodGoalOut(
        id=int(row["id"]), name=row["name"], starts_on=row["starts_on"], ends_on=row["ends_on"],
        books=row["books"], pages=row["pages"], reached_at=row["reached_at"],
        **msgspec.structs.asdict(t))


async def _row(db: Database, user_id: int, goal_id: int) -> Any:
    row = None
    if in_range(goal_id):
        row = await db.pool.fetchrow("SELECT * FROM reading_period_goals WHERE id = $1"
                                     " AND user_id = $2", goal_id, user_id)
    if row is None:
        raise goal_not_found()
    return row


async def get_goal(db: Database, user_id: int, goal_id: int, *,
                   now: datetime | None = None) -> PeriodGoalOut:
    return await _out(db.pool, user_id, await _row(db, user_id, goal_id), now or utcnow())


async def list_goals(db: Database, user_id: int, *,
                     now: datetime | None = None) -> list[PeriodGoalOut]:
    rows = await db.pool.fetch("SELECT * FROM reading_period_goals WHERE user_id = $1"
                               " ORDER BY ends_on DESC, id DESC LIMIT 100", user_id)
    at = now or utcnow()
    return [await _out(db.pool, user_id, r, at) for r in rows]


async def create_goal(db: Database, redis: Redis | None, user_id: int, data: PeriodGoalIn, *,
                      now: datetime | None = None) -> PeriodGoalOut:
    """A new period goal (checked at once: a period already met is reached now)."""
    check_period(data)
    count = await db.pool.fetchval("SELECT count(*) FROM reading_period_goals"
                                   " WHERE user_id = $1", user_id)
    if count >= 100:
        raise Invalid("at most 100 period goals: delete one first", code="too_many_goals")
    goal_id = await db.pool.fetchval(
        "INSERT INTO reading_period_goals (user_id, name, starts_on, ends_on, books, pages)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", user_id, data.name, data.starts_on,
        data.ends_on, data.books, data.pages)
    await check_reached(db, redis, user_id, now=now)
    return await get_goal(db, user_id, int(goal_id), now=now)


async def delete_goal(db: Database, user_id: int, goal_id: int) -> None:
    await _row(db, user_id, goal_id)
    await db.pool.execute("DELETE FROM reading_period_goals WHERE id = $1", goal_id)


_MARK_SQL = ("UPDATE reading_period_goals SET reached_at = $2 WHERE id = $1"
             " AND reached_at IS NULL RETURNING id")


async def check_reached(db: Database, redis: Redis | None, user_id: int, *,
                        now: datetime | None = None) -> int:
    """Mark every open period goal that is now met reached (each at most once) and notify;
    after a commit. Returns how many were reached by this call."""
    at = now or utcnow()
    today = local_day(at, await time_zone_of(db.pool, user_id))
    rows = await db.pool.fetch("SELECT * FROM reading_period_goals WHERE user_id = $1"
                               " AND reached_at IS NULL AND starts_on <= $2", user_id, today)
    won_count = 0
    for row in rows:
        label = row["name"] or f"{row['starts_on']} to {row['ends_on']}"
        won_count += await pace.reach(db, redis, user_id, row, row["starts_on"], row["ends_on"],
                                      at, _MARK_SQL, target_kind="period_goal",
                                      target_id=int(row["id"]), label=label)
    return won_count
