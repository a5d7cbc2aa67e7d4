"""The spoiler shield with real WebSocket clients: redacted live, unlocked on moving forward,
the same in history replay after a reconnect and in the REST listing."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users

SECRET = "The butler did it, in chapter five."


def _chat(frames: list[dict], message_id: int) -> list[dict]:
    return [f for f in frames if f["type"] == "event" and f["event"] == "chat"
            and f["data"]["id"] == message_id]


async def test_three_readers_shield(http: httpx.AsyncClient, engines: Engines,
                                    server: ServerProcess, unique: str) -> None:
    """Readers at 0.1 and 0.5 get the 0.9 reader's message redacted; moving to 0.95 pushes the
    full text to the 0.5 reader only; replay after reconnect and REST agree."""
    host, low, mid, high = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"Shield {unique}")
    s = await live_session(http, host, book, mode="free")
    room = s["room"]
    async with WS(server.ws_url, low.access_token) as a, \
            WS(server.ws_url, mid.access_token) as b, \
            WS(server.ws_url, high.access_token) as c:
        subs = [await ws.subscribe(room) for ws in (a, b, c)]
        assert all(x["type"] == "ack" for x in subs), subs
        since = {"epoch": subs[0]["result"]["epoch"], "offset": subs[0]["result"]["offset"]}
        for ws, p in ((a, 0.1), (b, 0.5), (c, 0.9)):
            ack = await ws.move(room, p)
            assert ack["type"] == "ack", ack
        sent = await c.publish(room, {"type": "chat", "body": SECRET})
        assert sent["type"] == "ack", sent
        mid_id = sent["result"]["message_id"]
        for ws in (a, b):
            ev = await ws.wait(lambda f: bool(_chat([f], mid_id)))
            assert ev["data"]["redacted"] is True and ev["data"]["body"] is None
            assert ev["data"]["author_id"] == high.id and ev["data"]["gate"] == 0.9
        mine = await c.wait(lambda f: bool(_chat([f], mid_id)))
        assert mine["data"]["body"] == SECRET
        await b.move(room, 0.95)
        full = await b.wait(lambda f: bool(_chat([f], mid_id)) and f["data"]["body"] == SECRET)
        assert full["data"]["unlocked"] is True
        # a barrier for `a`: a later message reaches it, and still nothing revealed the secret
        later = await c.publish(room, {"type": "chat", "body": "later"})
        await a.wait(lambda f: bool(_chat([f], later["result"]["message_id"])))
        assert SECRET not in json.dumps(a.frames)
    # replay after reconnect, from before the message
    async with WS(server.ws_url, low.access_token) as a, \
            WS(server.ws_url, mid.access_token) as b:
        for ws, expect in ((a, None), (b, SECRET)):
            ack = await ws.subscribe(room, since=since)
            assert ack["type"] == "ack" and ack["result"]["recovered"] is True, ack
            ev = await ws.wait(lambda f: bool(_chat([f], mid_id)))
            assert ev["data"]["body"] == expect
        assert SECRET not in json.dumps(a.frames)
    for user, expect in ((low, None), (mid, SECRET), (high, SECRET)):
        page = (await http.get(f"/api/v1/sessions/{s['id']}/messages",
                               headers=user.headers)).json()
        item = next(i for i in page["items"] if i["id"] == mid_id)
        assert item["body"] == expect and item["redacted"] is (expect is None)
    anon = (await http.get(f"/api/v1/sessions/{s['id']}/messages")).json()
    assert SECRET not in json.dumps(anon)


async def test_shield_off_and_room_default(http: httpx.AsyncClient, engines: Engines,
                                           server: ServerProcess, unique: str) -> None:
    """A reader who turns the shield off gets the full text at once; when the host sets the
    room default off, readers in the room get what was hidden pushed and newcomers see all."""
    host, low, mid, high = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"ShieldOff {unique}")
    s = await live_session(http, host, book)
    room = s["room"]
    async with WS(server.ws_url, low.access_token) as a, \
            WS(server.ws_url, high.access_token) as c:
        await a.subscribe(room)
        await c.subscribe(room)
        await a.move(room, 0.1)
        await c.move(room, 0.8)
        sent = await c.publish(room, {"type": "chat", "body": "big reveal"})
        mid_id = sent["result"]["message_id"]
        ev = await a.wait(lambda f: bool(_chat([f], mid_id)))
        assert ev["data"]["body"] is None
        ack = await a.publish(room, {"type": "shield", "enabled": False})
        assert ack["result"] == {"shield": False}
        await a.wait(lambda f: bool(_chat([f], mid_id)) and f["data"]["body"] == "big reveal")
        page = (await http.get(f"/api/v1/sessions/{s['id']}/messages",
                               headers=low.headers)).json()
        assert page["items"][0]["body"] == "big reveal"
    async with WS(server.ws_url, mid.access_token) as m, \
            WS(server.ws_url, high.access_token) as c:
        await m.subscribe(room)
        await c.subscribe(room)
        await m.move(room, 0.3)
        before = (await http.get(f"/api/v1/sessions/{s['id']}/messages",
                                 headers=mid.headers)).json()
        assert before["items"][0]["body"] is None
        second = (await c.publish(room, {"type": "chat", "body": "second reveal"}))["result"]
        await m.wait(lambda f: bool(_chat([f], second["message_id"])))
        assert "second reveal" not in json.dumps(m.frames)
        r = await http.patch(f"/api/v1/sessions/{s['id']}", json={"shield_default": False},
                             headers=host.headers)
        assert r.json()["shield_default"] is False
        # the readers in the room get what was hidden, and new messages arrive in full
        await m.wait(lambda f: bool(_chat([f], mid_id)) and f["data"]["body"] == "big reveal")
        await m.wait(lambda f: bool(_chat([f], second["message_id"]))
                     and f["data"]["body"] == "second reveal")
        third = (await c.publish(room, {"type": "chat", "body": "third"}))["result"]
        await m.wait(lambda f: bool(_chat([f], third["message_id"]))
                     and f["data"]["body"] == "third")
    newcomer, = await users(http, unique + "n", 1)
    await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=newcomer.headers)
    page = (await http.get(f"/api/v1/sessions/{s['id']}/messages",
                           headers=newcomer.headers)).json()
    assert page["items"][0]["body"] == "big reveal"


async def test_reactions_and_annotations_are_gated(http: httpx.AsyncClient, engines: Engines,
                                                   server: ServerProcess, unique: str) -> None:
    """Reactions and annotations ahead of a reader arrive redacted (no emoji, quote or note),
    keep counts, and are listed through the shield by session and by book."""
    host, low, high = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Gated {unique}")
    s = await live_session(http, host, book)
    room = s["room"]
    async with WS(server.ws_url, low.access_token) as a, \
            WS(server.ws_url, high.access_token) as c:
        await a.subscribe(room)
        await c.subscribe(room)
        await a.move(room, 0.2)
        await c.move(room, 0.7)
        r1 = await c.publish(room, {"type": "react", "emoji": "😱",
                                    "position": {"progression": 0.65, "locator": "p65"}})
        r2 = await c.publish(room, {"type": "react", "emoji": "😱",
                                    "position": {"progression": 0.65, "locator": "p65"}})
        assert r2["result"]["count"] == 2, (r1, r2)
        ann = await c.publish(room, {"type": "annotate", "visibility": "public",
                                     "note": "she was the spy", "selectors": [
            {"type": "TextQuoteSelector", "exact": "the letter", "prefix": "read ",
             "suffix": " twice"},
            {"type": "ProgressionSelector", "start": 0.6, "end": 0.62},
            {"type": "LocatorSelector", "value": "epubcfi(/6/14!/4/2)"}]})
        assert ann["type"] == "ack", ann
        ev = await a.wait(lambda f: f["type"] == "event" and f["event"] == "annotation")
        assert ev["data"]["redacted"] and ev["data"]["note"] is None \
            and ev["data"]["quote"] is None and ev["data"]["chapter"] == 3
        rev = await a.wait(lambda f: f["type"] == "event" and f["event"] == "reaction")
        assert rev["data"]["emoji"] is None
        assert "she was the spy" not in json.dumps(a.frames)
        extra = await c.publish(room, {"type": "annotate", "visibility": "session",
                                       "selectors": [{"type": "ProgressionSelector",
                                                      "start": 0.1, "end": 0.1}]})
        gone = await c.publish(room, {"type": "annotation_delete",
                                      "annotation_id": extra["result"]["annotation_id"]})
        assert gone["type"] == "ack", gone
        await a.wait(lambda f: f.get("event") == "annotation_deleted"
                     and f["data"]["id"] == extra["result"]["annotation_id"])
        bad = await c.publish(room, {"type": "react", "emoji": "🦄",
                                     "position": {"progression": 0.5, "locator": "x"}})
        assert bad["type"] == "error" and bad["code"] == "invalid_emoji"
    by_book = (await http.get(f"/api/v1/annotations?book_id={book}",
                              headers=low.headers)).json()
    assert by_book["items"][0]["note"] is None
    by_book = (await http.get(f"/api/v1/annotations?book_id={book}",
                              headers=high.headers)).json()
    assert by_book["items"][0]["note"] == "she was the spy"
    by_sess = (await http.get(f"/api/v1/sessions/{s['id']}/annotations",
                              headers=low.headers)).json()
    assert by_sess["items"][0]["redacted"] is True
    reacts = (await http.get(f"/api/v1/sessions/{s['id']}/reactions",
                             headers=high.headers)).json()
    assert [x["count"] for x in reacts["items"]] == [2, 2]
