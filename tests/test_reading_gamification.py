"""XP, levels and badges: the level curve, daily XP caps against farming, badges awarded
exactly once when two workers race, through the real worker job, and shown on profiles with
the share of readers holding each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio

from domain.db import Database
from domain.reading import gamification
from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club
from tests.fixture_helpers import connected_db
from tests.reading_helpers import new_book, progress, put_state
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS
from tests.worker_helpers import run_worker, worker_settings


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url, 4) as database:
        yield database


def test_level_curve() -> None:
    """Level L starts at 100·(L−1)² XP: 0 → 1, 100 → 2, 399 → 2, 400 → 3, 900 → 4."""
    assert [gamification.level_of(x) for x in (0, 99, 100, 399, 400, 900)] == [1, 1, 2, 2, 3, 4]
    assert gamification.level_start(3) == 400


async def test_daily_caps_stop_farming(http: httpx.AsyncClient, db: Database,
                                       unique: str) -> None:
    """Pages earn 1 XP each up to 300 a day; the next UTC day earns again."""
    reader = await register(http, unique, prefix="x")
    day = datetime(2031, 1, 5, 10, tzinfo=UTC)
    async with db.pool.acquire() as conn, conn.transaction():
        assert await gamification.earn(conn, reader.id, "pages", 250, day) == 250
        assert await gamification.earn(conn, reader.id, "pages", 250, day) == 50
        assert await gamification.earn(conn, reader.id, "pages", 10, day) == 0
        assert await gamification.earn(conn, reader.id, "pages", 10,
                                       day + timedelta(days=1)) == 10
    xp = await gamification.xp_of(db, reader.id, now=day)
    assert (xp.xp, xp.level, xp.today["pages"]) == (310, 2, 300)


async def _badge_notes(http: httpx.AsyncClient, user: Any) -> list[dict[str, Any]]:
    items = (await http.get("/api/v1/notifications", headers=user.headers)).json()["items"]
    return [n for n in items if n["type"] == "badge_awarded"]


async def test_badge_awarded_exactly_once_when_workers_race(
        http: httpx.AsyncClient, db: Database, engines: Any, unique: str) -> None:
    """Two workers (own connection pools) checking the same reader at once grant "First
    finish" once and notify once; the real worker job grants the next badges on its own."""
    reader = await register(http, unique, prefix="w")
    book = await new_book(http, unique)
    await put_state(http, reader, book["id"], status="read")
    other = Database(engines.database_url, pool_size=2)
    await other.connect()
    try:
        got = await asyncio.gather(gamification.award(db, None, reader.id),
                                   gamification.award(other, None, reader.id))
    finally:
        await other.close()
    assert sorted(k for keys in got for k in keys) == ["first-finish"]
    assert len(await _badge_notes(http, reader)) == 1
    # 1,000 pages through the real path, then the worker's queued award_badges jobs
    big = await new_book(http, unique + "b", page_count=1000)
    await progress(http, reader, big["id"], page=1000)
    await run_worker(worker_settings(engines))
    mine = {b["key"]: b for b in (await http.get("/api/v1/me/reading/badges",
                                                 headers=reader.headers)).json()}
    assert mine["page-turner"]["awarded_at"] and mine["marathon"]["awarded_at"]
    assert mine["bookworm"]["awarded_at"] is None and mine["first-finish"]["holders_share"] > 0
    notes = await _badge_notes(http, reader)
    assert len(notes) == 3 and {n["payload"]["badge"] for n in notes} == {
        "First finish", "Page turner", "Marathon"}
    await run_worker(worker_settings(engines))  # nothing new the second time
    assert len(await _badge_notes(http, reader)) == 3
    shown = (await http.get(f"/api/v1/users/{reader.handle}/reading/badges")).json()
    assert {b["key"] for b in shown} == {"first-finish", "page-turner", "marathon"}
    xp = (await http.get("/api/v1/me/reading/xp", headers=reader.headers)).json()
    assert xp["today"]["finish"] == 50 and xp["today"]["pages"] == 300  # capped


