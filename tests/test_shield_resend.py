"""Idempotent resend: content commands carry a client-chosen key, and the same key from the same
user stores one item and delivers one event — on one socket, across a reconnect, across nodes
and over REST (`Idempotency-Key`). Also: ids outside the BIGINT range in commands are `invalid`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Engines
from tests.hub_support import start_nodes
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users


@pytest.fixture(scope="module")
def second_node(engines: Engines, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ServerProcess]:
    """A second server process on the same PostgreSQL and Redis as the shared `server`."""
    nodes = start_nodes(engines.env(READALONG_REGISTER_RATE="100000",
                                    READALONG_LOGIN_RATE="100000"),
                        Path(tmp_path_factory.mktemp("resend-node")), 1)
    try:
        yield nodes[0]
    finally:
        nodes[0].stop()


def _events(ws: WS, name: str, item_id: int) -> list[dict[str, Any]]:
    return [f for f in ws.events(name) if f["data"]["id"] == item_id]


async def _barrier(ws_from: WS, observer: WS, room: str) -> None:
    """Every event sent before this point has reached `observer` (room order)."""
    ack = await ws_from.publish(room, {"type": "chat", "body": "barrier"})
    mid = ack["result"]["message_id"]
    await observer.wait(lambda f: f.get("event") == "chat" and f["data"]["id"] == mid)


async def _count(engines: Engines, table: str, key: str) -> int:
    rows = await db_exec(engines.database_url,
                         f"SELECT count(*) AS n FROM {table} WHERE client_key = $1", key)
    return int(rows[0]["n"])


async def test_resent_chat_is_stored_and_delivered_once(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """The same chat key sent twice, then again after a reconnect, gives one message, one event
    and the same id in every ack (marked `replayed`); another user's same key is their own."""
    host, writer, reader = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Resend {unique}")
    room = (await live_session(http, host, book))["room"]
    key = f"k-{unique}"
    async with WS(server.ws_url, reader.access_token) as obs, \
            WS(server.ws_url, host.access_token) as h:
        await obs.subscribe(room)
        await h.subscribe(room)
        async with WS(server.ws_url, writer.access_token) as w:
            await w.subscribe(room)
            first = await w.publish(room, {"type": "chat", "body": "typed offline",
                                           "idempotency_key": key})
            again = await w.publish(room, {"type": "chat", "body": "typed offline",
                                           "idempotency_key": key})
        async with WS(server.ws_url, writer.access_token) as w:  # after a reconnect
            await w.subscribe(room)
            later = await w.publish(room, {"type": "chat", "body": "typed offline",
                                           "idempotency_key": key})
        mid = first["result"]["message_id"]
        assert again["result"]["message_id"] == mid and later["result"]["message_id"] == mid
        assert "replayed" not in first["result"] and again["result"]["replayed"] is True
        other = await h.publish(room, {"type": "chat", "body": "mine", "idempotency_key": key})
        assert other["result"]["message_id"] != mid
        await _barrier(h, obs, room)
        assert len(_events(obs, "chat", mid)) == 1
    assert await _count(engines, "session_messages", key) == 2  # the writer's and the host's


async def test_resend_across_nodes_and_at_once(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess,
        second_node: ServerProcess, unique: str) -> None:
    """A key sent on one node and resent on another (also both at the same moment) stores one
    message and one reaction, and readers on both nodes get one event each."""
    host, writer = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"ResendNodes {unique}")
    room = (await live_session(http, host, book))["room"]
    async with WS(server.ws_url, writer.access_token) as w1, \
            WS(second_node.ws_url, writer.access_token) as w2, \
            WS(server.ws_url, host.access_token) as o1, \
            WS(second_node.ws_url, host.access_token) as o2:
        for ws in (w1, w2, o1, o2):
            assert (await ws.subscribe(room))["type"] == "ack"
        chat = {"type": "chat", "body": "hello", "idempotency_key": f"c-{unique}"}
        a = await w1.publish(room, chat)
        b = await w2.publish(room, chat)
        assert a["result"]["message_id"] == b["result"]["message_id"]
        react = {"type": "react", "emoji": "👍", "idempotency_key": f"r-{unique}",
                 "position": {"progression": 0.1, "locator": "p1"}}
        x, y = await asyncio.gather(w1.publish(room, react), w2.publish(room, react))
        assert x["type"] == y["type"] == "ack", (x, y)
        rid = x["result"]["reaction_id"]
        assert y["result"]["reaction_id"] == rid and x["result"]["count"] == 1
        for obs in (o1, o2):
            await _barrier(o1, obs, room)
            assert len(_events(obs, "chat", a["result"]["message_id"])) == 1
            assert len(_events(obs, "reaction", rid)) == 1
    assert await _count(engines, "session_messages", f"c-{unique}") == 1
    assert await _count(engines, "session_reactions", f"r-{unique}") == 1


