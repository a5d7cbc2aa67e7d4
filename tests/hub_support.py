"""Test helpers for the hub: a small WebSocket client (JSON or MessagePack), tokens, servers."""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import orjson
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from domain.accounts.tokens import issue_access_token
from domain.settings import DEFAULT_SECRET_KEY
from tests.support import ServerProcess, free_port

ORIGIN = "http://good.example"
HUB_ENV = {
    "READALONG_PRESENCE_TTL": "3",
    "READALONG_WS_AUTH_TIMEOUT": "2",
    "READALONG_ALLOWED_ORIGINS": ORIGIN,
    "READALONG_HISTORY_SIZE": "50",
    "READALONG_USER_HISTORY_SIZE": "50",
    "READALONG_SHUTDOWN_GRACE": "3",
}
_users = itertools.count(700_000)
_nodes = itertools.count(1)


def new_user() -> int:
    """A user id no other test uses (users need not exist in the DB for the hub's own rooms)."""
    return next(_users)


def token_for(user_id: int, ttl: int = 600, family: str | None = None) -> str:
    return issue_access_token(DEFAULT_SECRET_KEY, user_id, "reader", ttl, family=family)[0]


def start_nodes(env: dict[str, str], log_dir: Path, n: int) -> list[ServerProcess]:
    nodes: list[ServerProcess] = []
    try:
        for i in range(n):
            # unique in the session (an object id may come back after it is freed): tests
            # find a node's Redis connections and presence entries by its id
            node_id = f"node{i}-{os.getpid()}-{next(_nodes)}"
            nodes.append(ServerProcess({**env, "READALONG_NODE_ID": node_id},
                                       log_dir=log_dir).start())
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    return nodes


class Client:
    """A real `websockets` client speaking readalong.v1 or readalong.v1.msgpack."""

    def __init__(self, ws: ClientConnection, fmt: str) -> None:
        self.ws = ws
        self.fmt = fmt
        self.inbox: collections.deque[dict[str, Any]] = collections.deque()
        self._ids = itertools.count(1)
        self.welcome: dict[str, Any] | None = None

    @classmethod
    async def open(cls, url: str, *, fmt: str = "json", origin: str | None = ORIGIN,
                   subprotocols: list[str] | None = None, **kw: Any) -> Client:
        proto = "readalong.v1.msgpack" if fmt == "msgpack" else "readalong.v1"
        ws = await websockets.connect(
            url, subprotocols=subprotocols or [proto],  # type: ignore[list-item]
            origin=origin, open_timeout=10, **kw)  # type: ignore[arg-type]
        return cls(ws, fmt)

    @classmethod
    async def login(cls, url: str, user_id: int, *, fmt: str = "json", **kw: Any) -> Client:
        client = await cls.open(url, fmt=fmt, **kw)
        await client.send({"type": "auth", "id": "auth", "token": token_for(user_id)})
        client.welcome = await client.expect(lambda f: f["type"] in ("welcome", "error"))
        assert client.welcome["type"] == "welcome", client.welcome
        return client

    async def send(self, obj: dict[str, Any]) -> None:
        if self.fmt == "msgpack":
            await self.ws.send(msgspec.msgpack.encode(obj))
        else:
            await self.ws.send(orjson.dumps(obj).decode())

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if self.fmt == "msgpack":
            assert isinstance(raw, bytes), "msgpack clients get binary frames"
            return msgspec.msgpack.decode(raw)  # type: ignore[no-any-return]
        assert isinstance(raw, str), "JSON clients get text frames"
        return orjson.loads(raw)  # type: ignore[no-any-return]

    async def expect(self, pred: Callable[[dict[str, Any]], bool],
                     timeout: float = 10.0) -> dict[str, Any]:
        """The first frame (buffered or new) matching `pred`; others stay in the inbox."""
        for frame in list(self.inbox):
            if pred(frame):
                self.inbox.remove(frame)
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if pred(frame):
                return frame
            self.inbox.append(frame)

    async def command(self, type_: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send a command and return its `ack` or `error` frame."""
        cid = f"c{next(self._ids)}"
        await self.send({"type": type_, "id": cid, **fields})
        return await self.expect(lambda f: f.get("id") == cid and f["type"] in ("ack", "error"),
                                 timeout)

    async def ok(self, type_: str, **fields: Any) -> dict[str, Any]:
        reply = await self.command(type_, **fields)
        assert reply["type"] == "ack", reply
        return reply["result"]  # type: ignore[no-any-return]

    async def events(self, room: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            out.append(await self.expect(lambda f: f["type"] == "event" and f["room"] == room,
                                         timeout))
        return out

    async def presence(self, room: str, pred: Callable[[dict[str, Any]], bool],
                       timeout: float = 10.0) -> dict[str, Any]:
        return await self.expect(lambda f: f["type"] == "presence" and f["room"] == room
                                 and pred(f), timeout)

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None

    async def close(self) -> None:
        await self.ws.close()


async def lifespan(receive: Any, send: Any) -> None:
    """What a tiny in-process ASGI test app answers to uvicorn's lifespan scope."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def accepted(scope: Any, receive: Any, send: Any) -> bool:
    """For a tiny in-process ASGI test app: answer the lifespan scope (False), or accept the
    socket (True)."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return False
    await receive()
    await send({"type": "websocket.accept"})
    return True


@asynccontextmanager
async def in_process(app: Any, **config: Any) -> AsyncIterator[int]:
    """A real uvicorn serving `app` in this event loop on a free loopback port (uvicorn.Config
    options in `config`); yields the port, stops the server at the end."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", **config))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def chunks(it: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(it), n):
        yield it[i:i + n]


def node_env(engines: Any, **overrides: str) -> dict[str, str]:
    """The server environment for hub tests (short presence TTL, a test Origin allowlist)."""
    return engines.env(**{**HUB_ENV, **overrides})
