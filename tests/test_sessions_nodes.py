"""Co-reading across two server processes sharing Redis: the shield and follow mode hold when
readers sit on different nodes."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


async def test_shield_and_follow_across_nodes(two_nodes: list[ServerProcess], engines: Engines,
                                              unique: str) -> None:
    """A message written on node B reaches a reader on node A redacted, the full text is pushed
    when that reader moves past it, and the host's follow moves reach both nodes in order."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, low, high = await users(http, unique, 3)
        book = await make_book(engines.database_url, f"Nodes {unique}")
        s = await live_session(http, host, book, mode="follow")
    room = s["room"]
    async with WS(a_node.ws_url, low.access_token) as x, \
            WS(b_node.ws_url, high.access_token) as y, \
            WS(b_node.ws_url, host.access_token) as h:
        for ws in (x, y, h):
            assert (await ws.subscribe(room))["type"] == "ack"
        await x.move(room, 0.2)
        await y.move(room, 0.7)
        sent = (await y.publish(room, {"type": "chat", "body": "twist on node B"}))["result"]
        ev = await x.wait(lambda f: f.get("event") == "chat"
                          and f["data"]["id"] == sent["message_id"])
        assert ev["data"]["body"] is None
        await x.move(room, 0.75)
        await x.wait(lambda f: f.get("event") == "chat" and f["data"]["body"] == "twist on node B")
        moves = [0.1, 0.3, 0.5, 0.9]
        for p in moves:
            assert (await h.move(room, p))["type"] == "ack"
        for ws in (x, y):
            await ws.wait(lambda f: f.get("event") == "follow"
                          and f["data"]["position"]["progression"] == 0.9)
            assert [f["data"]["position"]["progression"] for f in ws.events("follow")] == moves
        assert json.dumps(x.frames).count("twist on node B") == 1


async def test_kick_reaches_the_other_node(two_nodes: list[ServerProcess], engines: Engines,
                                           unique: str) -> None:
    """A kick made over REST on node A removes the reader connected to node B from the room
    and from presence, and node B refuses their resubscription."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, victim, witness = await users(http, unique, 3)
        book = await make_book(engines.database_url, f"KickNodes {unique}")
        s = await live_session(http, host, book)
        room = s["room"]
        async with WS(a_node.ws_url, host.access_token) as h, \
                WS(b_node.ws_url, victim.access_token) as v, \
                WS(b_node.ws_url, witness.access_token) as w:
            await h.subscribe(room)
            await v.subscribe(room)
            await w.subscribe(room)
            r = await http.post(f"/api/v1/sessions/{s['id']}/participants/{victim.id}/kick",
                                headers=host.headers)
            assert r.status_code == 200
            await h.wait(lambda f: f["type"] == "presence" and victim.id in f["left"])
            await v.wait(lambda f: f.get("event") == "kicked"
                         and f["data"]["user_id"] == victim.id)
            again = await v.subscribe(room)
            assert again["type"] == "error" and again["code"] == "kicked"
            after = (await h.publish(room, {"type": "chat", "body": "bye"}))["result"]
            # it reached node B (another reader there got it) before we look at the victim
            await w.wait(lambda f: f.get("event") == "chat"
                         and f["data"]["id"] == after["message_id"])
            assert (await v.command({"type": "ping"}))["type"] == "ack"
            assert after["message_id"] not in [f["data"]["id"] for f in v.events("chat")]
