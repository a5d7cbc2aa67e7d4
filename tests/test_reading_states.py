"""The one reading state per (reader, book) over REST on a real server: statuses and reads,
re-reads, shelves, progress updates and the monotonic furthest progression, the log, bad input."""

from __future__ import annotations

import asyncio
import random

import httpx

from tests.accounts_helpers import register
from tests.reading_helpers import mine, new_book, progress, put_state


async def test_status_reads_rereads_and_progress(http: httpx.AsyncClient, unique: str) -> None:
    """A reader shelves a book, reads it by page, finishes it (read count 1, furthest 1), and a
    re-read opens read 2 from the start while the furthest progression stays at the end."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    state = await put_state(http, reader, book["id"], status="want_to_read",
                            shelves=["Summer", " summer ", "Sci  Fi"], owned=True,
                            format="ebook")
    assert state["status"] == "want_to_read" and state["reads"] == []
    assert state["shelves"] == ["Summer", "Sci Fi"] and state["owned"] is True
    assert state["format"] == "ebook" and state["furthest"] == 0.0
    assert state["book"]["title"] == book["title"] and state["book"]["page_count"] == 300

    body = await progress(http, reader, book["id"], page=150)
    assert body["advance"] == {"previous": 0.0, "furthest": 0.5, "moved": True, "pages": 150}
    state = body["state"]
    assert state["status"] == "reading" and state["page"] == 150 and state["furthest"] == 0.5
    assert [r["number"] for r in state["reads"]] == [1] and state["reads"][0]["outcome"] is None

    state = await put_state(http, reader, book["id"], status="read")
    assert state["status"] == "read" and state["furthest"] == 1.0 and state["read_count"] == 1
    first = state["reads"][0]
    assert first["outcome"] == "read" and first["finished_on"] and first["progress"] == 1.0

    state = await put_state(http, reader, book["id"], status="reading")
    assert [r["number"] for r in state["reads"]] == [1, 2]
    assert state["reads"][1]["outcome"] is None and state["read_count"] == 1
    body = await progress(http, reader, book["id"], percentage=10)
    assert body["advance"]["moved"] is False and body["advance"]["pages"] == 30
    assert body["state"]["furthest"] == 1.0 and body["state"]["position"] == 0.1
    state = await put_state(http, reader, book["id"], status="read")
    assert state["read_count"] == 2 and [r["outcome"] for r in state["reads"]] == ["read"] * 2

    log = (await http.get(mine(book["id"], "/log"), headers=reader.headers)).json()
    # newest first: finish (status), 10 %, finish (status), page 150
    assert [e["source"] for e in log["items"]] == ["status", "progress", "status", "progress"]
    assert [e["pages"] for e in log["items"]] == [270, 30, 150, 150]
    assert log["next_cursor"] is None


async def test_furthest_never_goes_back(http: httpx.AsyncClient, unique: str) -> None:
    """Going back to an earlier place moves the position but never the furthest progression,
    and the log still records the update."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    await progress(http, reader, book["id"], progression=0.6, locator="epubcfi(/6/14!/4/2/1:0)")
    body = await progress(http, reader, book["id"], progression=0.3)
    assert body["advance"] == {"previous": 0.6, "furthest": 0.6, "moved": False, "pages": 0}
    state = body["state"]
    assert state["furthest"] == 0.6 and state["position"] == 0.3
    assert state["furthest_locator"] == "epubcfi(/6/14!/4/2/1:0)" and state["locator"] is None
    log = (await http.get(mine(book["id"], "/log"), headers=reader.headers)).json()["items"]
    assert [e["progression"] for e in log] == [0.3, 0.6]


