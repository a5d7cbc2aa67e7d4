"""Notifications caused by co-reading sessions: mentions in chat (through the spoiler shield and
blocks), replies and reactions to annotations (grouped), invitations and "is starting"."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.accounts_helpers import register
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book
from tests.worker_helpers import run_worker, worker_settings


def _note(room: str, type_: str):  # type: ignore[no-untyped-def]
    return lambda f: (f["type"] == "event" and f["room"] == room and f["event"] == "notification"
                      and f["data"]["notification"]["type"] == type_)


async def _inbox(http: httpx.AsyncClient, user: Any, type_: str | None = None) -> list[Any]:
    r = await http.get("/api/v1/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if type_ is None or i["type"] == type_]


def _range(start: float, end: float) -> list[dict[str, Any]]:
    return [{"type": "ProgressionSelector", "start": start, "end": end}]


async def test_mention_notifies_live_redacted_behind_the_gate_and_not_when_blocked(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """An @mention in session chat reaches the mentioned reader's `user:` room at once; a reader
    behind the message's position gets who and where ("at 62%") but not the text; a reader who
    blocked the author gets nothing."""
    host = await register(http, unique, prefix="hal", display_name="Hal")
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea", display_name="Bea")
    cid = await register(http, unique, prefix="cid", display_name="Cid")
    dan = await register(http, unique, prefix="dan", display_name="Dan")
    assert (await http.post(f"/api/v1/users/{ana.handle}/block",
                            headers=dan.headers)).status_code == 204
    book = await make_book(engines.database_url, f"Twist {unique}")
    title = f"Twist night {unique}"
    s = await live_session(http, host, book, title=title)
    room = s["room"]
    async with WS(server.ws_url, ana.access_token) as a, \
            WS(server.ws_url, bea.access_token) as b, WS(server.ws_url, cid.access_token) as c, \
            WS(server.ws_url, dan.access_token) as d:
        for ws, user, at in ((a, ana, 0.62), (b, bea, 0.7), (c, cid, 0.1), (d, dan, None)):
            assert (await ws.subscribe(f"user:{user.id}"))["type"] == "ack"
            if at is not None:
                assert (await ws.subscribe(room))["type"] == "ack"
                assert (await ws.move(room, at))["type"] == "ack"
        body = (f"@{bea.handle} @{cid.handle.upper()} @{dan.handle} the butler did it!"
                f" (@{ana.handle} @nobody{unique})")
        sent = await a.publish(room, {"type": "chat", "body": body})
        assert sent["type"] == "ack", sent
        await run_worker(worker_settings(engines))

        full = await b.wait(_note(f"user:{bea.id}", "mention"))
        note = full["data"]["notification"]
        assert note["text"] == f"Ana mentioned you in '{title}' (at 62%)"
        assert note["payload"]["excerpt"] == body and note["payload"]["redacted"] is False
        assert note["target"] == {"kind": "session", "id": str(s["id"])}
        assert full["data"]["unread_count"] >= 1

        hidden = await c.wait(_note(f"user:{cid.id}", "mention"))
        assert hidden["data"]["notification"]["text"] == f"Ana mentioned you in '{title}' (at 62%)"
        assert hidden["data"]["notification"]["payload"]["redacted"] is True
        assert "butler" not in json.dumps(hidden)
    assert "butler" not in json.dumps(await _inbox(http, cid))
    # over REST too
    r = await http.post(f"/api/v1/sessions/{s['id']}/messages", headers=bea.headers,
                        json={"body": f"thanks @{ana.handle}!"})
    assert r.status_code == 201, r.text
    await run_worker(worker_settings(engines))
    [back] = await _inbox(http, ana, "mention")
    assert back["text"] == f"Bea mentioned you in '{title}' (at 70%)"
    assert back["payload"]["redacted"] is True and "excerpt" not in back["payload"]  # 0.62 < 0.7
    assert await _inbox(http, dan, "mention") == []
    assert not [f for f in d.events("notification")
                if f["data"]["notification"]["type"] == "mention"]


async def test_annotation_reply_and_grouped_reactions_notify_the_author(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reply to an annotation and reactions to it (REST or socket) notify its author; four
    reactions make one entry "Uma and 3 others reacted to your note"; replies/reactions to a
    missing or someone else's private annotation are refused and store nothing."""
    host = await register(http, unique, prefix="hst", display_name="Host")
    ola = await register(http, unique, prefix="ola", display_name="Ola")
    pia = await register(http, unique, prefix="pia", display_name="Pia")
    reactors = [await register(http, unique, prefix=n.lower(), display_name=n)
                for n in ("Rex", "Sue", "Tom", "Uma")]
    book = await make_book(engines.database_url, f"Notes {unique}")
    s = await live_session(http, host, book)
    sid = s["id"]
    for u in (ola, pia, *reactors):
        r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=u.headers)
        assert r.status_code == 200, r.text
    r = await http.post(f"/api/v1/sessions/{sid}/annotations", headers=ola.headers,
                        json={"selectors": _range(0.3, 0.35), "note": "the key scene"})
    assert r.status_code == 201, r.text
    ann = r.json()["id"]
    r = await http.post(f"/api/v1/sessions/{sid}/annotations", headers=ola.headers,
                        json={"selectors": _range(0.3, 0.31), "visibility": "private"})
    private = r.json()["id"]

    async with WS(server.ws_url, pia.access_token) as p:
        assert (await p.subscribe(s["room"]))["type"] == "ack"
        ack = await p.publish(s["room"], {"type": "annotate", "selectors": _range(0.3, 0.35),
                                          "note": "agreed", "parent_id": ann})
        assert ack["type"] == "ack", ack
        ev = await p.wait(lambda f: f["type"] == "event" and f["event"] == "annotation"
                          and f["data"]["id"] == ack["result"]["annotation_id"])
        assert ev["data"]["parent_id"] == ann
    for bad in (private, 987654321):
        r = await http.post(f"/api/v1/sessions/{sid}/annotations", headers=pia.headers,
                            json={"selectors": _range(0.3, 0.35), "parent_id": bad})
        assert r.status_code == 404 and r.json()["code"] == "annotation_not_found"
        r = await http.post(f"/api/v1/sessions/{sid}/reactions", headers=pia.headers,
                            json={"emoji": "🔥", "annotation_id": bad})
        assert r.status_code == 404 and r.json()["code"] == "annotation_not_found"
    r = await http.post(f"/api/v1/sessions/{sid}/reactions", headers=pia.headers,
                        json={"emoji": "🔥"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_position"
    for u in reactors[:-1]:
        r = await http.post(f"/api/v1/sessions/{sid}/reactions", headers=u.headers,
                            json={"emoji": "❤️", "annotation_id": ann})
        assert r.status_code == 201, r.text
        assert r.json()["annotation_id"] == ann and r.json()["gate"] == 0.35
    async with WS(server.ws_url, reactors[-1].access_token) as u:
        assert (await u.subscribe(s["room"]))["type"] == "ack"
        ack = await u.publish(s["room"], {"type": "react", "emoji": "👏", "annotation_id": ann})
        assert ack["type"] == "ack", ack
    counts = await db_exec(engines.database_url,
                           "SELECT (SELECT count(*) FROM session_annotations WHERE session_id = $1)"
                           " AS a, (SELECT count(*) FROM session_reactions WHERE session_id = $1)"
                           " AS r", sid)
    assert (counts[0]["a"], counts[0]["r"]) == (3, 4)
    await run_worker(worker_settings(engines))

    [reply] = await _inbox(http, ola, "annotation_reply")
    assert reply["text"] == "Pia replied to your note"
    assert reply["target"] == {"kind": "annotation", "id": str(ann)}
    [grouped] = await _inbox(http, ola, "annotation_reaction")
    assert grouped["text"] == "Uma and 3 others reacted to your note"
    assert grouped["event_count"] == 4 and grouped["actor_count"] == 4
    assert grouped["target"] == {"kind": "annotation", "id": str(ann)}
    assert await _inbox(http, pia, "annotation_reaction") == []


async def test_invitation_notifies_and_admits_to_invite_only_session(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """The host invites users by handle or id: each gets a notification with the invite code
    and link, may join the invite-only session without the code (REST or socket), and gets
    "is starting" when it goes live; strangers still need the code; bad input stores nothing;
    joining an invite-only session never shows in followers' feeds."""
    host = await register(http, unique, prefix="hst", display_name="Host")
    bea = await register(http, unique, prefix="bea")
    cid = await register(http, unique, prefix="cid")
    eve = await register(http, unique, prefix="eve")
    dan = await register(http, unique, prefix="dan")
    fan = await register(http, unique, prefix="fan")
    assert (await http.post(f"/api/v1/users/{bea.handle}/follow",
                            headers=fan.headers)).status_code == 200
    book = await make_book(engines.database_url, f"Secret {unique}")
    title = f"Secret club {unique}"
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": title, "visibility": "invite"})
    assert r.status_code == 201, r.text
    sid, code = r.json()["id"], r.json()["invite_code"]
    url = f"/api/v1/sessions/{sid}/invitations"

    r = await http.post(url, headers=host.headers,
                        json={"handles": [bea.handle, f"ghost{unique}"], "user_ids": [cid.id]})
    assert r.status_code == 422 and r.json()["code"] == "unknown_user"
    r = await http.post(url, headers=host.headers, json={})
    assert r.status_code == 422 and r.json()["code"] == "empty_invitation"
    r = await http.post(url, headers=host.headers, json={"user_ids": list(range(1, 52))})
    assert r.status_code == 422 and r.json()["code"] == "too_many_invitations"
    r = await http.post(url, headers=host.headers, json={"user_ids": "all"})
    assert r.status_code == 400
    r = await http.post(url, headers=bea.headers, json={"user_ids": [cid.id]})
    assert r.status_code == 403 and r.json()["code"] == "not_host"
    rows = await db_exec(engines.database_url,
                         "SELECT count(*) AS n FROM session_invitations WHERE session_id = $1", sid)
    assert rows[0]["n"] == 0

    r = await http.post(url, headers=host.headers,
                        json={"handles": [bea.handle.upper()], "user_ids": [cid.id, eve.id]})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["invited"] == sorted([bea.id, cid.id, eve.id]) == out["notified"]
    assert out["invite_code"] == code and code in out["link"]
    again = (await http.post(url, headers=host.headers, json={"user_ids": [bea.id]})).json()
    assert again["invited"] == [bea.id] and again["notified"] == []
    await run_worker(worker_settings(engines))
    [inv] = await _inbox(http, bea, "session_invitation")
    assert inv["text"] == f"Host invited you to {title}"
    assert inv["payload"]["invite_code"] == code and inv["payload"]["link"] == out["link"]
    assert inv["target"] == {"kind": "session", "id": str(sid)}

    r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=bea.headers)
    assert r.status_code == 200, r.text
    r = await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=dan.headers)
    assert r.status_code == 403 and r.json()["code"] == "invite_required"
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=eve.headers)).status_code == 200
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=dan.headers)).status_code == 404
    async with WS(server.ws_url, cid.access_token) as c:
        assert (await c.subscribe(f"session:{sid}"))["type"] == "ack"
        r = await http.post(f"/api/v1/sessions/{sid}/start", headers=host.headers)
        assert r.status_code == 200, r.text
        await c.wait(lambda f: f["type"] == "event" and f["event"] == "status")
    await run_worker(worker_settings(engines))
    for user in (bea, cid, eve):
        [starting] = await _inbox(http, user, "session_starting")
        assert starting["text"] == f"{title} is starting"
    assert await _inbox(http, dan) == []
    r = await http.get("/api/v1/feed", headers=fan.headers)
    assert r.status_code == 200 and not [i for i in r.json()["items"]
                                         if i["verb"] in ("joined_session", "hosted_session")]


def test_mentioned_handles_are_parsed_like_handles() -> None:
    """@handles are found case-insensitively once each (at most ten), not inside e-mail
    addresses, after a second @ or in longer words, and not when shorter than a handle can be."""
    from domain.sessions.social import MAX_MENTIONS, mentioned_handles

    assert mentioned_handles("hi @Ana_1, @ana_1 and @bo! mail me: x@cid.org @@dee @eve-") == \
        ["ana_1", "eve"]
    assert mentioned_handles(None) == [] and mentioned_handles("no mentions") == []
    many = " ".join(f"@user{i}" for i in range(MAX_MENTIONS + 5))
    assert len(mentioned_handles(many)) == MAX_MENTIONS
    assert mentioned_handles("@" + "a" * 31) == []
