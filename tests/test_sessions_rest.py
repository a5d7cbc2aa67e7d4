"""Co-reading sessions over REST: lifecycle, lists, admission, host powers and bad input."""

from __future__ import annotations

import httpx

from domain.accounts.tokens import issue_access_token
from domain.settings import DEFAULT_SECRET_KEY
from tests.conftest import Engines
from tests.test_sessions_helpers import db_exec, live_session, make_book, users


async def test_lifecycle_lists_and_record(http: httpx.AsyncClient, engines: Engines,
                                          unique: str) -> None:
    """A host creates, starts and ends a session; it moves from upcoming to live to ended and
    keeps its record; others see it in the lists, the host in `mine`."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Lifecycle {unique}")
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": "  Night read  ", "mode": "follow", "capacity": 8,
        "scheduled_at": "2030-01-01T20:00:00Z"})
    assert r.status_code == 201, r.text
    s = r.json()
    assert (s["status"], s["title"], s["mode"], s["room"]) == (
        "scheduled", "Night read", "follow", f"session:{s['id']}")
    upcoming = (await http.get("/api/v1/sessions?list=upcoming", headers=reader.headers)).json()
    assert s["id"] in [i["id"] for i in upcoming["items"]]
    r = await http.post(f"/api/v1/sessions/{s['id']}/start", headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_host"
    r = await http.post(f"/api/v1/sessions/{s['id']}/start", headers=host.headers)
    assert r.json()["status"] == "live"
    live = (await http.get("/api/v1/sessions?list=live")).json()
    assert s["id"] in [i["id"] for i in live["items"]]
    mine = (await http.get("/api/v1/sessions?list=mine", headers=host.headers)).json()
    assert s["id"] in [i["id"] for i in mine["items"]]
    assert (await http.post(f"/api/v1/sessions/{s['id']}/join", json={},
                            headers=reader.headers)).status_code == 200
    r = await http.post(f"/api/v1/sessions/{s['id']}/messages", json={"body": "hello"},
                        headers=reader.headers)
    assert r.status_code == 201, r.text
    r = await http.post(f"/api/v1/sessions/{s['id']}/end", headers=host.headers)
    assert r.json()["status"] == "ended"
    rec = (await http.get(f"/api/v1/sessions/{s['id']}/record", headers=reader.headers)).json()
    assert rec["messages"] == 1 and rec["duration_seconds"] is not None
    assert {a["user_id"] for a in rec["attendance"]} == {host.id, reader.id}
    r = await http.post(f"/api/v1/sessions/{s['id']}/messages", json={"body": "too late"},
                        headers=reader.headers)
    assert r.status_code == 409 and r.json()["code"] == "session_ended"
    msgs = (await http.get(f"/api/v1/sessions/{s['id']}/messages",
                           headers=reader.headers)).json()
    assert [m["body"] for m in msgs["items"]] == ["hello"]


async def test_invite_only_needs_the_code(http: httpx.AsyncClient, engines: Engines,
                                          unique: str) -> None:
    """An invite-only session is hidden from strangers and refuses a join without the right
    code; with the code the reader is in."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Invite {unique}")
    s = await live_session(http, host, book, visibility="invite")
    assert s["invite_code"]
    assert (await http.get(f"/api/v1/sessions/{s['id']}", headers=reader.headers)).status_code \
        == 404
    live = (await http.get("/api/v1/sessions?list=live", headers=reader.headers)).json()
    assert s["id"] not in [i["id"] for i in live["items"]]
    r = await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "invite_required"
    r = await http.post(f"/api/v1/sessions/{s['id']}/join", json={"invite_code": "nope"},
                        headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "invite_invalid"
    r = await http.post(f"/api/v1/sessions/{s['id']}/join",
                        json={"invite_code": s["invite_code"]}, headers=reader.headers)
    assert r.status_code == 200 and r.json()["invite_code"] is None


async def test_host_powers_and_moderators(http: httpx.AsyncClient, engines: Engines,
                                          unique: str) -> None:
    """The host mutes, locks chat, deletes a message and kicks (no rejoin); a site moderator
    may delete too; handing over makes another reader host."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Powers {unique}")
    s = await live_session(http, host, book)
    sid = s["id"]
    for u in (a, b):
        assert (await http.post(f"/api/v1/sessions/{sid}/join", json={},
                                headers=u.headers)).status_code == 200
    url = f"/api/v1/sessions/{sid}"
    assert (await http.post(f"{url}/participants/{a.id}/mute", headers=b.headers)).status_code \
        == 403
    assert (await http.post(f"{url}/participants/{a.id}/mute",
                            headers=host.headers)).status_code == 200
    r = await http.post(f"{url}/messages", json={"body": "hi"}, headers=a.headers)
    assert r.status_code == 403 and r.json()["code"] == "muted"
    await http.delete(f"{url}/participants/{a.id}/mute", headers=host.headers)
    assert (await http.post(f"{url}/messages", json={"body": "hi"},
                            headers=a.headers)).status_code == 201
    await http.patch(url, json={"chat_locked": True}, headers=host.headers)
    r = await http.post(f"{url}/messages", json={"body": "hi again"}, headers=b.headers)
    assert r.status_code == 403 and r.json()["code"] == "chat_locked"
    await http.patch(url, json={"chat_locked": False}, headers=host.headers)
    m = (await http.post(f"{url}/messages", json={"body": "rude"}, headers=b.headers)).json()
    m2 = (await http.post(f"{url}/messages", json={"body": "rude 2"}, headers=b.headers)).json()
    assert (await http.delete(f"{url}/messages/{m['id']}", headers=a.headers)).status_code == 403
    assert (await http.delete(f"{url}/messages/{m['id']}", headers=host.headers)).status_code \
        == 200
    await db_exec(engines.database_url, "UPDATE users SET role = 'moderator' WHERE id = $1", a.id)
    mod_token, _ = issue_access_token(DEFAULT_SECRET_KEY, a.id, "moderator", 300)
    r = await http.delete(f"{url}/messages/{m2['id']}",
                          headers={"Authorization": f"Bearer {mod_token}"})
    assert r.status_code == 200
    bodies = [x["body"] for x in (await http.get(f"{url}/messages",
                                                 headers=host.headers)).json()["items"]]
    assert bodies == ["hi"]
    assert (await http.post(f"{url}/participants/{b.id}/kick",
                            headers=host.headers)).status_code == 200
    r = await http.post(f"{url}/join", json={}, headers=b.headers)
    assert r.status_code == 403 and r.json()["code"] == "kicked"
    r = await http.post(f"{url}/host", json={"user_id": a.id}, headers=host.headers)
    assert r.status_code == 200 and r.json()["host_id"] == a.id
    assert (await http.post(f"{url}/end", headers=host.headers)).status_code == 403
    assert (await http.post(f"{url}/end", headers=a.headers)).status_code == 200


async def test_bad_input_is_refused_and_nothing_stored(http: httpx.AsyncClient,
                                                       engines: Engines, unique: str) -> None:
    """Unknown book, bad capacity, oversize or empty messages, empty annotation selectors and
    bad ranges each get a problem-details error and store nothing."""
    host, = await users(http, unique, 1)
    book = await make_book(engines.database_url, f"Bad {unique}")
    r = await http.post("/api/v1/sessions", headers=host.headers,
                        json={"book_id": 987654321, "title": "x"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_book"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await http.post("/api/v1/sessions", headers=host.headers,
                        json={"book_id": book, "title": "x", "capacity": 0})
    assert r.status_code == 400
    r = await http.post("/api/v1/sessions", headers=host.headers,
                        json={"book_id": book, "title": "x", "mode": "chaos"})
    assert r.status_code == 400
    rows = await db_exec(engines.database_url,
                         "SELECT count(*) AS n FROM reading_sessions WHERE book_id = $1", book)
    assert rows[0]["n"] == 0
    s = await live_session(http, host, book)
    url = f"/api/v1/sessions/{s['id']}"
    r = await http.post(f"{url}/messages", json={"body": "x" * 2001}, headers=host.headers)
    assert r.status_code == 422 and r.json()["code"] == "message_too_long"
    r = await http.post(f"{url}/messages", json={"body": "   "}, headers=host.headers)
    assert r.status_code == 422 and r.json()["code"] == "empty_message"
    r = await http.post(f"{url}/annotations", json={"selectors": []}, headers=host.headers)
    assert r.status_code == 422 and r.json()["code"] == "empty_selectors"
    r = await http.post(f"{url}/annotations", headers=host.headers, json={"selectors": [
        {"type": "TextQuoteSelector", "exact": "", "prefix": "a"},
        {"type": "ProgressionSelector", "start": 0.1, "end": 0.2}]})
    assert r.status_code == 422 and r.json()["code"] == "empty_selectors"
    r = await http.post(f"{url}/annotations", headers=host.headers, json={"selectors": [
        {"type": "ProgressionSelector", "start": 0.5, "end": 1.5}]})
    assert r.status_code == 422 and r.json()["code"] == "invalid_position"
    counts = await db_exec(
        engines.database_url, "SELECT (SELECT count(*) FROM session_messages WHERE session_id"
        " = $1) AS m, (SELECT count(*) FROM session_annotations WHERE session_id = $1) AS a",
        s["id"])
    assert (counts[0]["m"], counts[0]["a"]) == (0, 0)
    r = await http.get("/api/v1/annotations?book_id=987654321")
    assert r.status_code == 422 and r.json()["code"] == "unknown_book"


async def test_capacity_followers_and_due_start(http: httpx.AsyncClient, engines: Engines,
                                                unique: str) -> None:
    """A full session refuses one more reader; a followers-only session admits only the host's
    followers; a session whose scheduled time passed is started by `start_due_sessions`."""
    from domain.db import Database
    from domain.sessions.due import start_due_sessions

    host, a, b, c = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"Cap {unique}")
    s = await live_session(http, host, book, capacity=2)
    assert (await http.post(f"/api/v1/sessions/{s['id']}/join", json={},
                            headers=a.headers)).status_code == 200
    r = await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=b.headers)
    assert r.status_code == 409 and r.json()["code"] == "session_full"
    f = await live_session(http, host, book, visibility="followers")
    r = await http.post(f"/api/v1/sessions/{f['id']}/join", json={}, headers=c.headers)
    assert r.status_code == 403 and r.json()["code"] == "followers_only"
    assert (await http.post(f"/api/v1/users/{host.handle}/follow",
                            headers=c.headers)).status_code == 200
    assert (await http.post(f"/api/v1/sessions/{f['id']}/join", json={},
                            headers=c.headers)).status_code == 200
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": "due", "scheduled_at": "2020-01-01T00:00:00Z"})
    due_id = r.json()["id"]
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    try:
        assert due_id in await start_due_sessions(db)
    finally:
        await db.close()
    assert (await http.get(f"/api/v1/sessions/{due_id}")).json()["status"] == "live"
