"""REST for the reading life: /api/v1/me/books (my states, progress, log), /api/v1/users/{handle}/
books (someone's, as their profile visibility allows) and /api/v1/me/reading (settings)."""

from __future__ import annotations

import logging
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis

from domain.accounts.tokens import Principal
from domain.db import Database
from domain.errors import NotFound
from domain.ids import in_range
from domain.reading import (
    clock,
    coreading,
    events,
    gamification,
    goals,
    period_goals,
    privacy,
    progress,
    states,
    stats,
    views,
)
from domain.reading.schemas import (
    LogPage,
    ProgressIn,
    ProgressOut,
    ShelvesOut,
    StateIn,
    StateOut,
    StatePage,
    Status,
)
from domain.settings import Settings
from server.api import reading_boards, reading_reviews, reading_rooms
from server.deps import services_of

Cursor = Annotated[str | None, Parameter(description="next_cursor of the previous page")]
Limit = Annotated[int, Parameter(ge=1, le=100)]
ShelfQuery = Annotated[str | None, Parameter(max_length=40, description="one custom shelf")]
YearQuery = Annotated[int | None, Parameter(ge=1900, le=9998, description="default: this year")]
log = logging.getLogger("readalong.reading")


def unlock_for(state: State) -> events.Unlock:
    """The `events.Unlock` of this process: a reader's furthest grew, so every live session
    room and every club room (club chat, opened section threads) of that book they are in
    gets the new progress and the content it unlocks (the hub reaches their sockets on every
    node)."""
    async def unlock(user_id: int, book_id: int, previous: float, furthest: float) -> None:
        services = services_of(state)
        if services.session_rooms is not None and services.hub is not None:
            await services.session_rooms.reader_advanced(services.hub, user_id, book_id,
                                                         previous, furthest)
        if services.hub is not None and services.db is not None:
            live = services.session_rooms.live if services.session_rooms is not None else None
            await reading_rooms.club_rooms_advanced(services.hub, services.db, user_id,
                                                    book_id, previous, furthest, live)
    return unlock


async def after_change(state: State, db: Database, redis: Redis, settings: Settings,
                       user_id: int, happened: list[events.ReadingEvent]) -> None:
    """After the commit of any change to a reading state (REST here; kosync, clubs: call this
    from your route after your commit with the `ReadingEvent`s you collected): unlock pushes to
    live rooms, feed activities, leaderboards (Redis + live push), then this year's goal and
    the period goals (reached: notify once)."""
    await events.after_commit(db, redis, happened,
                              reading_boards.push_for(state, db, redis, settings),
                              unlock_for(state))
    try:
        await goals.check_reached(db, redis, user_id)
        await period_goals.check_reached(db, redis, user_id)
    except Exception:  # the change is committed; the next one checks again
        log.exception("checking the reading goal of user %s failed", user_id)


async def credit_coreading(state: State, db: Database, redis: Redis, settings: Settings,
                           session_id: int, book_id: int) -> None:
    """After a session's end commit: everyone's closed attendance becomes co-reading minutes
    (XP, the `coreading-minutes-month` board, its live push). Best effort: the record stays."""
    try:
        scores = await coreading.credit(db, session_id)
        if scores:
            await events.after_commit(db, redis, [
                events.ReadingEvent("scored", s.owner_id, book_id, scores=[s]) for s in scores],
                reading_boards.push_for(state, db, redis, settings))
    except Exception:
        log.exception("co-reading credit of session %s failed", session_id)


async def _this_year(db: Database, user_id: int) -> int:
    tz = await clock.time_zone_of(db.pool, user_id)
    return clock.local_day(clock.utcnow(), tz).year


