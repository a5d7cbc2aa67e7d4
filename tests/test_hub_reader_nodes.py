"""Per-reader state crosses nodes: a reader's shield and progress reach every tab of theirs,
whichever server process each tab is connected to (two real uvicorn processes)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


def _chat(message_id: int) -> Any:
    return lambda f: f.get("event") == "chat" and f["data"]["id"] == message_id


async def test_shield_and_progress_reach_the_readers_tab_on_the_other_node(
        two_nodes: list[ServerProcess], engines: Engines, unique: str) -> None:
    """A reader with a tab on each node turns the shield off, then on, then reads ahead from
    one tab: the tab on the other node follows each change (full text, then redacted, then
    the unlocked full text and full new messages)."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, reader, writer = await users(http, unique, 3)
        book = await make_book(engines.database_url, f"ReaderNodes {unique}")
        s = await live_session(http, host, book)
    room = s["room"]
    async with WS(a_node.ws_url, reader.access_token) as here, \
            WS(b_node.ws_url, reader.access_token) as there, \
            WS(a_node.ws_url, writer.access_token) as w:
        for ws in (here, there, w):
            assert (await ws.subscribe(room))["type"] == "ack"
        await here.move(room, 0.1)
        await w.move(room, 0.8)
        # shield off from the tab on node A: the tab on node B gets full text too
        assert (await here.publish(room, {"type": "shield", "enabled": False}))["result"] == {
            "shield": False}
        one = (await w.publish(room, {"type": "chat", "body": "reveal one"}))["result"]
        ev = await there.wait(_chat(one["message_id"]))
        assert ev["data"]["body"] == "reveal one"
        # shield on from node A: node B's tab stops receiving full text
        assert (await here.publish(room, {"type": "shield", "enabled": True}))["result"] == {
            "shield": True}
        two = (await w.publish(room, {"type": "chat", "body": "reveal two"}))["result"]
        for tab in (here, there):
            ev = await tab.wait(_chat(two["message_id"]))
            assert ev["data"]["body"] is None
        assert "reveal two" not in json.dumps(there.frames)
        # reading past it on node A unlocks it on node B, and raises B's progress
        assert (await here.move(room, 0.9))["type"] == "ack"
        await there.wait(lambda f: _chat(two["message_id"])(f)
                         and f["data"]["body"] == "reveal two")
        three = (await w.publish(room, {"type": "chat", "body": "reveal three"}))["result"]
        ev = await there.wait(_chat(three["message_id"]))
        assert ev["data"]["body"] == "reveal three"


async def test_a_shield_change_reaches_only_that_reader(two_nodes: list[ServerProcess],
                                                       engines: Engines, unique: str) -> None:
    """Another reader on the other node keeps their own shield when one reader turns theirs
    off: they still get redacted text."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        host, reader, other, writer = await users(http, unique, 4)
        book = await make_book(engines.database_url, f"ReaderOnly {unique}")
        s = await live_session(http, host, book)
    room = s["room"]
    async with WS(a_node.ws_url, reader.access_token) as r, \
            WS(b_node.ws_url, other.access_token) as o, \
            WS(b_node.ws_url, writer.access_token) as w:
        for ws in (r, o, w):
            assert (await ws.subscribe(room))["type"] == "ack"
        await r.move(room, 0.1)
        await o.move(room, 0.1)
        await w.move(room, 0.8)
        await r.publish(room, {"type": "shield", "enabled": False})
        sent = (await w.publish(room, {"type": "chat", "body": "not for you"}))["result"]
        assert (await r.wait(_chat(sent["message_id"])))["data"]["body"] == "not for you"
        assert (await o.wait(_chat(sent["message_id"])))["data"]["body"] is None
        assert "not for you" not in json.dumps(o.frames)
