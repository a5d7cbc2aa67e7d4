"""Semantic and hybrid search over the demo catalog: by meaning, with filters, cursors, cache."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.catalog.demo import seed_demo_catalog
from domain.jobqueue import enqueue
from tests.catalog_helpers import create_book, search
from tests.support import ServerProcess, free_port
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


@pytest.fixture(scope="module")
async def embedded_demo(engines: Any) -> None:
    """The demo catalog (400 books) in the database, embedded by the worker's bulk job."""
    async with db_and_redis(engines) as (db, redis):
        await seed_demo_catalog(db, books=400, only_if_empty=False)
        await enqueue(redis, "ai_embed_all")
        await run_worker(worker_settings(engines))


def titles(page: dict[str, Any]) -> list[str]:
    return [b["title"] for b in page["items"]]


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
async def test_a_query_sharing_no_word_with_the_title_finds_the_book(
        embedded_demo: None, http: httpx.AsyncClient, mode: str) -> None:
    """'sailors chasing a giant sea creature' finds Moby-Dick and 'reanimated corpse' finds
    Frankenstein, though neither query shares a word with the book's title, author, subjects or
    description (keyword search finds neither)."""
    whale = await search(http, q="sailors chasing a giant sea creature", mode=mode, limit=10)
    assert "Moby-Dick" in titles(whale), titles(whale)
    monster = await search(http, q="reanimated corpse", mode=mode, limit=10)
    assert "Frankenstein" in titles(monster), titles(monster)
    keyword = await search(http, q="sailors chasing a giant sea creature")
    assert "Moby-Dick" not in titles(keyword)


async def test_hybrid_keeps_exact_titles_on_top_and_filters_apply(
        embedded_demo: None, http: httpx.AsyncClient) -> None:
    """Hybrid fuses the keyword ranking in (the exact title is first), and the subject and
    language filters restrict semantic results as they do keyword ones."""
    page = await search(http, q="Frankenstein", mode="hybrid", limit=5)
    assert titles(page)[0] == "Frankenstein"
    assert page["items"][0]["rank"] > page["items"][1]["rank"]
    horror = await search(http, q="a ghost story", mode="semantic", subject="Horror", limit=50)
    assert horror["items"] and all("Horror" in b["subjects"] for b in horror["items"])
    assert {f["name"] for f in horror["facets"]["subjects"]} >= {"Horror"}
    french = await search(http, q="love", mode="semantic", language="fr", limit=20)
    assert french["items"] and all(b["language"] == "fr" for b in french["items"])


async def test_semantic_cursor_walk_never_repeats_and_ends(
        embedded_demo: None, http: httpx.AsyncClient) -> None:
    """Walking every page of a semantic search sees each book once and ends with no cursor;
    a cursor of another search is refused with 400 invalid_cursor."""
    seen: list[int] = []
    cursor = None
    first = None
    while True:
        params: dict[str, Any] = {"q": "sea voyage", "mode": "semantic", "limit": 37}
        if cursor:
            params["cursor"] = cursor
        page = await search(http, **params)
        first = first or page
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == first["total"] > 37
    r = await http.get("/api/v1/books", params={"q": "other", "mode": "semantic",
                                                "cursor": first["next_cursor"]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await http.get("/api/v1/books", params={"q": "x", "mode": "fuzzy"})
    assert r.status_code == 400


async def test_an_edit_shows_in_the_next_semantic_search(
        embedded_demo: None, engines: Any, http: httpx.AsyncClient, unique: str) -> None:
    """A new book is found by meaning once the worker embedded it, through the search cache."""
    q = "submarine crew beneath polar ice"
    before = await search(http, q=q, mode="semantic", limit=10)
    book = await create_book(http, title=f"Pressure {unique}",
                             description="a submarine crew trapped beneath the polar ice")
    async with db_and_redis(engines) as (_, redis):
        await enqueue(redis, "ai_embed_sweep")
        await run_worker(worker_settings(engines))
    after = await search(http, q=q, mode="semantic", limit=10)
    assert book["id"] not in [b["id"] for b in before["items"]]
    assert after["items"][0]["id"] == book["id"]


async def test_more_like_this(embedded_demo: None, http: httpx.AsyncClient) -> None:
    """A book's 'more like this' lists other books by closeness, never the book itself; an
    unknown book is 404."""
    dracula = (await search(http, q="Dracula"))["items"][0]
    r = await http.get(f"/api/v1/books/{dracula['id']}/more-like-this", params={"limit": 5})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 5 and dracula["id"] not in [b["id"] for b in items]
    assert items[0]["rank"] >= items[-1]["rank"]
    r = await http.get("/api/v1/books/999999999/more-like-this")
    assert r.status_code == 404


async def test_an_unreachable_embeddings_endpoint_is_a_clear_503(engines: Any,
                                                                 tmp_path: Any) -> None:
    """A server configured with a hosted embeddings endpoint that does not answer gives 503
    embeddings_unavailable problem details for semantic search; keyword search still works."""
    port = free_port()  # nothing listens there
    proc = ServerProcess(engines.env(READALONG_AI_EMBED_URL=f"http://127.0.0.1:{port}/v1",
                                     READALONG_AI_EMBED_TIMEOUT="1"), log_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=proc.base_url, timeout=15) as client:
            r = await client.get("/api/v1/books", params={"q": "sea", "mode": "hybrid"})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "embeddings_unavailable"
            r = await client.get("/api/v1/books", params={"q": "sea"})
            assert r.status_code == 200
    finally:
        proc.stop()


async def test_out_of_range_path_ids_are_404(http: httpx.AsyncClient) -> None:
    """Unknown, zero and out-of-range book or session ids in AI paths answer 404, never 500."""
    for path in ("/api/v1/books/{}/more-like-this", "/api/v1/recommendations/similar/{}"):
        for bad in ("0", "99999999999999999999", "999999999"):
            r = await http.get(path.format(bad))
            assert r.status_code == 404, (path, bad, r.text)