class MyBooksController(Controller):
    path = "/api/v1/me/books"
    tags = ["reading"]

    @get("", summary="My reading states, most recently changed first (cursor-paged)")
    async def list_mine(self, db: Database, user: Principal, status: Status | None = None,
                        shelf: ShelfQuery = None, cursor: Cursor = None,
                        limit: Limit = 20) -> StatePage:
        return await views.list_states(db.pool, user.user_id, status=status, shelf=shelf,
                                       after=cursor, limit=limit, include_private=True)

    @get("/shelves", summary="How many of my books are in each status and custom shelf")
    async def my_shelves(self, db: Database, user: Principal) -> ShelvesOut:
        return await states.shelves_of(db.pool, user.user_id, include_private=True)

    @get("/log", summary="My reading log over every book, newest first (cursor-paged)")
    async def my_log(self, db: Database, user: Principal, cursor: Cursor = None,
                     limit: Limit = 50) -> LogPage:
        return await views.log_page(db.pool, user.user_id, book_id=None, after=cursor,
                                    limit=limit, include_private=True)

    @get("/{book_id:int}", summary="My reading state of a book (reads, furthest progression)")
    async def get_mine(self, db: Database, user: Principal, book_id: int) -> StateOut:
        return await states.get_state(db, user.user_id, book_id)

    @put("/{book_id:int}", summary="Add a book to my shelves or change its state")
    async def put_mine(self, state: State, db: Database, redis: Redis, settings: Settings,
                       user: Principal, book_id: int, data: StateIn) -> StateOut:
        happened: list[events.ReadingEvent] = []
        out = await states.put_state(db, user.user_id, book_id, data, events=happened)
        await after_change(state, db, redis, settings, user.user_id, happened)
        return out

    @delete("/{book_id:int}", summary="Forget a book: its state, reads and log")
    async def delete_mine(self, db: Database, user: Principal, book_id: int) -> None:
        await states.delete_state(db, user.user_id, book_id)

    @post("/{book_id:int}/progress", status_code=200,
          summary="A progress update: page, percentage, or progression (+ locator)")
    async def post_progress(self, state: State, db: Database, redis: Redis,
                            settings: Settings, user: Principal, book_id: int,
                            data: ProgressIn) -> ProgressOut:
        happened: list[events.ReadingEvent] = []
        out = await progress.record_progress(db, user.user_id, book_id, data, events=happened)
        await after_change(state, db, redis, settings, user.user_id, happened)
        return out

    @get("/{book_id:int}/log", summary="My reading log of one book, newest first")
    async def book_log(self, db: Database, user: Principal, book_id: int,
                       cursor: Cursor = None, limit: Limit = 50) -> LogPage:
        await states.get_state(db, user.user_id, book_id)
        return await views.log_page(db.pool, user.user_id, book_id=book_id, after=cursor,
                                    limit=limit, include_private=True)


class ReaderBooksController(Controller):
    path = "/api/v1/users/{handle:str}/books"
    tags = ["reading"]

    @get("", summary="A reader's books (their profile visibility; private books left out)")
    async def list_theirs(self, db: Database, maybe_user: Principal | None, handle: str,
                          status: Status | None = None, shelf: ShelfQuery = None,
                          cursor: Cursor = None, limit: Limit = 20) -> StatePage:
        view = await privacy.reader_view(db, maybe_user, handle)
        return await views.list_states(db.pool, view.owner_id, status=status, shelf=shelf,
                                       after=cursor, limit=limit,
                                       include_private=view.include_private)

    @get("/shelves", summary="A reader's status and shelf counts (private books left out)")
    async def their_shelves(self, db: Database, maybe_user: Principal | None,
                            handle: str) -> ShelvesOut:
        view = await privacy.reader_view(db, maybe_user, handle)
        return await states.shelves_of(db.pool, view.owner_id,
                                       include_private=view.include_private)

    @get("/log", summary="A reader's reading log (private books left out)")
    async def their_log(self, db: Database, maybe_user: Principal | None, handle: str,
                        cursor: Cursor = None, limit: Limit = 50) -> LogPage:
        view = await privacy.reader_view(db, maybe_user, handle)
        return await views.log_page(db.pool, view.owner_id, book_id=None, after=cursor,
                                    limit=limit, include_private=view.include_private)

    @get("/{book_id:int}", summary="A reader's state of one book")
    async def get_theirs(self, db: Database, maybe_user: Principal | None, handle: str,
                         book_id: int) -> StateOut:
        view = await privacy.reader_view(db, maybe_user, handle)
        state = await views.load_state(db.pool, view.owner_id, book_id) \
            if in_range(book_id) else None
        if state is None or not privacy.may_see_state(
                maybe_user.user_id if maybe_user else None, view.owner_id,
                private=state.private, profile_visible=True):
            raise NotFound("this reader has no visible state of this book",
                           code="reading_state_not_found")
        return state


