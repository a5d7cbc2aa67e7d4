"""Catalog search cache: cached totals, facets and pages follow every book write at once."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from domain.keys import CATALOG_CACHE
from tests.catalog_helpers import auth, create_book, search


async def _retitle_behind_the_cache(engines: Any, book_id: int, title: str) -> int:
    """Change a book's title without bumping the catalog version (the version trigger is
    skipped for this one transaction), so only a search that really reads PostgreSQL sees it.
    Returns the catalog version, unchanged."""
    conn = await asyncpg.connect(engines.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE books SET title = $2 WHERE id = $1", book_id, title)
        return int(await conn.fetchval("SELECT version FROM catalog_state WHERE id = 1"))
    finally:
        await conn.close()


async def test_a_repeated_search_is_answered_from_redis(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A repeated search comes from the cache: it still shows a change PostgreSQL made behind
    the cache's back, its entries sit in Redis under the catalog version, and a real edit (which
    bumps the version) is seen at once."""
    book = await create_book(http, title=f"Behind {unique}", subjects=[f"Hid{unique}"])
    first = await search(http, q=unique)
    assert [b["title"] for b in first["items"]] == [f"Behind {unique}"]
    version = await _retitle_behind_the_cache(engines, book["id"], f"Changed {unique}")
    redis = Redis.from_url(engines.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{CATALOG_CACHE}{version}:*")]
        assert {k.decode().split(":")[3] for k in keys} >= {"t", "p"}
    finally:
        await redis.aclose()
    again = await search(http, q=unique)
    assert again == first  # served from Redis: PostgreSQL's new title is not in it
    # the same query without the cache's help (another page size) reads PostgreSQL
    assert [b["title"] for b in (await search(http, q=unique, limit=5))["items"]] == [
        f"Changed {unique}"]
    r = await http.patch(f"/api/v1/books/{book['id']}",
                         json={"subtitle": "a real edit", "version": 1}, headers=auth("moderator"))
    assert r.status_code == 200, r.text
    after = await search(http, q=unique)
    assert [(b["title"], b["version"]) for b in after["items"]] == [(f"Changed {unique}", 2)]


async def test_cached_total_and_facets_follow_an_edit_at_once(
        http: httpx.AsyncClient, unique: str) -> None:
    """A repeated search is served from cache, yet an edit or delete shows in the next search."""
    mod = auth("moderator")
    book = await create_book(http, title=f"Cachefirst {unique}", subjects=[f"Subj{unique}"])
    await create_book(http, title=f"Cachesecond {unique}", subjects=[f"Subj{unique}"])
    first = await search(http, q=unique)
    again = await search(http, q=unique)
    assert first == again and first["total"] == 2
    assert first["facets"]["subjects"] == [{"name": f"Subj{unique}", "count": 2}]

    r = await http.patch(f"/api/v1/books/{book['id']}",
                         json={"subjects": [f"Other{unique}"], "version": 1}, headers=mod)
    assert r.status_code == 200, r.text
    edited = await search(http, q=unique)
    assert edited["total"] == 2
    assert {(f["name"], f["count"]) for f in edited["facets"]["subjects"]} == {
        (f"Subj{unique}", 1), (f"Other{unique}", 1)}
    assert [b["version"] for b in edited["items"] if b["id"] == book["id"]] == [2]
    filtered = await search(http, q=unique, subject=f"Subj{unique}", facets="false")
    assert filtered["total"] == 1 and filtered["facets"] is None

    r = await http.delete(f"/api/v1/books/{book['id']}", headers=auth("admin"))
    assert r.status_code == 204, r.text
    after = await search(http, q=unique)
    assert after["total"] == 1 and [b["id"] for b in after["items"]] != [book["id"]]
    assert after["facets"]["subjects"] == [{"name": f"Subj{unique}", "count": 1}]


async def test_cursor_pages_from_cache_stay_bound_to_their_query(
        http: httpx.AsyncClient, unique: str) -> None:
    """Cached pages keep their cursors, and a cursor from another query is still refused."""
    for i in range(3):
        await create_book(http, title=f"Pagecache {unique} {i}")
    first = await search(http, q=f"pagecache {unique}", limit=2)
    assert first["total"] == 3 and first["next_cursor"]
    second = await search(http, q=f"pagecache {unique}", limit=2, cursor=first["next_cursor"])
    again = await search(http, q=f"pagecache {unique}", limit=2, cursor=first["next_cursor"])
    assert second == again and len(second["items"]) == 1 and second["next_cursor"] is None
    r = await http.get("/api/v1/books", params={"q": "other", "cursor": first["next_cursor"]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_entries_live_ten_minutes_yet_a_new_book_shows_at_once(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """Cached searches live 600 s (not 60 s), yet a book added, or an author changed, after a
    search was cached is in the very next search: the write moved the catalog version."""
    first_book = await create_book(http, title=f"Longlived {unique}", authors=["Ann Early"])
    first = await search(http, q=unique)
    assert first["total"] == 1 and [b["authors"] for b in first["items"]] == [["Ann Early"]]
    conn = await asyncpg.connect(engines.database_url)
    try:
        version = int(await conn.fetchval("SELECT version FROM catalog_state WHERE id = 1"))
    finally:
        await conn.close()
    redis = Redis.from_url(engines.redis_url)
    try:
        ttls = [await redis.ttl(k) async for k in redis.scan_iter(
            match=f"{CATALOG_CACHE}{version}:*")]
    finally:
        await redis.aclose()
    assert ttls and all(60 < t <= 600 for t in ttls), ttls
    assert await search(http, q=unique) == first  # served again from the cache

    await create_book(http, title=f"Longlived later {unique}")
    added = await search(http, q=unique)
    assert added["total"] == 2
    assert {b["title"] for b in added["items"]} == {f"Longlived {unique}",
                                                    f"Longlived later {unique}"}
    r = await http.patch(f"/api/v1/books/{first_book['id']}",
                         json={"authors": ["Bo Later"], "version": 1}, headers=auth("moderator"))
    assert r.status_code == 200, r.text
    edited = await search(http, q=unique)
    assert {b["title"]: b["authors"] for b in edited["items"]}[f"Longlived {unique}"] == [
        "Bo Later"]
