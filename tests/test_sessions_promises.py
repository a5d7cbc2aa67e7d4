"""README promises of the co-reading sessions that had no test: a block with the host hides the
session, ended sessions are read-only, the `settings`/`host_changed`/`muted` events and
`not_participant`."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts_helpers import UserSession
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users


def _ev(name: str) -> Any:
    return lambda f: f["type"] == "event" and f["event"] == name


async def _listed(http: httpx.AsyncClient, who: UserSession, which: str) -> set[int]:
    r = await http.get(f"/api/v1/sessions?list={which}&limit=100", headers=who.headers)
    assert r.status_code == 200, r.text
    return {int(i["id"]) for i in r.json()["items"]}


async def test_a_block_with_the_host_hides_the_session_both_ways(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """Whether the reader blocked the host or the host blocked the reader, that reader no longer
    finds the session: not in the live, upcoming or mine lists, 404 on the session and its
    record, `session_not_found` on join and subscribe, even after having joined; a reader with
    no block still sees all of it."""
    host, blocker, blocked, other = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"Hidden {unique}")
    s = await live_session(http, host, book)
    sid = s["id"]
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": "later", "scheduled_at": "2031-01-01T20:00:00Z"})
    later = r.json()["id"]
    for u in (blocker, blocked, other):
        r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=u.headers)
        assert r.status_code == 200, r.text
        assert sid in await _listed(http, u, "mine")
    assert (await http.post(f"/api/v1/users/{host.handle}/block",
                            headers=blocker.headers)).status_code == 204
    assert (await http.post(f"/api/v1/users/{blocked.handle}/block",
                            headers=host.headers)).status_code == 204
    for u in (blocker, blocked):
        assert sid not in await _listed(http, u, "live")
        assert sid not in await _listed(http, u, "mine")
        assert later not in await _listed(http, u, "upcoming")
        for path in (f"/api/v1/sessions/{sid}", f"/api/v1/sessions/{sid}/record",
                     f"/api/v1/sessions/{later}"):
            r = await http.get(path, headers=u.headers)
            assert r.status_code == 404 and r.json()["code"] == "session_not_found", (path, r.text)
        r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=u.headers)
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"
        async with WS(server.ws_url, u.access_token) as ws:
            err = await ws.subscribe(s["room"])
            assert err["type"] == "error" and err["code"] == "session_not_found", err
    assert sid in await _listed(http, other, "live") and sid in await _listed(http, other, "mine")
    assert later in await _listed(http, other, "upcoming")
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=other.headers)).status_code == 200
    async with WS(server.ws_url, other.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"


async def test_an_ended_session_refuses_reactions_annotations_and_positions(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """After the host ends a session, reactions and annotations answer 409 `session_ended` over
    REST and the socket, and a position report gets `session_ended`; nothing is stored and
    the reader's position stays where it was when the session ended."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Ended {unique}")
    s = await live_session(http, host, book)
    sid, room = s["id"], s["room"]
    reaction = {"emoji": "🔥", "position": {"progression": 0.1, "locator": "epubcfi(/6/2)"}}
    annotation = {"selectors": [{"type": "ProgressionSelector", "start": 0.1, "end": 0.15}],
                  "note": "a note"}
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(room))["type"] == "ack"
        assert (await ws.move(room, 0.2))["type"] == "ack"
        assert (await http.post(f"/api/v1/sessions/{sid}/end",
                                headers=host.headers)).status_code == 200
        await ws.wait(lambda f: _ev("status")(f) and f["data"]["status"] == "ended")
        r = await http.post(f"/api/v1/sessions/{sid}/reactions", json=reaction,
                            headers=reader.headers)
        assert r.status_code == 409 and r.json()["code"] == "session_ended", r.text
        r = await http.post(f"/api/v1/sessions/{sid}/annotations", json=annotation,
                            headers=reader.headers)
        assert r.status_code == 409 and r.json()["code"] == "session_ended", r.text
        err = await ws.move(room, 0.6)
        assert err["type"] == "error" and err["code"] == "session_ended", err
        err = await ws.publish(room, {"type": "react", **reaction})
        assert err["type"] == "error" and err["code"] == "session_ended", err
        err = await ws.publish(room, {"type": "annotate", **annotation})
        assert err["type"] == "error" and err["code"] == "session_ended", err
    rows = await db_exec(
        engines.database_url,
        "SELECT (SELECT count(*) FROM session_reactions WHERE session_id = $1) AS r,"
        " (SELECT count(*) FROM session_annotations WHERE session_id = $1) AS a,"
        " (SELECT progression FROM session_participants WHERE session_id = $1"
        "  AND user_id = $2) AS p", sid, reader.id)
    assert (rows[0]["r"], rows[0]["a"], rows[0]["p"]) == (0, 0, 0.2)