async def test_concurrent_updates_keep_the_maximum(http: httpx.AsyncClient,
                                                   unique: str) -> None:
    """Many simultaneous progress updates of one reader and book leave the furthest progression
    at the largest of them, with every update logged."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    values = [round(random.uniform(0, 1), 4) for _ in range(24)]
    await asyncio.gather(*(progress(http, reader, book["id"], progression=v) for v in values))
    state = (await http.get(mine(book["id"]), headers=reader.headers)).json()
    assert state["furthest"] == max(values) and len(state["reads"]) == 1
    log = (await http.get(mine(book["id"], "/log"), params={"limit": 100},
                          headers=reader.headers)).json()["items"]
    assert len(log) == len(values)


async def test_shelves_lists_and_cursor_paging(http: httpx.AsyncClient, unique: str) -> None:
    """My books list newest change first, filter by status and shelf, page with a cursor without
    repeats, and the shelf summary counts each status and custom shelf (names case-insensitive)."""
    reader = await register(http, unique, prefix="r")
    books = [await new_book(http, f"{unique}{i}") for i in range(3)]
    await put_state(http, reader, books[0]["id"], status="read", shelves=["Loved"])
    await put_state(http, reader, books[1]["id"], status="want_to_read", shelves=["loved"])
    await put_state(http, reader, books[2]["id"], status="did_not_finish")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/v1/me/books", params=params, headers=reader.headers)).json()
        seen += [s["book"]["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [b["id"] for b in reversed(books)]
    loved = (await http.get("/api/v1/me/books", params={"shelf": "LOVED"},
                            headers=reader.headers)).json()["items"]
    assert [s["book"]["id"] for s in loved] == [books[1]["id"], books[0]["id"]]
    assert {s["shelves"][0] for s in loved} == {"Loved"}  # the first spelling is kept
    read = (await http.get("/api/v1/me/books", params={"status": "read"},
                           headers=reader.headers)).json()["items"]
    assert [s["book"]["id"] for s in read] == [books[0]["id"]]
    summary = (await http.get("/api/v1/me/books/shelves", headers=reader.headers)).json()
    assert summary["statuses"] == {"want_to_read": 1, "reading": 0, "read": 1,
                                   "did_not_finish": 1}
    assert summary["shelves"] == [{"name": "Loved", "books": 2}]
    dnf = (await http.get(mine(books[2]["id"]), headers=reader.headers)).json()
    assert dnf["reads"][0]["outcome"] == "did_not_finish" and dnf["furthest"] == 0.0


async def test_dates_and_forgetting_a_book(http: httpx.AsyncClient, unique: str) -> None:
    """Start and finish dates land on the read; a finish before the start is refused; deleting a
    state forgets it (404 after)."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    state = await put_state(http, reader, book["id"], status="read", started_on="2026-01-02",
                            finished_on="2026-02-03")
    assert state["reads"][0]["started_on"] == "2026-01-02"
    assert state["reads"][0]["finished_on"] == "2026-02-03"
    r = await http.put(mine(book["id"]), json={"finished_on": "2025-12-31"},
                       headers=reader.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_date", r.text
    state = (await http.get(mine(book["id"]), headers=reader.headers)).json()
    assert state["reads"][0]["finished_on"] == "2026-02-03"  # nothing of the refused edit kept
    assert (await http.delete(mine(book["id"]), headers=reader.headers)).status_code == 204
    r = await http.get(mine(book["id"]), headers=reader.headers)
    assert r.status_code == 404 and r.json()["code"] == "reading_state_not_found"


async def test_bad_input_is_refused_and_stores_nothing(http: httpx.AsyncClient,
                                                       unique: str) -> None:
    """Ambiguous or out-of-range progress, unknown statuses and fields, unknown or out-of-range
    book ids and bad cursors get problem details, and no reading state appears."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    bare = await new_book(http, unique + "b", page_count=None)
    h = reader.headers
    cases = [
        (mine(book["id"], "/progress"), {"page": 3, "percentage": 4}, 422, "invalid_progress"),
        (mine(book["id"], "/progress"), {}, 422, "invalid_progress"),
        (mine(book["id"], "/progress"), {"page": 301}, 422, "invalid_progress"),
        (mine(book["id"], "/progress"), {"locator": "x", "page": 3}, 422, "invalid_progress"),
        (mine(book["id"], "/progress"), {"progression": 1.5}, 400, "validation_failed"),
        (mine(book["id"], "/progress"), {"progression": "half"}, 400, "validation_failed"),
        (mine(bare["id"], "/progress"), {"page": 3}, 422, "page_count_unknown"),
        (mine(2**40, "/progress"), {"progression": 0.5}, 404, "book_not_found"),
        (mine(2**63, "/progress"), {"progression": 0.5}, 404, "book_not_found"),
    ]
    for path, body, status, code in cases:
        r = await http.post(path, json=body, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    for body, status, code in [({"status": "finished"}, 400, "validation_failed"),
                               ({"shelves": ["ok"]}, 422, "status_required"),
                               ({"status": "read", "colour": "red"}, 400, "validation_failed"),
                               ({"status": "read", "shelves": [""]}, 400, "validation_failed"),
                               ({"status": "read", "shelves": ["  "]}, 422, "invalid_shelf")]:
        r = await http.put(mine(book["id"]), json=body, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    r = await http.get("/api/v1/me/books", params={"cursor": "!!"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
    r = await http.get("/api/v1/me/books", params={"status": "nope"}, headers=h)
    assert r.status_code == 400
    assert (await http.get(mine(2**63), headers=h)).status_code == 404
    assert (await http.put(mine(book["id"]), json={"status": "read"})).status_code == 401
    listed = (await http.get("/api/v1/me/books", headers=h)).json()
    assert listed == {"items": [], "next_cursor": None}
