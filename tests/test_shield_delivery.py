"""One post-commit path for REST and the socket: the room hears of the item, and its side
effects (a mention's notification) are stored before the sender gets their answer. Also: the
AsyncAPI document lists the discussion events, and book-wide gates read the reading state."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


async def _mentions(http: httpx.AsyncClient, user: object, message_id: int) -> list[dict]:
    r = await http.get("/api/v1/notifications", headers=user.headers)  # type: ignore[attr-defined]
    return [n for n in r.json()["items"]
            if n["type"] == "mention" and n["payload"].get("message_id") == message_id]


async def test_rest_and_socket_chat_take_the_same_path(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A chat with an @mention sent over REST and over the socket: in both cases the mentioned
    reader's notification exists as soon as the sender has the response or the ack (no waiting),
    and a reader in the room receives the message once."""
    host, sender, friend = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Path {unique}")
    s = await live_session(http, host, book)
    sid, room = s["id"], s["room"]
    await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=sender.headers)
    async with WS(server.ws_url, friend.access_token) as obs, \
            WS(server.ws_url, sender.access_token) as ws:
        await obs.subscribe(room)
        await ws.subscribe(room)
        r = await http.post(f"/api/v1/sessions/{sid}/messages", headers=sender.headers,
                            json={"body": f"over REST @{friend.handle}"})
        assert r.status_code == 201, r.text
        rest_id = r.json()["id"]
        assert len(await _mentions(http, friend, rest_id)) == 1
        ack = await ws.publish(room, {"type": "chat", "body": f"over the socket @{friend.handle}"})
        sock_id = ack["result"]["message_id"]
        assert len(await _mentions(http, friend, sock_id)) == 1
        for mid in (rest_id, sock_id):
            await obs.wait(lambda f, m=mid: f.get("event") == "chat" and f["data"]["id"] == m)
        assert sorted(f["data"]["id"] for f in obs.events("chat")) == [rest_id, sock_id]


async def test_asyncapi_lists_the_session_events(http: httpx.AsyncClient) -> None:
    """/asyncapi.json lists every discussion event of session rooms with its payload schema."""
    doc = (await http.get("/asyncapi.json")).json()
    schemas = doc["components"]["schemas"]
    refs = json.dumps(doc["channels"])
    for name, tag, payload in (("ChatPosted", "chat", "MessageOut"),
                               ("ChatEdited", "chat_edited", "MessageOut"),
                               ("ChatDeleted", "chat_deleted", "Removed"),
                               ("Reacted", "reaction", "ReactionOut"),
                               ("Annotated", "annotation", "AnnotationOut"),
                               ("AnnotationDeleted", "annotation_deleted", "Removed"),
                               ("Typing", "typing", "TypingOut")):
        assert schemas[name]["properties"]["event"] == {"enum": [tag]}, schemas[name]
        assert payload in json.dumps(schemas[name]["properties"]["data"])
        assert f"#/components/schemas/{name}" in refs


async def test_book_listing_reads_the_reading_state(http: httpx.AsyncClient,
                                                    engines: Engines, unique: str) -> None:
    """A public note gated at 0.6 is redacted by book for a reader who never read that far,
    and in full once their reading progress (outside any session) passes 0.6."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"State {unique}")
    s = await live_session(http, host, book)
    await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=host.headers)
    note = {"visibility": "public", "note": "the ending", "gate_at": "passage",
            "selectors": [{"type": "ProgressionSelector", "start": 0.6, "end": 0.6}]}
    r = await http.post(f"/api/v1/sessions/{s['id']}/annotations", json=note,
                        headers=host.headers)
    assert r.status_code == 201, r.text
    url = f"/api/v1/annotations?book_id={book}"
    assert (await http.get(url, headers=reader.headers)).json()["items"][0]["note"] is None
    r = await http.post(f"/api/v1/me/books/{book}/progress", json={"progression": 0.7},
                        headers=reader.headers)
    assert r.status_code == 200, r.text
    assert (await http.get(url, headers=reader.headers)).json()["items"][0]["note"] == \
        "the ending"
