"""Recommendations: similar books, for me with reasons, cold start, trending, A/B experiments."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from domain.ai import recs, trending
from domain.ai.experiments import assign
from domain.jobqueue import enqueue
from tests.accounts_helpers import register
from tests.catalog_helpers import auth
from tests.reading_helpers import new_book, put_state
from tests.support import ROOT
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


async def _jobs(engines: Any, *names: str) -> None:
    async with db_and_redis(engines) as (_, redis):
        for name in names:
            await enqueue(redis, name)
        await run_worker(worker_settings(engines))


@pytest.fixture
async def club(engines: Any, http: httpx.AsyncClient, unique: str) -> dict[str, Any]:
    """Five books; three readers who all finished books 0, 1 and 2; a target reader who
    finished book 0 only (and rated it 5 stars); neighbours and embeddings computed."""
    books = [await new_book(http, f"{unique}-{i}", subjects=[f"Topic{unique}"],
                            description=f"tale number {i} of the lighthouse keepers")
             for i in range(5)]
    for k in range(3):
        reader = await register(http, unique, prefix=f"r{k}")
        for b in books[:3]:
            await put_state(http, reader, b["id"], status="read")
    me = await register(http, unique, prefix="me")
    await put_state(http, me, books[0]["id"], status="read")
    r = await http.put(f"/api/v1/me/books/{books[0]['id']}/review", headers=me.headers,
                       json={"rating": 5})
    assert r.status_code in (200, 201), r.text
    await _jobs(engines, "ai_embed_sweep", "ai_neighbours")
    return {"books": books, "me": me}


async def test_for_me_excludes_shelved_books_and_gives_reasons(
        club: dict[str, Any], http: httpx.AsyncClient) -> None:
    """What readers like me read next comes first, 'because you rated highly <title>', with a
    confidence in (0, 1); a book on any of my shelves never appears."""
    books, me = club["books"], club["me"]
    await put_state(http, me, books[1]["id"], status="want_to_read")
    r = await http.get("/api/v1/recommendations/me", headers=me.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [i["book_id"] for i in body["items"]]
    assert books[0]["id"] not in ids and books[1]["id"] not in ids
    assert ids[0] == books[2]["id"]
    top = body["items"][0]
    assert top["reason"] == f"because you rated highly {books[0]['title']}"
    assert 0 < top["confidence"] < 1 and top["source"] == "cf"
    assert body["variant"] == assign("for-me", me.id)


async def test_similar_books_blend_readers_and_content(
        club: dict[str, Any], http: httpx.AsyncClient) -> None:
    """Of five books alike in content, the two read by the same readers rank first (CF adds to
    content), each with a reason; never the book itself; an unknown book is 404."""
    books = club["books"]
    r = await http.get(f"/api/v1/recommendations/similar/{books[0]['id']}")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    ids = [i["book_id"] for i in items]
    assert books[0]["id"] not in ids
    assert set(ids[:2]) == {books[1]["id"], books[2]["id"]}
    assert {i["reason"] for i in items[:2]} <= {
        f"readers of {books[0]['title']} also read it", "close in content"}
    assert ids.index(books[3]["id"]) > 1 and ids.index(books[4]["id"]) > 1
    assert (await http.get("/api/v1/recommendations/similar/999999999")).status_code == 404


async def test_cold_start_falls_back_to_popularity(
        club: dict[str, Any], http: httpx.AsyncClient, unique: str) -> None:
    """A reader with no history still gets recommendations: popular books, with that reason;
    one whose profile names favourite genres, or who only shelved a book, gets popular books
    of those subjects."""
    fresh = await register(http, unique, prefix="new")
    items = (await http.get("/api/v1/recommendations/me", headers=fresh.headers)).json()["items"]
    assert items and {i["reason"] for i in items} <= {"popular with readers",
                                                       "trending this week"}
    topic = club["books"][0]["subjects"][0]
    fan = await register(http, unique, prefix="fan")
    r = await http.patch("/api/v1/me", headers=fan.headers, json={"favourite_genres": [topic]})
    assert r.status_code == 200, r.text
    items = (await http.get("/api/v1/recommendations/me", headers=fan.headers)).json()["items"]
    assert items[0]["reason"] == f"popular in {topic}"
    shy = await register(http, unique, prefix="shy")
    await put_state(http, shy, club["books"][4]["id"], status="did_not_finish")
    items = (await http.get("/api/v1/recommendations/me", headers=shy.headers)).json()["items"]
    assert items[0]["reason"] == f"popular in {topic}"
    assert club["books"][4]["id"] not in [i["book_id"] for i in items]


async def test_trending_decays_with_age(engines: Any, http: httpx.AsyncClient,
                                        unique: str) -> None:
    """Three shelvings today outrank three from four days ago in the week window, and the old
    ones are not in the day window at all; the sets are rebuilt from PostgreSQL."""
    assert recs.decayed([0.0], 3600) == 1.0 and recs.decayed([3600.0], 3600) == 0.5
    fresh, old = await new_book(http, f"{unique}-new"), await new_book(http, f"{unique}-old")
    for k in range(3):
        reader = await register(http, unique, prefix=f"t{k}")
        await put_state(http, reader, fresh["id"], status="reading")
        await put_state(http, reader, old["id"], status="reading")
    async with db_and_redis(engines) as (db, redis):
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE reading_states SET created_at = now() - interval '4 days'"
                               " WHERE book_id = $1", old["id"])
        await redis.delete(trending.TREND_KEY + "week")  # lost: rebuilt from the database
        await _jobs(engines, "ai_trending")
        week = dict(await trending.trending(redis, "week", 1000))
        day = dict(await trending.trending(redis, "day", 1000))
    assert week[fresh["id"]] > week[old["id"]] > 0
    assert old["id"] not in day and day[fresh["id"]] == pytest.approx(3.0, rel=0.01)
    r = await http.get("/api/v1/recommendations/trending", params={"window": "day"})
    assert fresh["id"] in [b["id"] for b in r.json()["items"]]


def test_variant_assignment_is_stable_across_processes() -> None:
    """Another Python process (another hash seed) assigns every reader the same variant, and
    both variants are used."""
    here = [assign("for-me", u) for u in range(1, 201)]
    script = ("from domain.ai.experiments import assign; "
              "print(','.join(assign('for-me', u) for u in range(1, 201)))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(ROOT),
                                                     "PYTHONHASHSEED": "12345"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split(",") == here
    assert set(here) == {"hybrid", "cf"}


async def test_exposures_and_clicks_reach_the_admin_summary(
        club: dict[str, Any], http: httpx.AsyncClient) -> None:
    """Showing recommendations logs exposures and opening one logs a click under the reader's
    variant; admins see per-variant counts, readers get 403, bad clicks 422."""
    me = club["me"]
    admin = auth("admin")
    before = {v["variant"]: v for v in (await http.get(
        "/api/v1/admin/experiments/for-me", headers=admin)).json()}
    shown = (await http.get("/api/v1/recommendations/me", headers=me.headers)).json()
    r = await http.post("/api/v1/recommendations/clicks", headers=me.headers,
                        json={"book_id": shown["items"][0]["book_id"]})
    assert r.status_code == 204, r.text
    after = {v["variant"]: v for v in (await http.get(
        "/api/v1/admin/experiments/for-me", headers=admin)).json()}
    mine = shown["variant"]
    assert after[mine]["exposures"] - before[mine]["exposures"] == len(shown["items"])
    assert after[mine]["clicks"] - before[mine]["clicks"] == 1
    assert 0 < after[mine]["click_rate"] <= 1
    assert (await http.get("/api/v1/admin/experiments/for-me",
                           headers=me.headers)).status_code == 403
    bad = await http.post("/api/v1/recommendations/clicks", headers=me.headers,
                          json={"book_id": 0})
    assert bad.status_code == 422, bad.text  # the shared id contract: an id out of range
    bad = await http.post("/api/v1/recommendations/clicks", headers=me.headers,
                          json={"book_id": 1, "experiment": "nope"})
    assert bad.status_code == 422
