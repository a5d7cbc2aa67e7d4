"""Catalog search: ranking, prefix type-ahead, filters, facets and stable cursor pagination."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.catalog_helpers import create_book, create_many, search


async def _walk(http: httpx.AsyncClient, **params: Any) -> list[int]:
    """Follow next_cursor from the first page to the last; returns the ids in order."""
    ids: list[int] = []
    cursor = None
    for _ in range(200):
        page = await search(http, **params, **({"cursor": cursor} if cursor else {}))
        ids += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


async def test_exact_title_ranks_first_then_title_author_description(
        http: httpx.AsyncClient, unique: str) -> None:
    """An exact title match ranks first; then title words beat author names beat descriptions."""
    w = f"kw{unique}"
    exact = await create_book(http, title=f"{w} Garden")
    longer = await create_book(http, title=f"The {w} Garden Party and Other Stories",
                               description=f"{w} garden " * 5)
    by_author = await create_book(http, title=f"Unrelated {unique}", authors=[f"{w} Garden"])
    in_text = await create_book(http, title=f"Another {unique}",
                                description=f"Once upon a {w} garden.")
    page = await search(http, q=f"{w} garden")
    ids = [b["id"] for b in page["items"]]
    assert ids == [exact["id"], longer["id"], by_author["id"], in_text["id"]]
    ranks = [b["rank"] for b in page["items"]]
    assert ranks == sorted(ranks, reverse=True)
    # punctuation and case do not stop the exact match
    page = await search(http, q=f"  {w.upper()}  garden! ")
    assert page["items"][0]["id"] == exact["id"]


async def test_prefix_matching_for_type_ahead(http: httpx.AsyncClient, unique: str) -> None:
    """Partial last (or any) words match as prefixes: 'hobb' finds 'The Hobbit'."""
    subject = f"Middle{unique}"
    hobbit = await create_book(http, title="The Hobbit", subjects=[subject],
                               authors=["J. R. R. Tolkien"])
    page = await search(http, q="hobb", subject=subject)
    assert [b["id"] for b in page["items"]] == [hobbit["id"]]
    page = await search(http, q="the hob", subject=subject)
    assert page["items"][0]["id"] == hobbit["id"]
    page = await search(http, q="tolk", subject=subject)
    assert page["items"][0]["id"] == hobbit["id"] and page["items"][0]["authors"] == [
        "J. R. R. Tolkien"]
    assert (await search(http, q="hobbitses", subject=subject))["total"] == 0


async def test_search_text_cannot_inject_query_syntax(
        http: httpx.AsyncClient, unique: str) -> None:
    """Quotes, tsquery operators and SQL fragments in q are treated as plain words: each
    answers 200 with exactly the books those words match (none negated, nothing injected)."""
    tag = f"Inj{unique}"
    book = await create_book(http, title=f"Odd {unique} Title", subjects=[tag])
    found, ranked, listed = [book["id"]], "ranked", "listed"
    for q, ids, how in [
            ("'", found, listed),                        # no words: the title listing
            ("a & | ! ( ) :* <-> \\", found, ranked),    # just the word "a" (Test Author)
            ("' OR 1=1 --", [], None),                   # words "or", "1": no such book
            ("'); DROP TABLE books; --", [], None),
            (f"{unique}:* | !odd", found, ranked),       # both words, "!" negates nothing
            ("odd & !title", found, ranked),
            ("_%", found, listed),                       # LIKE wildcards are not words
            ("\u0000x", [], None)]:
        r = await http.get("/api/v1/books", params={"q": q, "subject": tag})
        assert r.status_code == 200, (q, r.text)
        page = r.json()
        assert [b["id"] for b in page["items"]] == ids and page["total"] == len(ids), q
        if how is not None:
            assert (page["items"][0]["rank"] is None) == (how == listed), q
    assert (await http.get(f"/api/v1/books/{book['id']}")).status_code == 200  # still there
    page = await search(http, q=f"!odd & ({unique}")
    assert [b["id"] for b in page["items"]] == [book["id"]]
    page = await search(http, q="?!")  # no words at all: the plain title listing
    assert page["items"] and page["items"][0]["rank"] is None


async def test_filters_and_subject_facets(http: httpx.AsyncClient, unique: str) -> None:
    """Subject, language and year-range filters narrow results; facets count the filtered set."""
    tag = f"Facet{unique}"
    made = await create_many(http, [
        {"title": f"F1 {unique}", "subjects": [tag, "Poetry"], "language": "en",
         "published": "1850"},
        {"title": f"F2 {unique}", "subjects": [tag, "Poetry", "Travel"], "language": "fr",
         "published": "1900-05"},
        {"title": f"F3 {unique}", "subjects": [tag, "Travel"], "language": "en",
         "published": "1950"},
        {"title": f"F4 {unique}", "subjects": [tag], "language": "de", "published": "2001"},
        {"title": f"F5 {unique}", "subjects": ["Poetry"], "language": "en", "published": "1900"},
    ])
    ids = [b["id"] for b in made]
    page = await search(http, subject=tag)
    assert {b["id"] for b in page["items"]} == set(ids[:4]) and page["total"] == 4
    facets = {f["name"]: f["count"] for f in page["facets"]["subjects"]}
    assert facets[tag] == 4 and facets["Travel"] == 2
    assert facets["Poetry"] == 2  # F5 is outside the filtered set
    page = await search(http, subject=[tag.lower(), "poetry"])  # all of them, any case
    assert {b["id"] for b in page["items"]} == {ids[0], ids[1]}
    page = await search(http, subject=tag, language=["en", "DE"])
    assert {b["id"] for b in page["items"]} == {ids[0], ids[2], ids[3]}
    page = await search(http, subject=tag, year_from=1900, year_to=1999)
    assert {b["id"] for b in page["items"]} == {ids[1], ids[2]}
    facets = {f["name"]: f["count"] for f in page["facets"]["subjects"]}
    assert facets == {tag: 2, "Travel": 2, "Poetry": 1}
    page = await search(http, q=f"f3 {unique}", subject=tag, language="en")
    assert [b["id"] for b in page["items"]] == [ids[2]]
    r = await http.get("/api/v1/books", params={"year_from": 2000, "year_to": 1900})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "year_from"
    r = await http.get("/api/v1/books", params={"language": "!!"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language"


async def test_cursor_pagination_is_stable_over_hundreds_of_books(
        http: httpx.AsyncClient, unique: str) -> None:
    """Walking every page (by title, and by relevance with rank ties) returns each book exactly
    once, in the same order on a second walk, matching the order of the whole result."""
    tag = f"Pages{unique}"
    bodies = [{"title": f"Volume {unique} {i % 53:02d}", "subjects": [tag],
               "description": "pager " * (i % 4), "authors": [f"Writer {i % 7}"]}
              for i in range(260)]
    made = await create_many(http, bodies)
    created = {b["id"] for b in made}
    titles = {b["id"]: b["title"] for b in made}

    by_title = await _walk(http, subject=tag, limit=17)
    assert len(by_title) == len(set(by_title)) == 260 and set(by_title) == created
    assert by_title == sorted(by_title, key=lambda i: (titles[i], i))
    assert await _walk(http, subject=tag, limit=17) == by_title

    ranked = await _walk(http, q=f"volume {unique} pager", subject=tag, limit=23)
    with_pager = {b["id"] for b, body in zip(made, bodies, strict=True) if body["description"]}
    assert len(ranked) == len(set(ranked)) and set(ranked) == with_pager
    whole = (await search(http, q=f"volume {unique} pager", subject=tag, limit=100))
    first = [b["id"] for b in whole["items"]]
    assert ranked[:100] == first
    assert await _walk(http, q=f"volume {unique} pager", subject=tag, limit=23) == ranked


async def test_bad_cursor_and_limits_are_400(http: httpx.AsyncClient, unique: str) -> None:
    """A forged cursor, a cursor from another search, or too large a page answers 400."""
    await create_many(http, [{"title": f"Cur {unique} {i}", "subjects": [f"C{unique}"]}
                             for i in range(3)])
    page = await search(http, subject=f"C{unique}", limit=1)
    assert page["next_cursor"]
    for bad in ["not-a-cursor!", "eyJ4IjoxfQ", "W10", "A" * 2000]:
        r = await http.get("/api/v1/books", params={"subject": f"C{unique}", "cursor": bad})
        assert r.status_code == 400, bad
        assert r.json()["code"] == "invalid_cursor"
    r = await http.get("/api/v1/books", params={"subject": "other", "cursor": page["next_cursor"]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await http.get("/api/v1/books", params={"limit": 1000})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "limit"


async def test_unfiltered_listing_counts_the_whole_catalog(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """With no query and no filter, total counts every book and facets count every subject:
    the 25 most used, each with its number of books."""
    before = await search(http, limit=1)
    await create_book(http, title=f"Whole {unique}", subjects=["Essays"])
    # more than 25 subjects in the catalog, whatever ran before
    await create_many(http, [{"title": f"Many {unique} {i}",
                              "subjects": [f"Many{unique}x{i}", f"Many{unique}y{i}"]}
                             for i in range(13)])
    after = await search(http, limit=1)
    assert after["total"] == before["total"] + 14
    conn = await asyncpg.connect(engines.database_url)
    try:
        assert after["total"] == await conn.fetchval("SELECT count(*) FROM books")
        used = {r["name"]: r["n"] for r in await conn.fetch(
            "SELECT s.name, count(*) AS n FROM book_subjects bs"
            " JOIN subjects s ON s.id = bs.subject_id GROUP BY s.name")}
    finally:
        await conn.close()
    facets = [(f["name"], f["count"]) for f in after["facets"]["subjects"]]
    assert len(used) > 25 and len(facets) == 25
    assert all(used[name] == count for name, count in facets)
    counts = [count for _, count in facets]
    assert counts == sorted(counts, reverse=True)
    assert all(n <= counts[-1] for name, n in used.items() if name not in dict(facets))
    assert (await search(http, limit=1, facets="false"))["facets"] is None