async def test_reading_with_a_club_earns_club_xp(http: httpx.AsyncClient, server: ServerProcess,
                                                 unique: str) -> None:
    """Moving forward in a club's room earns club-participation XP (10 a written batch of
    moves forward, 30 a day at most), beside the pages XP; a solo progress update earns none."""
    owner = await register(http, unique, prefix="xo")
    member = await register(http, unique, prefix="xm")
    book = await new_book(http, unique, page_count=200)
    club = await make_club(http, owner, f"xp-{unique}", book_id=book["id"])
    assert (await join(http, club["id"], member)).status_code == 200
    await progress(http, member, book["id"], page=10)
    xp = (await http.get("/api/v1/me/reading/xp", headers=member.headers)).json()
    assert xp["today"].get("club", 0) == 0
    async with WS(server.ws_url, member.access_token) as ws:
        assert (await ws.subscribe(club["room"]))["type"] == "ack"
        for progression in (0.2, 0.3, 0.4, 0.5, 0.5):
            assert (await ws.move(club["room"], progression))["type"] == "ack"
            # acked in Redis, written behind: each move forward here is a batch of its own
            assert await eventually(lambda p=progression: _furthest(http, member, book, p))
    xp = (await http.get("/api/v1/me/reading/xp", headers=member.headers)).json()
    assert xp["today"]["club"] == 30 and xp["today"]["pages"] == 100


async def _furthest(http: httpx.AsyncClient, who: Any, book: dict[str, Any],
                    want: float) -> bool:
    r = await http.get(f"/api/v1/me/books/{book['id']}", headers=who.headers)
    return r.status_code == 200 and r.json()["furthest"] == want


async def test_readers_marked_due_together_are_checked_by_one_job(
        http: httpx.AsyncClient, db: Database, engines: Any, unique: str) -> None:
    """Many readers' events in one window enqueue one batch job, which grants each reader's
    badge once; a reader marked due again later is checked again (nothing new: no notice)."""
    from redis.asyncio import Redis

    from domain.keys import ARQ_QUEUE
    from domain.reading import badge_queue

    readers = [await register(http, f"{unique}{i}", prefix="d") for i in range(3)]
    book = await new_book(http, unique)
    for r in readers:
        await put_state(http, r, book["id"], status="read")
    redis = Redis.from_url(engines.redis_url)
    try:
        await run_worker(worker_settings(engines))  # the events' own jobs first
        for r in readers:  # the notices of those: whatever they granted stays granted once
            assert len(await _badge_notes(http, r)) == 1
        await db.pool.execute("DELETE FROM user_badges WHERE user_id = ANY($1::bigint[])",
                              [r.id for r in readers])
        # a window already over (its job is due) that no server of the run used: the job id of
        # a window a server enqueued for is taken while arq keeps its result (then no job)
        past = datetime.now(UTC).timestamp() - 86_400
        for r in readers:
            await badge_queue.mark_due(redis, r.id, now=past)
        queued = [j for j in await redis.zrange(ARQ_QUEUE, 0, -1)
                  if j.startswith(b"award_badges_due:")]
        assert len(queued) == 1
        await run_worker(worker_settings(engines))
        held = await db.pool.fetch("SELECT user_id FROM user_badges WHERE badge = 'first-finish'"
                                   " AND user_id = ANY($1::bigint[])", [r.id for r in readers])
        assert sorted(int(h["user_id"]) for h in held) == sorted(r.id for r in readers)
        assert not await redis.exists(badge_queue.DUE_KEY, badge_queue.TAKING_KEY)
    finally:
        await redis.aclose()


async def test_two_batch_jobs_at_once_check_each_due_reader_once(engines: Any) -> None:
    """Jobs of two windows running together: one checks, the other leaves it to that one,
    which also takes what was marked due while it ran."""
    from redis.asyncio import Redis

    from domain.reading import badge_queue

    redis = Redis.from_url(engines.redis_url)
    checked: list[int] = []

    async def check(ids: list[int]) -> None:
        await asyncio.sleep(0.05)
        if not checked:  # marked due while the first slice is being checked
            await redis.sadd(badge_queue.DUE_KEY, 9_000_001)  # type: ignore[misc]
        checked.extend(ids)
    try:
        await redis.delete(badge_queue.DUE_KEY, badge_queue.TAKING_KEY, badge_queue.LOCK_KEY)
        await redis.sadd(badge_queue.DUE_KEY, *range(9_000_100, 9_000_110))  # type: ignore[misc]
        await asyncio.gather(badge_queue.take_due(redis, check),
                             badge_queue.take_due(redis, check))
        assert sorted(checked) == [9_000_001, *range(9_000_100, 9_000_110)]
        assert not await redis.exists(badge_queue.DUE_KEY, badge_queue.TAKING_KEY,
                                      badge_queue.LOCK_KEY)
    finally:
        await redis.aclose()
