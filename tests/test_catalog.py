"""Catalog REST: ISBNs, roles, versions (ETag / If-Match), tables of contents, problem details."""

from __future__ import annotations

import httpx
import pytest

from domain.catalog.isbn import normalise_isbn
from domain.errors import Invalid
from tests.catalog_helpers import auth, create_book, hyphenate13, random_isbn, search

BOOKS = "/api/v1/books"
TOC = [{"title": "One", "start": 0}, {"title": "Two", "start": 0.4},
       {"title": "Three", "start": 0.75}]


def test_isbn_forms_are_validated_and_normalised() -> None:
    """Both ISBN forms validate their check digit, accept hyphens/spaces and normalise to 13+10."""
    assert normalise_isbn("978-0-14-143951-8") == ("9780141439518", "0141439513")
    assert normalise_isbn("0 14 143951 3") == ("9780141439518", "0141439513")
    assert normalise_isbn("0-8044-2957-x") == ("9780804429573", "080442957X")
    isbn13, isbn10 = normalise_isbn("979-10-90636-07-1")
    assert isbn13 == "9791090636071" and isbn10 is None  # 979 has no ISBN-10
    for bad, code in [("978-0-14-143951-9", "isbn_checksum"), ("0141439514", "isbn_checksum"),
                      ("12345", "invalid_isbn"), ("97801414395180", "invalid_isbn"),
                      ("977-0-14-143951-8", "invalid_isbn"), ("01414395X3", "invalid_isbn")]:
        with pytest.raises(Invalid) as err:
            normalise_isbn(bad)
        assert err.value.code == code, bad
    with pytest.raises(Invalid):
        normalise_isbn("9780141439518", form=10)


async def test_create_stores_both_isbn_forms_and_looks_up_by_either(
        http: httpx.AsyncClient, unique: str) -> None:
    """A book created with an ISBN-10 gets its ISBN-13 too, and is found by either form."""
    isbn13, isbn10 = random_isbn()
    book = await create_book(http, title=f"Isbn Book {unique}", isbn=f"{isbn10[:1]}-{isbn10[1:5]}"
                             f"-{isbn10[5:9]}-{isbn10[9]}", toc=TOC)
    assert (book["isbn13"], book["isbn10"]) == (isbn13, isbn10)
    for form in (isbn13, isbn10, hyphenate13(isbn13), f" {isbn10[:3]} {isbn10[3:]} "):
        r = await http.get(f"{BOOKS}/isbn/{form}")
        assert r.status_code == 200, form
        assert r.json()["id"] == book["id"]
        assert r.headers["etag"] == '"v1"'


async def test_bad_isbn_is_422_naming_the_field_and_stores_nothing(
        http: httpx.AsyncClient, unique: str) -> None:
    """A wrong check digit or length answers 422 problem details naming the field; no book."""
    isbn13, _ = random_isbn()
    wrong = isbn13[:12] + str((int(isbn13[12]) + 1) % 10)
    cases = [({"isbn": wrong}, "isbn", "isbn_checksum"),
             ({"isbn13": "12345"}, "isbn13", "invalid_isbn"),
             ({"isbn10": isbn13}, "isbn10", "invalid_isbn")]
    for extra, field, code in cases:
        r = await http.post(BOOKS, json={"title": f"Bad Isbn {unique}", **extra},
                            headers=auth("moderator"))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == code and body["errors"][0]["field"] == field
    assert (await search(http, q=f"bad isbn {unique}"))["total"] == 0
    r = await http.get(f"{BOOKS}/isbn/{wrong}")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "isbn"


async def test_conflicting_and_duplicate_isbns_are_refused(
        http: httpx.AsyncClient, unique: str) -> None:
    """isbn13/isbn10 naming different books is 422; a second book with a taken ISBN is 409."""
    a13, _ = random_isbn()
    _, b10 = random_isbn()
    r = await http.post(BOOKS, json={"title": f"Mismatch {unique}", "isbn13": a13, "isbn10": b10},
                        headers=auth("moderator"))
    assert r.status_code == 422 and r.json()["code"] == "isbn_mismatch"
    await create_book(http, title=f"First {unique}", isbn13=a13)
    r = await http.post(BOOKS, json={"title": f"Second {unique}", "isbn": a13},
                        headers=auth("moderator"))
    assert r.status_code == 409 and r.json()["code"] == "isbn_taken"


