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
from tests.worker_helpers import db_and_redis


async def test_views_count_in_trending_and_survive_a_lost_redis(
        engines: Any, http: httpx.AsyncClient, unique: str) -> None:
    """Eight views of a book's page put it in the day window (a quarter each); once the hour
    has closed they are in PostgreSQL, so trending rebuilt without Redis still counts them."""
    book = await new_book(http, f"{unique}-viewed")
    for _ in range(8):
        assert (await http.get(f"/api/v1/books/{book['id']}")).status_code == 200
    async with db_and_redis(engines) as (db, redis):
        now = time.time()
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
