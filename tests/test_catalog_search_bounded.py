"""Relevance search over a bounded candidate set: with more matches than it ranks, the boost
tiers and title/author matches still come first, the walk is stable, and the answer says its
total and facets are estimated; with every match ranked, everything is exact."""

from __future__ import annotations

from typing import Any

from domain.catalog.schemas import SearchQuery
from domain.catalog.search import search_books
from domain.catalog.store import REFRESH_SEARCH
from tests.worker_helpers import db_and_redis

N = 100  # the smallest bound READALONG_SEARCH_CANDIDATES accepts


async def _seed(conn: Any, word: str) -> dict[str, list[int]]:
    """160 books with `word`: an exact title, a title starting with it, 38 with it inside the
    title, 120 with it only in the description (the last ones by id)."""
    titles = [word, f"{word} rises"] + [f"The tale of {word} part {i}" for i in range(38)]
    titles += [f"Other book {i}" for i in range(120)]
    descriptions = [""] * 40 + [f"a story mentioning {word} once" for _ in range(120)]
    rows = await conn.fetch(
        "INSERT INTO books (title, title_key, description) SELECT t, lower(t), d FROM "
        "unnest($1::text[], $2::text[]) AS u(t, d) RETURNING id, title", titles, descriptions)
    ids = [r["id"] for r in rows]
    await conn.execute(REFRESH_SEARCH, ids)
    return {"exact": ids[:1], "starts": ids[1:2], "title": ids[2:40], "description": ids[40:]}


async def _walk(db: Any, word: str, n: int) -> tuple[list[int], list[Any]]:
    seen: list[int] = []
    pages: list[Any] = []
    cursor = None
    while True:
        page = await search_books(db, SearchQuery(q=word, cursor=cursor, limit=30), None, n)
        pages.append(page)
        seen += [b.id for b in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages


async def test_bounded_ranking_keeps_tiers_order_and_says_it_estimates(engines: Any,
                                                                       unique: str) -> None:
    """160 matches ranked with a bound of 100: exact title, then starts-with, then the other
    title matches, then description-only ones; no book twice across pages and the same walk
    twice; `estimated` is true. Ranking every match gives exactly 160 and `estimated` false."""
    word = f"zq{unique}"
    async with db_and_redis(engines) as (db, _):
        async with db.pool.acquire() as conn:
            groups = await _seed(conn, word)
        seen, pages = await _walk(db, word, N)
        assert seen[:2] == groups["exact"] + groups["starts"]
        assert set(seen[2:40]) == set(groups["title"])
        assert set(seen[40:]) <= set(groups["description"]) and len(seen) > N
        assert len(seen) == len(set(seen))
        ranks = [b.rank for p in pages for b in p.items]
        assert ranks == sorted(ranks, reverse=True)
        assert all(p.estimated for p in pages) and pages[0].total > N
        assert (await _walk(db, word, N))[0] == seen
        exact, exact_pages = await _walk(db, word, 0)
        assert exact_pages[0].total == 160 and not exact_pages[0].estimated
        assert exact[:40] == seen[:40] and len(exact) == 160
        small = await search_books(db, SearchQuery(q=f"{word} rises"), None, N)
        assert small.total == 1 and not small.estimated
