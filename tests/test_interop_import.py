"""Goodreads and StoryGraph imports through the real upload, the worker and REST: every quirk of
both exports, matching, previews, idempotent re-imports and bad files."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts_helpers import register
from tests.catalog_helpers import random_isbn
from tests.interop_helpers import (
    all_rows,
    goodreads_csv,
    isbn_cell,
    storygraph_csv,
    upload,
    wait_done,
)
from tests.reading_helpers import mine, new_book
from tests.worker_helpers import run_worker, worker_settings


async def _state(http: httpx.AsyncClient, user: Any, book_id: int) -> dict[str, Any]:
    r = await http.get(mine(book_id), headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _run(http: httpx.AsyncClient, engines: Any, user: Any, body: bytes,
               **kw: Any) -> dict[str, Any]:
    r = await upload(http, user, body, **kw)
    assert r.status_code == 202, r.text
    await run_worker(worker_settings(engines))
    return await wait_done(http, user, r.json()["id"])


async def test_goodreads_quirks(http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A Goodreads file with a BOM, CRLF, `="…"` ISBNs, rating 0, YYYY/MM/DD dates, custom
    and exclusive shelves, a re-read, an HTML review with <br/> and <spoiler>, private notes
    and a quoted newline lands as the same shelves, ratings, reads and reviews; re-importing
    it changes nothing."""
    reader = await register(http, unique, prefix="gq")
    known = await new_book(http, unique, title=f"Known Tale {unique}")
    hobbit = await new_book(http, unique, title=f"The Hobbit Returns {unique}",
                            authors=[f"Tolkien {unique}"])
    fresh_isbn, _ = random_isbn()
    gid = int(unique[:6], 16) * 10  # Goodreads ids are global: other tests' files use others
    rows = [
        {"Book Id": str(gid + 1), "Title": f"Known Tale {unique}", "Author": "Someone",
         "ISBN13": isbn_cell(known["isbn13"]), "My Rating": "4", "Date Read": "2022/10/05",
         "Date Added": "2022/09/01", "Exclusive Shelf": "read",
         "Bookshelves": "favorites, read", "Bookshelves with positions": "favorites (#3)",
         "My Review": "Loved it.<br/><br/>The end: <spoiler>the dragon dies</spoiler><br/>"
                      "<b>Bold</b> &amp; true",
         "Private Notes": "lent to Sam\nmust get it back"},
        {"Book Id": str(gid + 2), "Title": f"The Hobit Returns {unique}",
         "Author": f"Tolkien {unique}",
         "Exclusive Shelf": "currently-reading", "Date Added": "2023/01/02"},
        {"Book Id": str(gid + 3), "Title": f"Brand New {unique}", "Author": "New Author",
         "ISBN13": isbn_cell(fresh_isbn), "Exclusive Shelf": "to-read", "My Rating": "0",
         "Date Added": "2024/03"},
        {"Book Id": str(gid + 4), "Title": f"Twice Read {unique}", "Author": "Re Reader",
         "Exclusive Shelf": "read", "Read Count": "2", "Date Read": "2021/06/30",
         "My Rating": "5", "Spoiler": "true", "My Review": "Twist at the end"},
        {"Book Id": str(gid + 5), "Title": f"Shelved Away {unique}", "Author": "X",
         "Exclusive Shelf": "abandoned"},
        {"Book Id": str(gid + 6), "Title": "", "Author": "Nobody"},
    ]
    done = await _run(http, engines, reader, goodreads_csv(rows))
    assert done["status"] == "done" and done["format"] == "goodreads"
    assert done["total"] == 5 and done["done"] == 5
    assert done["counts"]["shelves"] == {"read": 2, "reading": 1, "want_to_read": 2}
    results = {r["row"]: r for r in await all_rows(http, reader, done["id"])}
    assert results[1]["outcome"] == "matched" and results[1]["book_id"] == known["id"]
    assert results[2]["outcome"] == "matched" and results[2]["book_id"] == hobbit["id"]
    assert results[2]["reason"].startswith("similar")
    assert results[3]["outcome"] == "created" and results[6]["outcome"] == "skipped"
    assert results[6]["reason"] == "no title"

    first = await _state(http, reader, known["id"])
    assert first["status"] == "read" and first["shelves"] == ["favorites"]
    assert [(r["finished_on"], r["started_on"]) for r in first["reads"]] == [
        ("2022-10-05", None)]
    assert first["created_at"].startswith("2022-09-01")
    reviews = (await http.get(f"/api/v1/books/{known['id']}/reviews",
                              headers=reader.headers)).json()["items"]
    assert reviews[0]["rating"] == 4.0
    assert "<spoiler>" not in reviews[0]["body_html"]
    assert 'class="spoiler"' in reviews[0]["body_html"] and "&amp;" in reviews[0]["body_html"]
    assert (await _state(http, reader, hobbit["id"]))["status"] == "reading"
    new_id = results[3]["book_id"]
    third = await _state(http, reader, new_id)
    assert third["status"] == "want_to_read" and third["created_at"].startswith("2024-03-01")
    assert (await http.get(f"/api/v1/books/{new_id}/reviews",
                           headers=reader.headers)).json()["items"] == []
    twice = await _state(http, reader, results[4]["book_id"])
    assert twice["read_count"] == 2 and len(twice["reads"]) == 2
    shelved = await _state(http, reader, results[5]["book_id"])
    assert shelved["status"] == "want_to_read" and shelved["shelves"] == ["abandoned"]

    again = await _run(http, engines, reader, goodreads_csv(rows))
    assert again["counts"]["outcomes"] == {"unchanged": 5}
    assert await _state(http, reader, known["id"]) == first
    assert len((await _state(http, reader, results[4]["book_id"]))["reads"]) == 2