async def test_unknown_book_is_404_problem(http: httpx.AsyncClient) -> None:
    """Asking for a book that does not exist, by id or by a valid ISBN, answers 404."""
    r = await http.get(f"{BOOKS}/987654321012")
    assert r.status_code == 404 and r.json()["code"] == "book_not_found"
    isbn13, _ = random_isbn()
    r = await http.get(f"{BOOKS}/isbn/{isbn13}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem")


async def test_reader_cannot_create_edit_or_delete(http: httpx.AsyncClient, unique: str) -> None:
    """Readers get 403 on create, edit and delete; without a token it is 401; the book stays."""
    book = await create_book(http, title=f"Guarded {unique}")
    url = f"{BOOKS}/{book['id']}"
    reader = auth("reader")
    assert (await http.post(BOOKS, json={"title": f"Sneaky {unique}"},
                            headers=reader)).status_code == 403
    r = await http.patch(url, json={"title": "Defaced", "version": 1}, headers=reader)
    assert r.status_code == 403 and r.json()["code"] == "not_editor"
    assert (await http.delete(url, headers=reader)).status_code == 403
    assert (await http.delete(url, headers=auth("moderator"))).status_code == 403
    assert (await http.post(BOOKS, json={"title": f"Anon {unique}"})).status_code == 401
    assert (await http.patch(url, json={"title": "Anon", "version": 1})).status_code == 401
    assert (await http.delete(url)).status_code == 401
    r = await http.get(url)
    assert r.json()["title"] == f"Guarded {unique}" and r.json()["version"] == 1
    assert (await search(http, q=f"sneaky {unique}"))["total"] == 0


async def test_moderator_edits_with_if_match_and_admin_deletes(
        http: httpx.AsyncClient, unique: str) -> None:
    """A moderator's edit with If-Match bumps the version and ETag; an admin's delete removes it."""
    book = await create_book(http, title=f"Draft {unique}", authors=["A One", "B Two"],
                             subjects=["Essays"], toc=TOC)
    url = f"{BOOKS}/{book['id']}"
    got = await http.get(url)
    assert got.headers["etag"] == '"v1"'
    r = await http.patch(url, json={"title": f"Final {unique}", "authors": ["B Two", "C Three"],
                                    "subtitle": "Revised", "published": "1999-04"},
                         headers={**auth("moderator"), "If-Match": got.headers["etag"]})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert r.headers["etag"] == '"v2"' and edited["version"] == 2
    assert [a["name"] for a in edited["authors"]] == ["B Two", "C Three"]
    assert edited["published_year"] == 1999 and edited["toc"] == book["toc"]
    assert edited["subjects"] == ["Essays"]
    assert (await search(http, q=f"final {unique}"))["items"][0]["id"] == book["id"]
    assert (await search(http, q=f"draft {unique}"))["total"] == 0
    r = await http.delete(url, headers=auth("admin"))
    assert r.status_code == 204
    assert (await http.get(url)).status_code == 404
    assert (await http.delete(url, headers=auth("admin"))).status_code == 404


