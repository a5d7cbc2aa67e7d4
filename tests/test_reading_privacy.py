"""Whose reading states others see: the profile visibility rule of domain.social.rules, blocks,
and the per-book private flag (which hides a state and its log from everyone but its reader)."""

from __future__ import annotations

import httpx

from tests.accounts_helpers import UserSession, register
from tests.reading_helpers import new_book, progress, put_state


def theirs(user: UserSession, tail: str = "") -> str:
    return f"/api/v1/users/{user.handle}/books{tail}"


async def _visibility(http: httpx.AsyncClient, user: UserSession, visibility: str) -> None:
    r = await http.patch("/api/v1/me", json={"visibility": visibility}, headers=user.headers)
    assert r.status_code == 200, r.text


async def test_public_reader_shows_books_but_not_private_ones(http: httpx.AsyncClient,
                                                              unique: str) -> None:
    """Anyone sees a public reader's books, shelves and log, except the books they marked private
    (which stay visible to the reader themself)."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    open_book, secret = await new_book(http, unique), await new_book(http, unique + "s")
    await progress(http, alice, open_book["id"], page=30)
    await put_state(http, alice, secret["id"], status="reading", private=True, shelves=["Guilty"])
    await progress(http, alice, secret["id"], page=60)
    for headers in ({}, bob.headers):
        listed = (await http.get(theirs(alice), headers=headers)).json()["items"]
        assert [s["book"]["id"] for s in listed] == [open_book["id"]]
        log = (await http.get(theirs(alice, "/log"), headers=headers)).json()["items"]
        assert {e["book_id"] for e in log} == {open_book["id"]}
        shelves = (await http.get(theirs(alice, "/shelves"), headers=headers)).json()
        assert shelves["statuses"]["reading"] == 1 and shelves["shelves"] == []
        r = await http.get(theirs(alice, f"/{secret['id']}"), headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "reading_state_not_found"
        r = await http.get(theirs(alice, f"/{open_book['id']}"), headers=headers)
        assert r.status_code == 200 and r.json()["furthest"] == 0.1
    own = (await http.get(theirs(alice), headers=alice.headers)).json()["items"]
    assert {s["book"]["id"] for s in own} == {open_book["id"], secret["id"]}
    assert (await http.get(theirs(alice, f"/{2**63}"))).status_code == 404


async def test_followers_only_and_private_profiles(http: httpx.AsyncClient,
                                                   unique: str) -> None:
    """A followers-only reader's books answer 403 to strangers and show to approved followers; a
    private reader's answer 404 to everyone but themself."""
    owner = await register(http, unique, prefix="o")
    fan = await register(http, unique, prefix="f")
    book = await new_book(http, unique)
    await put_state(http, owner, book["id"], status="want_to_read")
    await _visibility(http, owner, "followers")
    r = await http.get(theirs(owner), headers=fan.headers)
    assert r.status_code == 403 and r.json()["code"] == "profile_followers_only"
    assert (await http.get(theirs(owner, "/log"))).status_code == 403
    assert (await http.post(f"/api/v1/users/{owner.handle}/follow",
                            headers=fan.headers)).json()["state"] == "requested"
    assert (await http.get(theirs(owner), headers=fan.headers)).status_code == 403
    r = await http.post(f"/api/v1/me/follow-requests/{fan.handle}", headers=owner.headers)
    assert r.status_code == 200, r.text
    listed = (await http.get(theirs(owner), headers=fan.headers)).json()["items"]
    assert [s["book"]["id"] for s in listed] == [book["id"]]
    await _visibility(http, owner, "private")
    for headers in ({}, fan.headers):
        r = await http.get(theirs(owner), headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "user_not_found"
    assert (await http.get(theirs(owner), headers=owner.headers)).status_code == 200


async def test_blocked_readers_see_nothing(http: httpx.AsyncClient, unique: str) -> None:
    """After a block, neither reader sees the other's books (404 both ways)."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    book = await new_book(http, unique)
    await put_state(http, alice, book["id"], status="read")
    await put_state(http, bob, book["id"], status="read")
    assert (await http.get(theirs(alice), headers=bob.headers)).status_code == 200
    r = await http.post(f"/api/v1/users/{bob.handle}/block", headers=alice.headers)
    assert r.status_code == 204, r.text
    for viewer, owner in ((bob, alice), (alice, bob)):
        r = await http.get(theirs(owner), headers=viewer.headers)
        assert r.status_code == 404, r.text
        assert (await http.get(theirs(owner, f"/{book['id']}"),
                               headers=viewer.headers)).status_code == 404
    assert (await http.get(theirs(alice))).status_code == 200  # others still see alice