async def test_rest_idempotency_key(http: httpx.AsyncClient, engines: Engines,
                                    server: ServerProcess, unique: str) -> None:
    """`Idempotency-Key` on POST messages, reactions and annotations: a resend answers the
    stored item, the room hears of it once; a key over 100 characters is refused."""
    host, writer = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"ResendRest {unique}")
    s = await live_session(http, host, book)
    sid, room = s["id"], s["room"]
    await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=writer.headers)
    bodies = {"messages": {"body": "over REST"},
              "reactions": {"emoji": "🔥", "position": {"progression": 0.2, "locator": "x"}},
              "annotations": {"note": "n", "selectors": [
                  {"type": "ProgressionSelector", "start": 0.1, "end": 0.1}]}}
    async with WS(server.ws_url, host.access_token) as obs:
        await obs.subscribe(room)
        ids = {}
        for kind, body in bodies.items():
            headers = {**writer.headers, "Idempotency-Key": f"{kind}-{unique}"}
            one = await http.post(f"/api/v1/sessions/{sid}/{kind}", json=body, headers=headers)
            two = await http.post(f"/api/v1/sessions/{sid}/{kind}", json=body, headers=headers)
            assert one.status_code == two.status_code == 201, (one.text, two.text)
            assert one.json()["id"] == two.json()["id"]
            ids[kind] = one.json()["id"]
        await _barrier(obs, obs, room)
        assert len(_events(obs, "chat", ids["messages"])) == 1
        assert len(_events(obs, "reaction", ids["reactions"])) == 1
        assert len(_events(obs, "annotation", ids["annotations"])) == 1
    for table, kind in (("session_messages", "messages"), ("session_reactions", "reactions"),
                        ("session_annotations", "annotations")):
        assert await _count(engines, table, f"{kind}-{unique}") == 1
    long = {**writer.headers, "Idempotency-Key": "k" * 101}
    r = await http.post(f"/api/v1/sessions/{sid}/messages", json={"body": "x"}, headers=long)
    assert r.status_code == 400 and "idempotency" in r.text.lower(), r.text


async def test_ids_outside_bigint_in_commands_are_invalid(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """`chat_edit` with message_id 10^30 (and other id fields past 2^63-1 or below 1) answer
    `invalid` naming the field, and the socket stays usable."""
    host, = await users(http, unique, 1)
    book = await make_book(engines.database_url, f"BadIds {unique}")
    room = (await live_session(http, host, book))["room"]
    async with WS(server.ws_url, host.access_token) as ws:
        await ws.subscribe(room)
        for data, field in (
                ({"type": "chat_edit", "message_id": 10**30, "body": "x"}, "message_id"),
                ({"type": "chat_delete", "message_id": 0}, "message_id"),
                ({"type": "annotation_delete", "annotation_id": 2**63}, "annotation_id"),
                ({"type": "react", "emoji": "👍", "annotation_id": 2**63}, "annotation_id"),
                ({"type": "annotate", "parent_id": -1, "selectors": [
                    {"type": "ProgressionSelector", "start": 0.1, "end": 0.1}]}, "parent_id"),
                ({"type": "chat", "body": "x", "idempotency_key": "k" * 101},
                 "idempotency_key")):
            err = await ws.publish(room, data)
            assert err["type"] == "error", err
            assert err["code"] in ("invalid", "invalid_payload") and err["field"] == field, err
            if field.endswith("_id"):
                assert err["code"] == "invalid", err
        ok = await ws.publish(room, {"type": "chat", "body": "still here"})
        assert ok["type"] == "ack"


async def test_ids_outside_bigint_over_rest(http: httpx.AsyncClient, engines: Engines,
                                            unique: str) -> None:
    """Content routes answer 404 for a path id past 2^63-1 and refuse such a `book_id` query
    naming it — never a server error."""
    host, = await users(http, unique, 1)
    book = await make_book(engines.database_url, f"BadRest {unique}")
    sid = (await live_session(http, host, book))["id"]
    huge = 2**63
    for method, path in (("GET", f"/api/v1/sessions/{huge}/messages"),
                         ("PATCH", f"/api/v1/sessions/{sid}/messages/{huge}"),
                         ("DELETE", f"/api/v1/sessions/{sid}/messages/{10**30}"),
                         ("DELETE", f"/api/v1/sessions/{sid}/annotations/{huge}")):
        r = await http.request(method, path, headers=host.headers,
                               json={"body": "x"} if method == "PATCH" else None)
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = await http.get(f"/api/v1/annotations?book_id={huge}")
    assert 400 <= r.status_code < 500 and "book_id" in r.text, r.text