async def test_stale_version_is_409_and_missing_version_428(
        http: httpx.AsyncClient, unique: str) -> None:
    """Two edits of the same version: the second gets 409 with the current version; no version
    at all is 428; the losing edit changes nothing."""
    book = await create_book(http, title=f"Contested {unique}")
    url = f"{BOOKS}/{book['id']}"
    mod = auth("moderator")
    first = await http.patch(url, json={"description": "first", "version": 1}, headers=mod)
    assert first.status_code == 200
    second = await http.patch(url, json={"description": "second"},
                              headers={**mod, "If-Match": '"v1"'})
    assert second.status_code == 409
    assert second.json()["code"] == "version_conflict"
    assert second.json()["current_version"] == 2
    missing = await http.patch(url, json={"description": "third"}, headers=mod)
    assert missing.status_code == 428 and missing.json()["code"] == "version_required"
    mismatch = await http.patch(url, json={"description": "x", "version": 2},
                                headers={**mod, "If-Match": '"v1"'})
    assert mismatch.status_code == 422
    assert (await http.get(url)).json()["description"] == "first"
    stale_delete = await http.delete(url, headers={**auth("admin"), "If-Match": '"v1"'})
    assert stale_delete.status_code == 409
    bad = await http.patch(url, json={"description": "x"}, headers={**mod, "If-Match": "*"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_if_match"


async def test_etag_supports_conditional_get(http: httpx.AsyncClient, unique: str) -> None:
    """A GET with the current ETag in If-None-Match answers 304 without a body."""
    book = await create_book(http, title=f"Cached {unique}")
    r = await http.get(f"{BOOKS}/{book['id']}", headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304 and r.headers["etag"] == '"v1"'


async def test_table_of_contents_is_validated(http: httpx.AsyncClient, unique: str) -> None:
    """A TOC must start at 0, strictly increase and stay below 1; errors name the chapter."""
    bad_tocs = [
        ([{"title": "A", "start": 0.1}], "toc[0].start"),
        ([{"title": "A", "start": 0}, {"title": "B", "start": 0.5},
          {"title": "C", "start": 0.5}], "toc[2].start"),
        ([{"title": "A", "start": 0}, {"title": "B", "start": 1.0}], "toc[1].start"),
        ([{"title": "A", "start": 0}, {"title": "  ", "start": 0.2}], "toc[1].title"),
    ]
    for toc, field in bad_tocs:
        r = await http.post(BOOKS, json={"title": f"Toc {unique}", "toc": toc},
                            headers=auth("moderator"))
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    book = await create_book(http, title=f"Toc {unique}", toc=TOC)
    assert book["toc"] == [{"index": i, "title": c["title"], "start": c["start"]}
                           for i, c in enumerate(TOC)]
    r = await http.patch(f"{BOOKS}/{book['id']}", json={"toc": [], "version": 1},
                         headers=auth("admin"))
    assert r.status_code == 200 and r.json()["toc"] == []


async def test_validation_errors_are_problem_details_with_field_paths(
        http: httpx.AsyncClient, unique: str) -> None:
    """Wrong types and unknown fields answer 400, bad values 422, each naming the field."""
    mod = auth("moderator")
    r = await http.post(BOOKS, json={"title": 123}, headers=mod)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem")
    assert r.json()["errors"][0]["field"] == "title"
    r = await http.post(BOOKS, json={"title": "x", "toc": [{"title": "A", "start": "zero"}]},
                        headers=mod)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "toc[0].start"
    r = await http.post(BOOKS, json={"title": "x", "colour": "red"}, headers=mod)
    assert r.status_code == 400
    for extra, field in [({"language": "english!"}, "language"),
                         ({"published": "1813-13-01"}, "published"),
                         ({"cover_url": "javascript:alert(1)"}, "cover_url"),
                         ({"authors": ["Ann", "ann"]}, "authors[1]"),
                         ({"title": "   "}, "title")]:
        r = await http.post(BOOKS, json={"title": f"Invalid {unique}", **extra}, headers=mod)
        assert r.status_code == 422, (extra, r.text)
        assert r.json()["errors"][0]["field"] == field
    assert (await search(http, q=f"invalid {unique}"))["total"] == 0


async def test_language_and_dates_are_normalised(http: httpx.AsyncClient, unique: str) -> None:
    """Language tags get canonical case and the publication year is derived from the date."""
    book = await create_book(http, title=f"Tags {unique}", language="PT-br",
                             published="1881-03-15", subtitle="  ", page_count=321)
    assert book["language"] == "pt-BR" and book["published_year"] == 1881
    assert book["subtitle"] is None and book["page_count"] == 321


async def test_patch_keeps_absent_fields_clears_nulls_and_reindexes(
        http: httpx.AsyncClient, unique: str) -> None:
    """Absent fields stay, null clears, a new ISBN replaces both forms, and search follows the
    new authors and subjects at once."""
    isbn13, _ = random_isbn()
    book = await create_book(http, title=f"Patchy {unique}", subtitle="Old", isbn=isbn13,
                             publisher="P", subjects=[f"OldSubj{unique}"])
    url = f"{BOOKS}/{book['id']}"
    new13, new10 = random_isbn()
    r = await http.patch(url, json={"version": 1, "subtitle": None, "isbn10": new10,
                                    "authors": [f"Zed{unique} Writer"],
                                    "subjects": [f"NewSubj{unique}"]},
                         headers=auth("moderator"))
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["subtitle"] is None and edited["publisher"] == "P"
    assert (edited["isbn13"], edited["isbn10"]) == (new13, new10)
    assert (await http.get(f"{BOOKS}/isbn/{isbn13}")).status_code == 404
    assert (await search(http, q=f"zed{unique}"))["items"][0]["id"] == book["id"]
    assert (await search(http, subject=f"OldSubj{unique}"))["total"] == 0
    assert (await search(http, subject=f"NewSubj{unique}"))["total"] == 1
    r = await http.patch(url, json={"version": 2, "isbn": None}, headers=auth("moderator"))
    assert r.status_code == 200 and r.json()["isbn13"] is None and r.json()["isbn10"] is None
    r = await http.patch(url, json={"version": 3, "isbn13": "978"}, headers=auth("moderator"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "isbn13"
    assert (await http.get(url)).json()["version"] == 3