class ReadingSettingsController(Controller):
    path = "/api/v1/me/reading"
    tags = ["reading"]

    @get("/settings", summary="My reading settings (the time zone of my reading days)")
    async def get_settings(self, db: Database, user: Principal) -> clock.PrefsOut:
        return await clock.get_prefs(db, user.user_id)

    @put("/settings", summary="Set the IANA time zone my reading days, streaks and dates use")
    async def put_settings(self, db: Database, user: Principal,
                           data: clock.PrefsIn) -> clock.PrefsOut:
        return await clock.set_prefs(db, user.user_id, data)

    @get("/streak", summary="My current and longest reading streak (rule included)")
    async def my_streak(self, db: Database, user: Principal) -> stats.Streak:
        return await stats.streak(db.pool, user.user_id)

    @get("/stats", summary="My year in charts: books and pages per month, subjects, re-reads")
    async def my_stats(self, db: Database, user: Principal,
                       year: YearQuery = None) -> stats.YearStats:
        return await stats.year_stats(db.pool, user.user_id,
                                      year or await _this_year(db, user.user_id))

    @get("/stats/years", summary="My books and pages per year")
    async def my_years(self, db: Database, user: Principal) -> stats.YearsOut:
        return await stats.years(db.pool, user.user_id)

    @get("/goals/{year:int}", summary="My goal of a year with progress and pace")
    async def get_goal(self, db: Database, user: Principal, year: int) -> goals.GoalOut:
        return await goals.get_goal(db, user.user_id, year)

    @put("/goals/{year:int}", summary="Set my goal of a year (books and/or pages)")
    async def put_goal(self, db: Database, redis: Redis, user: Principal, year: int,
                       data: goals.GoalIn) -> goals.GoalOut:
        return await goals.set_goal(db, redis, user.user_id, year, data)

    @get("/xp", summary="My XP, level and today's XP per kind (daily caps apply)")
    async def my_xp(self, db: Database, user: Principal) -> gamification.XpOut:
        return await gamification.xp_of(db, user.user_id)

    @get("/badges", summary="The badge catalog: mine marked with awarded_at, share of holders")
    async def my_badges(self, db: Database, user: Principal) -> list[gamification.BadgeOut]:
        return await gamification.badges_of(db, user.user_id)

    @delete("/goals/{year:int}", summary="Drop my goal of a year")
    async def delete_goal(self, db: Database, user: Principal, year: int) -> None:
        await goals.delete_goal(db, user.user_id, year)

    @get("/period-goals", summary="My goals over custom periods, with progress and pace")
    async def list_period_goals(self, db: Database,
                                user: Principal) -> list[period_goals.PeriodGoalOut]:
        return await period_goals.list_goals(db, user.user_id)

    @post("/period-goals", summary="Add a goal over a custom period (books and/or pages)")
    async def add_period_goal(self, db: Database, redis: Redis, user: Principal,
                              data: period_goals.PeriodGoalIn) -> period_goals.PeriodGoalOut:
        return await period_goals.create_goal(db, redis, user.user_id, data)

    @get("/period-goals/{goal_id:int}", summary="One of my period goals")
    async def get_period_goal(self, db: Database, user: Principal,
                              goal_id: int) -> period_goals.PeriodGoalOut:
        return await period_goals.get_goal(db, user.user_id, goal_id)

    @delete("/period-goals/{goal_id:int}", summary="Drop one of my period goals")
    async def delete_period_goal(self, db: Database, user: Principal, goal_id: int) -> None:
        await period_goals.delete_goal(db, user.user_id, goal_id)


class ReaderStatsController(Controller):
    path = "/api/v1/users/{handle:str}/reading"
    tags = ["reading"]

    @get("/streak", summary="A reader's streak (their profile visibility; private books out)")
    async def their_streak(self, db: Database, maybe_user: Principal | None,
                           handle: str) -> stats.Streak:
        view = await privacy.reader_view(db, maybe_user, handle)
        return await stats.streak(db.pool, view.owner_id, include_private=view.include_private)

    @get("/badges", summary="A reader's badges (with the share of readers holding each)")
    async def their_badges(self, db: Database, maybe_user: Principal | None,
                           handle: str) -> list[gamification.BadgeOut]:
        view = await privacy.reader_view(db, maybe_user, handle)
        return [b for b in await gamification.badges_of(db, view.owner_id)
                if b.awarded_at is not None]

    @get("/stats", summary="A reader's year in charts (private books left out)")
    async def their_stats(self, db: Database, maybe_user: Principal | None, handle: str,
                          year: YearQuery = None) -> stats.YearStats:
        view = await privacy.reader_view(db, maybe_user, handle)
        return await stats.year_stats(db.pool, view.owner_id,
                                      year or await _this_year(db, view.owner_id),
                                      include_private=view.include_private)


CONTROLLERS = [MyBooksController, ReaderBooksController, ReadingSettingsController,
               ReaderStatsController, *reading_reviews.CONTROLLERS,
               *reading_boards.CONTROLLERS]
