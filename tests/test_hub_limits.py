"""Hub limits from Settings: per-connection command buckets, the presence snapshot cap, and
`readalong serve` running uvicorn without per-message-deflate."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import websockets

from tests.fixture_helpers import serve_cli
from tests.hub_support import ORIGIN, Client, new_user, node_env, start_nodes, token_for
from tests.support import ServerProcess, free_port


@pytest.fixture(scope="module")
def tuned(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A node with a tiny publish allowance (2 at once, then 1 per 100 s) and a 2-member
    presence snapshot."""
    (proc,) = start_nodes(node_env(engines, READALONG_WS_PUBLISH_RATE="0.01",
                                   READALONG_WS_PUBLISH_BURST="2",
                                   READALONG_PRESENCE_SNAPSHOT_MAX="2"),
                          tmp_path_factory.mktemp("hublimits"), 1)
    try:
        yield proc
    finally:
        proc.stop()


async def _publishes(url: str, n: int, origin: str | None) -> list[dict]:  # type: ignore[type-arg]
    client = await Client.login(url, new_user(), origin=origin)
    room = f"lobby:rl{new_user()}"
    await client.ok("subscribe", room=room)
    replies = [await client.command("publish", room=room, data={"text": f"m{i}"})
               for i in range(n)]
    await client.close()
    return replies


async def test_small_publish_rate_answers_rate_limited_sooner(tuned: ServerProcess,
                                                              server: ServerProcess) -> None:
    """With READALONG_WS_PUBLISH_RATE/_BURST set small, the third quick publish on one socket
    is refused with `rate_limited` (and a retry hint), where the defaults accept it."""
    default = await _publishes(server.ws_url, 3, origin=None)
    assert [r["type"] for r in default] == ["ack", "ack", "ack"]
    small = await _publishes(tuned.ws_url, 3, origin=ORIGIN)
    assert [r["type"] for r in small[:2]] == ["ack", "ack"]
    assert small[2]["type"] == "error" and small[2]["code"] == "rate_limited", small[2]
    assert small[2]["retry_after"] > 1.0


async def test_presence_snapshot_is_capped_with_a_total(tuned: ServerProcess) -> None:
    """In a room with more members than READALONG_PRESENCE_SNAPSHOT_MAX the subscribe ack lists
    that many (always including the subscriber) and says how many there are in
    `presence_total`."""
    room = f"lobby:cap{new_user()}"
    users = [new_user() for _ in range(4)]
    clients = [await Client.login(tuned.ws_url, u) for u in users]
    acks = [await c.ok("subscribe", room=room) for c in clients]
    assert [a["presence_total"] for a in acks] == [1, 2, 3, 4]
    assert {m["user_id"] for m in acks[1]["presence"]} == set(users[:2])
    for user, ack in zip(users[2:], acks[2:], strict=True):
        listed = {m["user_id"] for m in ack["presence"]}
        assert len(listed) == 2 and user in listed and listed <= set(users)
    for c in clients:
        await c.close()


async def _extensions(url: str) -> str | None:
    """The Sec-WebSocket-Extensions the server agreed to for a client offering deflate."""
    async with websockets.connect(url, subprotocols=["readalong.v1"],  # type: ignore[list-item]
                                  origin=ORIGIN, compression="deflate",  # type: ignore[arg-type]
                                  open_timeout=10) as ws:
        assert ws.response is not None
        await ws.send(orjson.dumps({"type": "auth", "id": "a",
                                    "token": token_for(new_user())}).decode())
        await ws.recv()
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_serve_runs_without_per_message_deflate(engines, tuned: ServerProcess,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    """`readalong serve` does not negotiate permessage-deflate with a client that offers it
    (plain uvicorn, as the tuned node runs, would)."""
    assert "permessage-deflate" in (await _extensions(tuned.ws_url) or "")
    port = free_port()
    proc = serve_cli({**node_env(engines), "READALONG_LOG_LEVEL": "WARNING"}, port,
                     tmp_path / "serve.log")
    try:
        assert await _extensions(f"ws://127.0.0.1:{port}/ws") is None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
