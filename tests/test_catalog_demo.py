"""The demo catalog: deterministic, valid books with tables of contents, loaded and searchable."""

from __future__ import annotations

import asyncio

import httpx

from domain.catalog.demo import generate, seed_demo_catalog
from domain.catalog.isbn import normalise_isbn
from domain.catalog.rules import check_toc
from domain.catalog.schemas import ChapterIn
from domain.db import Database
from tests.catalog_helpers import auth, create_book


def test_generated_books_are_deterministic_and_valid() -> None:
    """The same seed gives the same books; every ISBN checks out and every TOC obeys the rules."""
    books = list(generate(400))
    assert books == list(generate(400))
    assert len({b["isbn13"] for b in books}) == 400
    assert books[0]["title"] == "Pride and Prejudice"
    for book in books:
        assert normalise_isbn(book["isbn13"])[0] == book["isbn13"]
        assert 8 <= len(book["toc"]) <= 61
        check_toc([ChapterIn(title=t, start=s) for t, s in book["toc"]])
        assert book["authors"] and 1 <= len(book["subjects"]) <= 3


async def test_demo_catalog_loads_and_classics_are_found(
        engines, http: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    """Seeding adds books with TOCs; Pride and Prejudice is found by ISBN-10 and ranks first
    for its exact title; seeding again 'only if empty' adds nothing."""
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    try:
        added = await seed_demo_catalog(db, books=60, only_if_empty=False)
        assert added == 60
        assert await seed_demo_catalog(db, books=60, only_if_empty=True) == 0
    finally:
        await db.close()
    r = await http.get("/api/v1/books/isbn/0-14-143951-3")
    assert r.status_code == 200
    book = r.json()
    assert book["title"] == "Pride and Prejudice" and book["authors"][0]["name"] == "Jane Austen"
    assert book["toc"][0]["start"] == 0 and len(book["toc"]) == 61
    r = await http.get("/api/v1/books", params={"q": "Pride and Prejudice"})
    assert r.json()["items"][0]["id"] == book["id"]
    r = await http.get("/api/v1/books", params={"q": "moby d"})
    assert r.json()["items"][0]["title"] == "Moby-Dick"


async def test_concurrent_edits_of_one_version_let_exactly_one_win(
        http: httpx.AsyncClient, unique: str) -> None:
    """Several moderators editing the same version at once: one 200, the rest 409, no lost edit."""
    book = await create_book(http, title=f"Race {unique}")
    url = f"/api/v1/books/{book['id']}"
    results = await asyncio.gather(*(
        http.patch(url, json={"description": f"edit {i}"},
                   headers={**auth("moderator"), "If-Match": '"v1"'}) for i in range(6)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409, 409, 409]
    winner = next(r.json() for r in results if r.status_code == 200)
    now = (await http.get(url)).json()
    assert now["version"] == 2 and now["description"] == winner["description"]
