"""A socket whose command waits on a stalled PostgreSQL (a real lock on the table a session chat
writes) keeps being read: it answers WebSocket pings and outlives uvicorn's keepalive timeout,
its commands are answered in order once the lock goes (none lost), past
READALONG_WS_MAX_PENDING commands the next is answered `overloaded` while the socket stays
open, and other sockets are not held up. Plus the keepalive deadline on its own: a pong the
server has not read yet does not get the socket closed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import websockets

from realtime.transport.upgrade import HubHttpProtocol, HubWebSocketProtocol
from tests.conftest import Engines
from tests.hub_support import accepted, in_process
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, live_session, make_book, users

TABLE = "session_messages"  # what a session `chat` inserts into
# uvicorn's keepalive on the test server: a ping every second, a pong due within a second
KEEPALIVE = ["--ws-ping-interval", "1", "--ws-ping-timeout", "1"]
PAST_KEEPALIVE = 3.5  # seconds: past a ping and its pong deadline, several times over


@pytest.fixture(scope="module")
def node(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a short keepalive and a publish allowance that lets 40 chats in at once
    (READALONG_WS_MAX_PENDING is left at its default, 32)."""
    proc = ServerProcess(engines.env(READALONG_REGISTER_RATE="100000",
                                     READALONG_LOGIN_RATE="100000",
                                     READALONG_WS_PUBLISH_RATE="1000",
                                     READALONG_WS_PUBLISH_BURST="1000"),
                         log_dir=tmp_path_factory.mktemp("overload"),
                         extra_args=KEEPALIVE).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest_asyncio.fixture
async def room(node: ServerProcess, engines: Engines,
               unique: str) -> AsyncIterator[tuple[str, list[str]]]:
    """A live session's room and the access tokens of its host and one more reader."""
    async with httpx.AsyncClient(base_url=node.base_url, timeout=15) as http:
        host, reader = await users(http, unique, 2)
        book = await make_book(engines.database_url, f"Overload {unique}")
        session = await live_session(http, host, book)
        yield session["room"], [host.access_token, reader.access_token]


