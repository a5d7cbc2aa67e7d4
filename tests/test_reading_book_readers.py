"""A book's "who's reading it": anonymous counts for everyone, and the people I follow who read
it, each only as far as the privacy rule and blocks let me see them."""

from __future__ import annotations

import httpx

from tests.accounts_helpers import register
from tests.reading_helpers import new_book, put_state
from tests.test_reading_privacy import _visibility


async def test_who_is_reading_a_book(http: httpx.AsyncClient, unique: str) -> None:
    """Ana follows four readers of the book: she sees the public one and the followers-only one
    with their status and place; not the one who marked the book private, not the one who
    blocked her; the counts leave private states out; a visitor gets the counts only."""
    ana = await register(http, unique, prefix="ana")
    pub, fol, hid, blk = [await register(http, unique, prefix=p) for p in ("pub", "fol", "hid",
                                                                         "blk")]
    book = await new_book(http, unique)
    bid = book["id"]
    await put_state(http, pub, bid, status="reading")
    await http.post(f"/api/v1/me/books/{bid}/progress", json={"progression": 0.4},
                    headers=pub.headers)
    await put_state(http, fol, bid, status="read")
    await put_state(http, hid, bid, status="reading", private=True)
    await put_state(http, blk, bid, status="reading")
    await _visibility(http, fol, "followers")
    for who in (pub, fol, hid, blk):
        r = await http.post(f"/api/v1/users/{who.handle}/follow", headers=ana.headers)
        assert r.status_code in (200, 201, 202, 204), r.text
    r = await http.post(f"/api/v1/me/follow-requests/{ana.handle}", headers=fol.headers)
    assert r.status_code in (200, 204), r.text
    r = await http.post(f"/api/v1/users/{ana.handle}/block", headers=blk.headers)
    assert r.status_code == 204, r.text

    seen = (await http.get(f"/api/v1/books/{bid}/readers", headers=ana.headers)).json()
    assert [(p["handle"], p["status"]) for p in seen["following"]] == [
        (fol.handle, "read"), (pub.handle, "reading")]
    assert [p["furthest"] for p in seen["following"] if p["handle"] == pub.handle] == [0.4]
    assert (seen["reading_now"], seen["read"]) == (2, 1)  # pub and blk; fol (hid is private)
    visitor = (await http.get(f"/api/v1/books/{bid}/readers")).json()
    assert visitor["following"] == [] and visitor["reading_now"] == 2
    r = await http.get(f"/api/v1/books/{2**62}/readers")
    assert r.status_code == 404 and r.json()["code"] == "book_not_found"
