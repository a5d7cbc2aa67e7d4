"""The reading schedule over a real server and a real burst worker: a default schedule from the
table of contents, opening on a controlled clock exactly once, shifting (members are told) and
"I've read up to here"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, open_sections_at, read_to
from tests.conftest import Engines
from tests.test_sessions_helpers import make_book

_open_at = open_sections_at


async def test_default_schedule_opens_once_and_shifts(http: httpx.AsyncClient,
                                                      engines: Engines, unique: str) -> None:
    """Without custom sections the schedule has one section per chapter, a week apart; the
    worker opens only the due ones, once even when run twice (one notification per member);
    shifting moves the unopened ones and tells every member."""
    owner, m = [await register(http, unique, prefix=p) for p in ("ow", "mm")]
    book = await make_book(engines.database_url, f"Sched {unique}")
    club = await make_club(http, owner, f"sch-{unique}", book_id=book)
    cid = club["id"]
    await join(http, cid, m)
    start = datetime(2030, 1, 1, 18, 0, tzinfo=UTC)
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers,
                        json={"first_opens_at": start.isoformat(), "every_days": 7})
    assert r.status_code == 201, r.text
    secs = r.json()["items"]
    assert [(s["start"], s["end"]) for s in secs] == [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6),
                                                      (0.6, 0.8), (0.8, 1.0)]
    assert secs[1]["opens_at"].startswith("2030-01-08")
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=m.headers, json={})
    assert r.status_code == 403
    for _ in range(2):
        await _open_at(engines, start + timedelta(days=8))
    got = (await http.get(f"/api/v1/clubs/{cid}/sections", headers=m.headers)).json()["items"]
    assert [s["open"] for s in got] == [True, True, False, False, False]
    notes = (await http.get("/api/v1/notifications", headers=m.headers)).json()["items"]
    opened = [n for n in notes if n["type"] == "club_section_opened"]
    assert sorted(n["payload"]["section_id"] for n in opened) == [secs[0]["id"], secs[1]["id"]]
    r = await http.post(f"/api/v1/clubs/{cid}/schedule/shift", headers=owner.headers,
                        json={"hours": 48})
    assert r.status_code == 200
    after = r.json()["items"]
    assert after[0]["opens_at"] == got[0]["opens_at"]  # opened ones stay
    assert after[2]["opens_at"].startswith("2030-01-17")
    notes = (await http.get("/api/v1/notifications", headers=m.headers)).json()["items"]
    assert any(n["type"] == "club_schedule_changed" and n["payload"]["hours"] == 48
               for n in notes)
    r = await http.post(f"/api/v1/clubs/{cid}/sections/{secs[2]['id']}/read",
                        headers=m.headers)
    assert r.status_code == 200 and r.json()["furthest"] == 0.6
    state = (await http.get(f"/api/v1/me/books/{book}", headers=m.headers)).json()
    assert state["furthest"] == 0.6
    mine = (await http.get(f"/api/v1/clubs/{cid}/sections/{secs[3]['id']}",
                           headers=m.headers)).json()
    assert mine["locked"] is False  # at 0.6 the 0.6-0.8 section has started for me
    bad = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "x", "start": 0.5, "end": 0.4,
                      "opens_at": start.isoformat()}]})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_section"


async def test_member_board(http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """The board says who is ahead of, on track with or behind the latest opened section, and
    shows a member with a private profile only as "hidden" to others (never their position)."""
    owner, on, ahead, shy = [await register(http, unique, prefix=p)
                             for p in ("ow", "on", "ah", "sh")]
    book = await make_book(engines.database_url, f"Board {unique}")
    club = await make_club(http, owner, f"brd-{unique}", book_id=book)
    cid = club["id"]
    for u in (on, ahead, shy):
        await join(http, cid, u)
    start = datetime(2030, 6, 1, tzinfo=UTC)
    await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers,
                    json={"first_opens_at": start.isoformat(), "every_days": 7})
    await _open_at(engines, start + timedelta(days=1))  # the first section (0.0-0.2) opens
    await read_to(http, on, book, 0.1)
    await read_to(http, ahead, book, 0.5)
    await read_to(http, shy, book, 0.9)
    r = await http.patch("/api/v1/me", json={"visibility": "private"}, headers=shy.headers)
    assert r.status_code == 200, r.text
    board = (await http.get(f"/api/v1/clubs/{cid}/board", headers=owner.headers)).json()
    assert (board["section_start"], board["section_end"]) == (0.0, 0.2)
    rows = {m["user_id"]: (m["furthest"], m["standing"]) for m in board["members"]}
    assert rows == {owner.id: (0.0, "on_track"), on.id: (0.1, "on_track"),
                    ahead.id: (0.5, "ahead"), shy.id: (None, "hidden")}
    own = (await http.get(f"/api/v1/clubs/{cid}/board", headers=shy.headers)).json()
    assert {m["user_id"]: m["standing"] for m in own["members"]}[shy.id] == "ahead"


async def test_spoiler_free_post_lowers_to_the_section_start(http: httpx.AsyncClient,
                                                             engines: Engines,
                                                             unique: str) -> None:
    """A thread post marked spoiler-free is gated at its section's start, not its end: a
    member inside the section reads it, one before the section still does not; club chat
    offers no such flag (a clear error)."""
    owner, inside, before = [await register(http, unique, prefix=p)
                             for p in ("ow", "in", "bf")]
    book = await make_book(engines.database_url, f"Safe {unique}")
    club = await make_club(http, owner, f"sf-{unique}", book_id=book)
    cid = club["id"]
    for u in (inside, before):
        await join(http, cid, u)
    await read_to(http, inside, book, 0.3)
    await read_to(http, before, book, 0.1)
    past = datetime.now(UTC) - timedelta(days=1)
    secs = (await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "Two", "start": 0.2, "end": 0.4,
                      "opens_at": past.isoformat()}]})).json()["items"]
    sid = secs[0]["id"]
    await _open_at(engines, datetime.now(UTC))
    posts = f"/api/v1/clubs/{cid}/sections/{sid}/posts"
    safe = await http.post(posts, json={"body": "SAFE first impressions", "spoiler_free": True},
                           headers=inside.headers)
    assert safe.status_code == 201 and safe.json()["gate"] == 0.2, safe.text
    plain = await http.post(posts, json={"body": "ENDING talk"}, headers=inside.headers)
    assert plain.json()["gate"] == 0.4
    mine = [p["body"] for p in (await http.get(posts, headers=inside.headers)).json()["items"]]
    assert mine == ["SAFE first impressions", "ENDING talk"]
    peer = await register(http, unique, prefix="pe")
    await join(http, cid, peer)
    await read_to(http, peer, book, 0.3)
    seen = [p["body"] for p in (await http.get(posts, headers=peer.headers)).json()["items"]]
    assert seen == ["SAFE first impressions", None]
    early = (await http.get(posts, headers=before.headers)).json()["items"]
    assert [p["body"] for p in early] == [None, None]
    chat = await http.post(f"/api/v1/clubs/{cid}/messages",
                           json={"body": "x", "spoiler_free": True}, headers=inside.headers)
    assert chat.status_code in (400, 422), chat.text


async def test_lock_and_pin_a_thread(http: httpx.AsyncClient, engines: Engines,
                                     unique: str) -> None:
    """Organisers lock a section thread (members are refused with `thread_locked`, the owner
    still posts) and pin one of its posts; a post of another thread cannot be pinned; members
    cannot moderate."""
    owner, m = [await register(http, unique, prefix=p) for p in ("ow", "lk")]
    book = await make_book(engines.database_url, f"Lock {unique}")
    club = await make_club(http, owner, f"lk-{unique}", book_id=book)
    cid = club["id"]
    await join(http, cid, m)
    past = datetime.now(UTC) - timedelta(days=1)
    secs = (await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": t, "start": a, "end": b, "opens_at": past.isoformat()}
                     for t, a, b in (("One", 0.0, 0.5), ("Two", 0.5, 1.0))]})).json()["items"]
    await _open_at(engines, datetime.now(UTC))
    one, two = (f"/api/v1/clubs/{cid}/sections/{s['id']}" for s in secs)
    post = (await http.post(f"{one}/posts", json={"body": "hello"}, headers=m.headers)).json()
    other = (await http.post(f"{two}/posts", json={"body": "x"}, headers=m.headers)).json()
    r = await http.patch(f"{one}/thread", json={"locked": True}, headers=m.headers)
    assert r.status_code == 403
    r = await http.patch(f"{one}/thread", json={"locked": True,
                                                "pinned_message_id": post["id"]},
                         headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["thread_locked"], r.json()["pinned_message_id"]) == (True, post["id"])
    refused = await http.post(f"{one}/posts", json={"body": "more"}, headers=m.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "thread_locked"
    assert (await http.post(f"{one}/posts", json={"body": "note from the host"},
                            headers=owner.headers)).status_code == 201
    bad = await http.patch(f"{one}/thread", json={"pinned_message_id": other["id"]},
                           headers=owner.headers)
    assert bad.status_code == 404 and bad.json()["code"] == "message_not_found"


async def test_schedule_in_the_club_time_zone(http: httpx.AsyncClient, engines: Engines,
                                              unique: str) -> None:
    """Schedule times without an offset are the club's wall-clock time (Europe/Paris is
    UTC+1 in winter), a section keeps its discussion date through a shift, an unknown zone
    is refused; the book's page lists the clubs reading it."""
    owner = await register(http, unique, prefix="tz")
    book = await make_book(engines.database_url, f"Zone {unique}")
    for name in ("Mars/Olympus", "Europe", "../etc"):
        bad = await http.post("/api/v1/clubs", headers=owner.headers, json={
            "name": "Nowhere", "slug": f"nz-{unique}", "time_zone": name})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_time_zone", name
    club = await make_club(http, owner, f"tz-{unique}", book_id=book, time_zone="Europe/Paris")
    assert club["time_zone"] == "Europe/Paris"
    cid = club["id"]
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "One", "start": 0.0, "end": 0.5,
                      "opens_at": "2031-01-10T19:00:00",
                      "discussion_at": "2031-01-17T20:30:00"}]})
    assert r.status_code == 201, r.text
    sec = r.json()["items"][0]
    assert sec["opens_at"].startswith("2031-01-10T18:00:00") and sec["time_zone"] == "Europe/Paris"
    assert sec["discussion_at"].startswith("2031-01-17T19:30:00")
    moved = await http.post(f"/api/v1/clubs/{cid}/schedule/shift", headers=owner.headers,
                            json={"hours": 24})
    assert moved.json()["items"][0]["discussion_at"].startswith("2031-01-18T19:30:00")
    listed = (await http.get(f"/api/v1/books/{book}/clubs")).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    assert (await http.get("/api/v1/books/99999999999999999999/clubs")).status_code == 404
