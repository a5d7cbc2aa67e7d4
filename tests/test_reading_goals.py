"""Goals, streaks and stats from the reading log, with a controlled clock: reading days in the
reader's own zone (across a date line and a DST change), pace, "goal reached" exactly once, and
books and pages per month and year over REST."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio

from domain.db import Database
from domain.reading import goals, progress, states, stats
from domain.reading.schemas import StateIn
from tests.accounts_helpers import UserSession, register
from tests.fixture_helpers import connected_db
from tests.reading_helpers import new_book, put_state


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url, 4) as database:
        yield database


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def _zone(http: httpx.AsyncClient, user: UserSession, name: str) -> None:
    r = await http.put("/api/v1/me/reading/settings", json={"time_zone": name},
                       headers=user.headers)
    assert r.status_code == 200, r.text


async def _read_at(db: Database, user_id: int, book_id: int, value: float,
                   at: datetime) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        await progress.advance(conn, user_id, book_id, value, "progress", reopen=True, now=at)


async def test_streak_days_follow_the_readers_zone_across_the_date_line(
        http: httpx.AsyncClient, db: Database, unique: str) -> None:
    """Two updates on one UTC day fall on two days in Auckland: a two-day streak there, one day
    for a UTC reader with the same updates."""
    kiwi = await register(http, unique, prefix="k")
    brit = await register(http, unique, prefix="b")
    await _zone(http, kiwi, "Pacific/Auckland")
    book = await new_book(http, unique)
    for user in (kiwi, brit):
        await _read_at(db, user.id, book["id"], 0.1, utc(2026, 3, 1, 10, 0))   # NZ: 1 Mar 23:00
        await _read_at(db, user.id, book["id"], 0.2, utc(2026, 3, 1, 11, 30))  # NZ: 2 Mar 00:30
    nz = await stats.streak(db.pool, kiwi.id, now=utc(2026, 3, 2, 8, 0))
    assert (nz.current, nz.longest, nz.read_today) == (2, 2, True)
    assert nz.time_zone == "Pacific/Auckland" and "calendar day" in nz.rule
    uk = await stats.streak(db.pool, brit.id, now=utc(2026, 3, 2, 8, 0))
    assert (uk.current, uk.longest, uk.read_today) == (1, 1, False)


async def test_streak_across_a_dst_change_and_when_it_breaks(http: httpx.AsyncClient,
                                                             db: Database, unique: str) -> None:
    """Reading late each evening in New York across the March DST change is three days in a
    row (a fixed UTC-5 offset would make it two); a day without reading ends the current
    streak but not the longest."""
    reader = await register(http, unique, prefix="n")
    await _zone(http, reader, "America/New_York")
    book = await new_book(http, unique)
    await _read_at(db, reader.id, book["id"], 0.1, utc(2026, 3, 8, 4, 30))   # 7 Mar 23:30 EST
    await _read_at(db, reader.id, book["id"], 0.2, utc(2026, 3, 9, 3, 30))   # 8 Mar 23:30 EDT
    await _read_at(db, reader.id, book["id"], 0.3, utc(2026, 3, 9, 4, 15))   # 9 Mar 00:15 EDT
    await _read_at(db, reader.id, book["id"], 0.25, utc(2026, 3, 9, 20, 0))  # going back: no day
    s = await stats.streak(db.pool, reader.id, now=utc(2026, 3, 10, 15, 0))  # 10 Mar, not read
    assert (s.current, s.longest, s.read_today) == (3, 3, False)
    assert str(s.last_reading_day) == "2026-03-09"
    s = await stats.streak(db.pool, reader.id, now=utc(2026, 3, 11, 15, 0))
    assert (s.current, s.longest) == (0, 3)
    r = await http.get("/api/v1/me/reading/streak", headers=reader.headers)
    assert r.status_code == 200 and r.json()["longest"] == 3


async def test_goal_pace_with_a_controlled_clock(http: httpx.AsyncClient, db: Database,
                                                 unique: str) -> None:
    """Halfway through the year with 1 of 4 books read, a goal is one book behind schedule;
    after two more finishes it is ahead."""
    reader = await register(http, unique, prefix="g")
    mid = utc(2026, 7, 2, 12, 0)
    goal = await goals.set_goal(db, None, reader.id, 2026, goals.GoalIn(books=4), now=mid)
    assert (goal.books_done, goal.books_ahead, goal.pace) == (0, -2, "2 books behind schedule")
    books = [await new_book(http, f"{unique}{i}") for i in range(3)]
    await states.put_state(db, reader.id, books[0]["id"], StateIn(status="read"), now=mid)
    goal = await goals.get_goal(db, reader.id, 2026, now=mid)
    assert (goal.books_done, goal.books_ahead, goal.pace) == (1, -1, "1 book behind schedule")
    for book in books[1:]:
        await states.put_state(db, reader.id, book["id"], StateIn(status="read"), now=mid)
    goal = await goals.get_goal(db, reader.id, 2026, now=mid)
    assert (goal.books_ahead, goal.pace, goal.reached) == (1, "1 book ahead of schedule", False)
    assert goals.elapsed_share(2026, utc(2025, 5, 1).date()) == 0.0


async def test_goal_reached_is_notified_exactly_once(http: httpx.AsyncClient, db: Database,
                                                     unique: str) -> None:
    """Finishing the second book of a two-book goal marks it reached and sends one
    `goal_reached` notification, even when checks race and further books follow."""
    reader = await register(http, unique, prefix="w")
    year = datetime.now(UTC).year
    r = await http.put(f"/api/v1/me/reading/goals/{year}", json={"books": 2, "pages": 100},
                       headers=reader.headers)
    assert r.status_code == 200 and r.json()["reached"] is False, r.text
    books = [await new_book(http, f"{unique}{i}") for i in range(3)]
    await put_state(http, reader, books[0]["id"], status="read")
    assert not (await http.get(f"/api/v1/me/reading/goals/{year}",
                               headers=reader.headers)).json()["reached"]
    await put_state(http, reader, books[1]["id"], status="read")
    raced = await asyncio.gather(*(goals.check_reached(db, None, reader.id) for _ in range(4)))
    assert not any(raced)  # the REST call already marked it
    await put_state(http, reader, books[2]["id"], status="read")
    goal = (await http.get(f"/api/v1/me/reading/goals/{year}", headers=reader.headers)).json()
    assert goal["reached"] and goal["pace"] == "goal reached" and goal["books_done"] == 3
    items = (await http.get("/api/v1/notifications", headers=reader.headers)).json()["items"]
    reached = [n for n in items if n["type"] == "goal_reached"]
    assert len(reached) == 1 and str(year) in reached[0]["text"], reached


async def test_goal_input_is_checked(http: httpx.AsyncClient, unique: str) -> None:
    """An empty goal, a zero target, a year out of range or an unknown goal get problem
    details."""
    reader = await register(http, unique, prefix="e")
    h = reader.headers
    for year, body, status, code in [(2026, {}, 422, "goal_empty"),
                                     (2026, {"books": 0}, 400, "validation_failed"),
                                     (1200, {"books": 3}, 422, "invalid_year"),
                                     (2026, {"books": 3, "x": 1}, 400, "validation_failed")]:
        r = await http.put(f"/api/v1/me/reading/goals/{year}", json=body, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    r = await http.get("/api/v1/me/reading/goals/2026", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "goal_not_found"


async def test_year_stats_by_month_with_rereads_and_subjects(http: httpx.AsyncClient,
                                                             db: Database, unique: str) -> None:
    """A year's stats count books per month by finish date (a re-read counts again), pages per
    month from the log, DNFs, subjects, days per book and the average rating; others see them
    without private books."""
    reader = await register(http, unique, prefix="s")
    book = await new_book(http, unique, subjects=["Mystery"])
    other = await new_book(http, unique + "o", subjects=["Poetry"])
    await states.put_state(db, reader.id, book["id"], StateIn(status="reading"),
                           now=utc(2025, 2, 1, 9))
    await _read_at(db, reader.id, book["id"], 0.5, utc(2025, 2, 3, 9))
    await states.put_state(db, reader.id, book["id"], StateIn(status="read"),
                           now=utc(2025, 2, 10, 9))
    await states.put_state(db, reader.id, book["id"], StateIn(status="reading"),
                           now=utc(2025, 5, 1, 9))
    await states.put_state(db, reader.id, book["id"], StateIn(status="read"),
                           now=utc(2025, 5, 5, 9))
    await states.put_state(db, reader.id, other["id"], StateIn(status="did_not_finish",
                                                               private=True),
                           now=utc(2025, 6, 1, 9))
    r = await http.put(f"/api/v1/me/books/{book['id']}/review", json={"rating": 3.5},
                       headers=reader.headers)  # reviews the latest read (the re-read)
    assert r.status_code == 200, r.text
    r = await http.get("/api/v1/me/reading/stats", params={"year": 2025}, headers=reader.headers)
    assert r.status_code == 200, r.text
    year = r.json()
    assert year["books"] == 2 and year["rereads"] == 1 and year["did_not_finish"] == 1
    assert year["books_by_month"][1] == 1 and year["books_by_month"][4] == 1
    assert year["pages_by_month"][1] == 300 and year["pages_by_month"][4] == 300
    assert year["pages"] == 600 and year["subjects"] == [{"name": "Mystery", "books": 1}]
    assert year["average_days_per_book"] == 7.5  # 1-10 Feb and 1-5 May
    assert year["average_rating"] == 3.5
    seen = (await http.get(f"/api/v1/users/{reader.handle}/reading/stats",
                           params={"year": 2025})).json()
    assert seen["books"] == 2 and seen["did_not_finish"] == 0  # the DNF was private
    years = (await http.get("/api/v1/me/reading/stats/years", headers=reader.headers)).json()
    assert {"year": 2025, "books": 2, "pages": 600} in years["years"]
    r = await http.get("/api/v1/me/reading/stats", params={"year": 99999},
                       headers=reader.headers)
    assert r.status_code == 400


async def test_many_readers_streaks_at_once_match_each_readers_own(
        http: httpx.AsyncClient, db: Database, unique: str) -> None:
    """The badge batch's set-based streaks (gamification.award_many) are the per-reader ones:
    two days in Auckland, one in UTC, for the same two updates."""
    from domain.reading import gamification

    kiwi = await register(http, unique, prefix="k")
    brit = await register(http, unique, prefix="b")
    await _zone(http, kiwi, "Pacific/Auckland")
    book = await new_book(http, unique)
    for user in (kiwi, brit):
        await _read_at(db, user.id, book["id"], 0.1, utc(2026, 3, 1, 10, 0))
        await _read_at(db, user.id, book["id"], 0.2, utc(2026, 3, 1, 11, 30))
    now = utc(2026, 3, 2, 8, 0)
    each = {u.id: await gamification.counter(db.pool, u.id, "streak_days", None, now)
            for u in (kiwi, brit)}
    assert each == {kiwi.id: 2, brit.id: 1}
    assert await gamification._streaks(db, [kiwi.id, brit.id], now) == each
