"""Trending counts book page views (kept across a lost Redis once flushed), and "for me"
recommends what the other members of my clubs read, saying so."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from domain.ai import trending
from domain.ai.experiments import assign
from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club
from tests.reading_helpers import new_book, put_state
from tests.support import eventually
from tests.worker_helpers import db_and_redis


async def _is_eight(redis: Any, key: str, book_id: int) -> bool:
    return int(await redis.hget(key, str(book_id)) or 0) == 8


async def test_views_count_in_trending_and_survive_a_lost_redis(
        engines: Any, http: httpx.AsyncClient, unique: str) -> None:
    """Eight views of a book's page put it in the day window (a quarter each); once the hour
    has closed they are in PostgreSQL, so trending rebuilt without Redis still counts them."""
    book = await new_book(http, f"{unique}-viewed")
    for _ in range(8):
        assert (await http.get(f"/api/v1/books/{book['id']}")).status_code == 200
    async with db_and_redis(engines) as (db, redis):
        now = time.time()
        hour = f"{trending.VIEWS_KEY}{int(now // trending.HOUR) * trending.HOUR}"
        # the server writes its views to Redis once a second (ViewTally), in one round trip
        await eventually(lambda: _is_eight(redis, hour, book["id"]))
        await trending.rebuild_trending(db, redis, now)
        day = dict(await trending.trending(redis, "day", 10_000))
        assert day[book["id"]] == pytest.approx(8 * trending.VIEW_WEIGHT, rel=0.2)
        later = now + 3600  # the hour closed: the bucket moves to book_views
        await trending.rebuild_trending(db, redis, later)
        async with db.pool.acquire() as conn:
            stored = await conn.fetchval("SELECT sum(views) FROM book_views WHERE book_id = $1",
                                         book["id"])
        assert stored == 8
        await redis.delete(trending.TREND_KEY + "day", trending.TREND_KEY + "week")
        await trending.rebuild_trending(db, redis, later)
        day = dict(await trending.trending(redis, "day", 10_000))
        assert 0 < day[book["id"]] < 8 * trending.VIEW_WEIGHT


async def test_for_me_recommends_what_my_club_reads(http: httpx.AsyncClient,
                                                    unique: str) -> None:
    """A book two fellow members finished comes back to me with the reason "popular in
    <club>", and never one I already shelved."""
    owner = await register(http, unique, prefix="ko")
    mates = [await register(http, unique, prefix=f"km{i}") for i in range(2)]
    me = None
    for i in range(12):  # a reader in the hybrid variant (every source)
        me = await register(http, unique, prefix=f"kme{i}")
        if assign("for-me", me.id) == "hybrid":
            break
    assert me is not None and assign("for-me", me.id) == "hybrid"
    club = await make_club(http, owner, f"kr-{unique}", name=f"Readers {unique}")
    for who in (*mates, me):
        assert (await join(http, club["id"], who)).status_code == 200
    picked, shelved = await new_book(http, f"{unique}-club"), await new_book(http, f"{unique}-own")
    for mate in mates:
        await put_state(http, mate, picked["id"], status="read")
        await put_state(http, mate, shelved["id"], status="read")
    await put_state(http, me, shelved["id"], status="want_to_read")
    r = await http.get("/api/v1/recommendations/me", params={"limit": 50}, headers=me.headers)
    items = {i["book_id"]: i for i in r.json()["items"]}
    assert items[picked["id"]]["reason"] == f"popular in Readers {unique}"
    assert items[picked["id"]]["source"] == "club"
    assert shelved["id"] not in items


async def test_views_still_in_memory_are_written_on_a_clean_stop(engines: Any) -> None:
    """Views counted in memory reach their hour's hash when the app stops, before a second
    has passed, so a restart loses none of them; views of two hours go to two hashes."""
    async with db_and_redis(engines) as (_, redis):
        tally = trending.ViewTally(redis, interval=3600)  # (the timer never fires here)
        hour = 3600 * 400_000 + 3600 * int(time.time() * 1000 % 1000)  # hours nobody else uses
        for at in (hour + 1, hour + 2, hour + 3600):
            tally.add(424242, now=at)
        tally.add(434343, now=hour + 5)
        await tally.close()
        first = await redis.hgetall(f"{trending.VIEWS_KEY}{hour}")
        second = await redis.hgetall(f"{trending.VIEWS_KEY}{hour + 3600}")
        await redis.delete(f"{trending.VIEWS_KEY}{hour}", f"{trending.VIEWS_KEY}{hour + 3600}")
    assert first == {b"424242": b"2", b"434343": b"1"} and second == {b"424242": b"1"}
