"""Co-reading across two server processes sharing Redis: the shield and follow mode hold when
readers sit on different nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Engines
from tests.hub_support import start_nodes
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book, users


@pytest.fixture(scope="module")
def two_nodes(engines: Engines, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[list[ServerProcess]]:
    nodes = start_nodes(engines.env(READALONG_REGISTER_RATE="100000"),
                        Path(tmp_path_factory.mktemp("session-nodes")), 2)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


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