async def test_settings_mute_and_host_change_reach_the_room(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """Readers in the room receive `settings` when the host changes them, `muted` when a
    reader is muted and unmuted (the muted reader's chat is refused in between), and
    `host_changed` when the host hands over."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Events {unique}")
    s = await live_session(http, host, book)
    sid, room = s["id"], s["room"]
    url = f"/api/v1/sessions/{sid}"
    async with WS(server.ws_url, a.access_token) as x, WS(server.ws_url, b.access_token) as y:
        for ws in (x, y):
            assert (await ws.subscribe(room))["type"] == "ack"
        r = await http.patch(url, json={"chat_locked": True, "title": "Renamed"},
                             headers=host.headers)
        assert r.status_code == 200, r.text
        for ws in (x, y):
            got = await ws.wait(_ev("settings"))
            assert got["data"] == {"chat_locked": True, "shield_default": True,
                                   "title": "Renamed"}
        await http.patch(url, json={"chat_locked": False}, headers=host.headers)
        assert (await http.post(f"{url}/participants/{a.id}/mute",
                                headers=host.headers)).status_code == 200
        for ws in (x, y):
            got = await ws.wait(lambda f: _ev("muted")(f) and f["data"]["muted"] is True)
            assert got["data"]["user_id"] == a.id
        err = await x.publish(room, {"type": "chat", "body": "can I talk"})
        assert err["type"] == "error" and err["code"] == "muted", err
        assert (await http.delete(f"{url}/participants/{a.id}/mute",
                                  headers=host.headers)).status_code == 200
        got = await y.wait(lambda f: _ev("muted")(f) and f["data"]["muted"] is False)
        assert got["data"]["user_id"] == a.id
        assert (await x.publish(room, {"type": "chat", "body": "now I can"}))["type"] == "ack"
        r = await http.post(f"{url}/host", json={"user_id": b.id}, headers=host.headers)
        assert r.status_code == 200, r.text
        for ws in (x, y):
            got = await ws.wait(_ev("host_changed"))
            assert got["data"] == {"host_id": b.id}
    shown = (await http.get(url, headers=a.headers)).json()
    assert (shown["host_id"], shown["title"], shown["chat_locked"]) == (b.id, "Renamed", False)


async def test_not_participant(http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """Someone who never joined cannot post (403 `not_participant`), and the host cannot mute
    them or hand the session to them (404 `not_participant`, naming the user): nothing
    changes."""
    host, stranger = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"NotIn {unique}")
    s = await live_session(http, host, book)
    url = f"/api/v1/sessions/{s['id']}"
    r = await http.post(f"{url}/messages", json={"body": "hello?"}, headers=stranger.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_participant", r.text
    r = await http.post(f"{url}/participants/{stranger.id}/mute", headers=host.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_participant", r.text
    assert str(stranger.id) in r.json()["detail"]
    r = await http.post(f"{url}/host", json={"user_id": stranger.id}, headers=host.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_participant", r.text
    shown = (await http.get(url, headers=host.headers)).json()
    assert shown["host_id"] == host.id
    rows = await db_exec(engines.database_url, "SELECT count(*) AS n FROM session_participants"
                         " WHERE session_id = $1 AND user_id = $2", s["id"], stranger.id)
    assert rows[0]["n"] == 0
    msgs = (await http.get(f"{url}/messages", headers=host.headers)).json()
    assert msgs["items"] == []