@asynccontextmanager
async def stalled(database_url: str, table: str = TABLE) -> AsyncIterator[asyncpg.Connection]:
    """PostgreSQL holding an ACCESS EXCLUSIVE lock on `table` (in an open transaction of a
    connection of its own) until the block ends: every statement on it waits."""
    conn = await asyncpg.connect(database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield conn
        finally:
            await tx.rollback()
    finally:
        await conn.close()


async def waiting_on_lock(lock: asyncpg.Connection, n: int = 1) -> None:
    """Until `n` statements on the table wait for the lock (the command really is stuck)."""
    async def check() -> bool:  # (a statement being prepared has no query text yet)
        got = await lock.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = $1 AND NOT l.granted", TABLE)
        return bool(got >= n)

    await eventually(check, timeout=10)


async def send(ws: WS, cmd: dict[str, Any], cid: str) -> None:
    """Send without waiting for the answer."""
    await ws._ws.send(json.dumps({**cmd, "id": cid}))


def answer(cid: str) -> Any:
    return lambda f: f.get("id") == cid and f["type"] in ("ack", "error")


def answers(ws: WS) -> list[str]:
    """The ids of the acks and errors this socket got, in arrival order."""
    return [f["id"] for f in ws.frames if f["type"] in ("ack", "error") and f.get("id")]


async def pong(ws: WS) -> None:
    """A WebSocket (protocol-level) ping is answered: the server is reading this socket."""
    waiter = await ws._ws.ping()
    await asyncio.wait_for(waiter, 5)


async def stored(database_url: str, bodies: list[str]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(f"SELECT body FROM {TABLE} WHERE body = ANY($1::text[])"
                                " ORDER BY id", bodies)
        return [r["body"] for r in rows]
    finally:
        await conn.close()


def chat(room: str, body: str) -> dict[str, Any]:
    return {"type": "publish", "room": room, "data": {"type": "chat", "body": body}}


async def test_a_socket_stuck_on_the_database_outlives_keepalive_and_loses_nothing(
        node: ServerProcess, engines: Engines, room: tuple[str, list[str]],
        unique: str) -> None:
    """A chat waits on a locked table for longer than uvicorn's keepalive allows: the socket
    answers WebSocket pings all the while and is not closed (on main: 1011 keepalive ping
    timeout); once the lock goes the chats sent meanwhile are acked and stored, every one."""
    name, (token, _) = room
    bodies = [f"stuck {unique} {i}" for i in range(5)]
    async with WS(node.ws_url, token) as ws:
        assert (await ws.subscribe(name))["type"] == "ack"
        async with stalled(engines.database_url) as lock:
            for i, body in enumerate(bodies):
                await send(ws, chat(name, body), f"m{i}")
            await waiting_on_lock(lock)
            await asyncio.sleep(PAST_KEEPALIVE)
            await pong(ws)
            assert not [i for i in answers(ws) if i.startswith("m")], \
                "a chat was answered while its table was locked"
        for i in range(len(bodies)):
            assert (await ws.wait(answer(f"m{i}")))["type"] == "ack"
        assert sorted(await stored(engines.database_url, bodies)) == sorted(bodies)
        got = [f["data"]["body"] for f in ws.events("chat") if f["data"]["body"] in bodies]
        assert got == bodies
        assert (await ws.command({"type": "ping"}))["type"] == "ack"


async def test_commands_on_one_socket_are_answered_in_order(
        node: ServerProcess, engines: Engines, room: tuple[str, list[str]],
        unique: str) -> None:
    """Chats, moves and pings sent behind a stuck chat are answered in the order they were
    sent (a ping too waits its turn), not as each happens to finish."""
    name, (token, _) = room
    cmds = [chat(name, f"order {unique} 0"), {"type": "ping"},
            {"type": "presence", "room": name, "meta": {
                "position": {"progression": 0.1, "locator": "epubcfi(/6/4)"}}},
            chat(name, f"order {unique} 1"), {"type": "ping"},
            {"type": "presence", "room": name, "meta": {"state": "idle"}}, {"type": "ping"}]
    ids = [f"o{i}" for i in range(len(cmds))]
    async with WS(node.ws_url, token) as ws:
        assert (await ws.subscribe(name))["type"] == "ack"
        async with stalled(engines.database_url) as lock:
            for cid, cmd in zip(ids, cmds, strict=True):
                await send(ws, cmd, cid)
            await waiting_on_lock(lock)
            await pong(ws)
            assert not [i for i in answers(ws) if i in ids], "answered before the stuck chat"
        for cid in ids:
            assert (await ws.wait(answer(cid)))["type"] == "ack"
        assert [i for i in answers(ws) if i in ids] == ids


async def test_past_max_pending_the_next_command_is_overloaded_and_the_socket_stays(
        node: ServerProcess, engines: Engines, room: tuple[str, list[str]],
        unique: str) -> None:
    """32 chats are pending behind a locked table: the 33rd is answered `overloaded` with a
    `retry_after` at once (before the acks of the earlier ones), the socket stays open, the 32
    are acked once the lock goes and the 33rd goes through when sent again."""
    name, (token, _) = room
    bodies = [f"full {unique} {i}" for i in range(33)]
    async with WS(node.ws_url, token) as ws:
        assert (await ws.subscribe(name))["type"] == "ack"
        async with stalled(engines.database_url) as lock:
            for i, body in enumerate(bodies[:32]):
                await send(ws, chat(name, body), f"f{i}")
            await waiting_on_lock(lock)
            await send(ws, chat(name, bodies[32]), "f32")
            refused = await ws.wait(answer("f32"))
            assert refused["type"] == "error" and refused["code"] == "overloaded", refused
            assert refused["retry_after"] > 0
            assert not [i for i in answers(ws) if i != "f32" and i.startswith("f")]
            await pong(ws)
        for i in range(32):
            assert (await ws.wait(answer(f"f{i}")))["type"] == "ack"
        again = await ws.publish(name, {"type": "chat", "body": bodies[32]})
        assert again["type"] == "ack", again
        assert sorted(await stored(engines.database_url, bodies)) == sorted(bodies)


async def test_a_stuck_socket_does_not_hold_up_another(
        node: ServerProcess, engines: Engines, room: tuple[str, list[str]],
        unique: str) -> None:
    """While one reader's chat waits on the locked table, another reader in the same room
    moves and pings, answered while the chat still waits; the stuck socket sees those moves
    (its room events keep coming)."""
    name, (host_token, reader_token) = room
    async with WS(node.ws_url, host_token) as slow, WS(node.ws_url, reader_token) as other:
        for ws in (slow, other):
            assert (await ws.subscribe(name))["type"] == "ack"
        async with stalled(engines.database_url) as lock:
            await send(slow, chat(name, f"slow {unique}"), "s0")
            await waiting_on_lock(lock)
            for p in (0.1, 0.2, 0.3):
                assert (await other.move(name, p))["type"] == "ack"
            assert (await other.command({"type": "ping"}))["type"] == "ack"
            await slow.wait(lambda f: f["type"] == "presence" and any(
                (m["meta"].get("position") or {}).get("progression") == 0.3
                for m in f["updated"] + f["joined"]))
            assert "s0" not in answers(slow)
        assert (await slow.wait(answer("s0")))["type"] == "ack"


# -- the keepalive deadline, on an in-process uvicorn -------------------------------------------

class _Stalling:
    """Echoes text frames upper-cased, except that after the frame `stall` it takes no message
    for `seconds` (reads pause: what follows, pongs included, waits in the kernel's buffer)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message["text"] == "stall":
                await asyncio.sleep(self.seconds)
            await send({"type": "websocket.send", "text": message["text"].upper()})


async def test_a_pong_waiting_unread_does_not_get_the_socket_closed() -> None:
    """The app takes no message for 4 s while the pong of the server's ping (sent at 1 s, due
    at 3 s) waits unread behind a frame: the deadline is extended while bytes wait, the app
    reads on and the socket lives (plain uvicorn closes it at 3 s: 1011)."""
    async with in_process(_Stalling(4.0), http=HubHttpProtocol, ws=HubWebSocketProtocol,
                          ws_ping_interval=1.0, ws_ping_timeout=2.0) as port, websockets.connect(
            f"ws://127.0.0.1:{port}/ws", ping_interval=None, compression=None) as ws:
        await ws.send("stall")
        await ws.send("after")  # queued unread: reading pauses, the pong lands behind it
        assert await asyncio.wait_for(ws.recv(), 15) == "STALL"
        assert await asyncio.wait_for(ws.recv(), 15) == "AFTER"
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), 5) == "STILL HERE"