async def test_storygraph_quirks(http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A StoryGraph file: comma-joined authors, a bare ISBN, did-not-finish, quarter stars,
    several date ranges (re-reads) and Owned? = Yes."""
    reader = await register(http, unique, prefix="sg")
    isbn, _ = random_isbn()
    rows = [{"Title": f"Quarter Star {unique}", "Authors": "Ann Writer, Ill Ustrator",
             "ISBN/UID": isbn, "Read Status": "read", "Star Rating": "3.75",
             "Dates Read": "2023/01/01-2023/01/10, 2024/02/01-2024/02/05", "Read Count": "2",
             "Owned?": "Yes", "Tags": "cozy", "Review": "Good<br/>fun"},
            {"Title": f"Gave Up {unique}", "Authors": "Dnf Author", "ISBN/UID": "sg-uid-1",
             "Read Status": "did-not-finish", "Last Date Read": "2024/05/06"}]
    done = await _run(http, engines, reader, storygraph_csv(rows))
    assert done["format"] == "storygraph" and done["status"] == "done"
    results = {r["row"]: r for r in await all_rows(http, reader, done["id"])}
    state = await _state(http, reader, results[1]["book_id"])
    assert state["status"] == "read" and state["owned"] is True and state["read_count"] == 2
    assert sorted((r["started_on"], r["finished_on"]) for r in state["reads"]) == [
        ("2023-01-01", "2023-01-10"), ("2024-02-01", "2024-02-05")]
    assert state["book"]["authors"] == ["Ann Writer", "Ill Ustrator"]
    reviews = (await http.get(f"/api/v1/books/{results[1]['book_id']}/reviews",
                              headers=reader.headers)).json()["items"]
    assert reviews[0]["rating"] == 3.75
    dnf = await _state(http, reader, results[2]["book_id"])
    assert dnf["status"] == "did_not_finish"
    assert dnf["reads"][0]["finished_on"] == "2024-05-06"


async def test_preview_then_commit(http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A dry run reports counts per shelf and matched / to-create without touching the
    reader's shelves; committing it imports the file; a second import waits for the first."""
    reader = await register(http, unique, prefix="pv")
    known = await new_book(http, unique)
    rows = [{"Title": known["title"], "Author": "A", "ISBN13": isbn_cell(known["isbn13"]),
             "Exclusive Shelf": "to-read"},
            {"Title": f"Unknown {unique}", "Author": "B", "Exclusive Shelf": "read",
             "Date Read": "2020/02/02"}]
    r = await upload(http, reader, goodreads_csv(rows), dry_run=True)
    assert r.status_code == 202 and r.json()["dry_run"] is True
    busy = await upload(http, reader, goodreads_csv(rows))
    assert busy.status_code == 409 and busy.json()["code"] == "import_running"
    await run_worker(worker_settings(engines))
    preview = await wait_done(http, reader, r.json()["id"])
    assert preview["counts"]["shelves"] == {"want_to_read": 1, "read": 1}
    assert preview["counts"]["outcomes"] == {"matched": 1, "created": 1}
    assert (await http.get("/api/v1/me/books", headers=reader.headers)).json()["items"] == []
    r = await http.post(f"/api/v1/imports/{preview['id']}/commit", headers=reader.headers)
    assert r.status_code == 202, r.text
    await run_worker(worker_settings(engines))
    done = await wait_done(http, reader, preview["id"])
    assert done["dry_run"] is False and done["counts"]["outcomes"] == {"matched": 1,
                                                                        "created": 1}
    assert len((await http.get("/api/v1/me/books", headers=reader.headers)).json()["items"]) == 2
    r = await http.post(f"/api/v1/imports/{preview['id']}/commit", headers=reader.headers)
    assert r.status_code == 409


async def test_bad_files(http: httpx.AsyncClient, unique: str) -> None:
    """A wrong header names the missing columns; a binary file, a non-CSV and an empty file are
    refused with clear problem details; another reader's import is not found."""
    reader = await register(http, unique, prefix="bf")
    r = await upload(http, reader, b"Title,Author,ISBN\r\nA,B,C\r\n")
    assert r.status_code == 422 and r.json()["code"] == "import_missing_columns"
    assert "Exclusive Shelf" in r.json()["detail"]
    r = await upload(http, reader, b"name,age\r\nbob,3\r\n")
    assert r.status_code == 422 and r.json()["code"] == "import_unknown_format"
    r = await upload(http, reader, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert r.status_code == 422 and r.json()["code"] == "import_not_csv"
    r = await upload(http, reader, goodreads_csv([]).replace(b"\r\n", b'\r\n"unclosed,x\r\n', 1)
                     + b'a"b,"c')
    assert r.status_code == 422 and r.json()["code"] in ("import_not_csv",
                                                         "import_unknown_format")
    r = await upload(http, reader, b"")
    assert r.status_code == 422 and r.json()["code"] == "import_empty"
    r = await http.post("/api/v1/imports", headers=reader.headers, json={"file": "x"})
    assert r.status_code == 422 and r.json()["code"] == "import_not_multipart"
    other = await register(http, unique, prefix="bg")
    assert (await http.get("/api/v1/imports/1", headers=other.headers)).status_code in (404,)
    assert (await http.get(f"/api/v1/imports/{2**63}", headers=other.headers)).status_code == 404
