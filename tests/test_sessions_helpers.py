"""Helpers for the co-reading tests (no tests here): books, sessions, positions, WS clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx

from tests.accounts_helpers import UserSession, register

CHAPTERS = (0.0, 0.2, 0.4, 0.6, 0.8)


async def make_book(database_url: str, title: str, pages: int | None = None) -> int:
    """A real catalog row with a five-chapter table of contents."""
    conn = await asyncpg.connect(database_url)
    try:
        book_id = await conn.fetchval(
            "INSERT INTO books (title, title_key, page_count) VALUES ($1, $2, $3) RETURNING id",
            title, title.lower(), pages)
        for i, start in enumerate(CHAPTERS):
            await conn.execute("INSERT INTO book_chapters (book_id, position, title, start)"
                               " VALUES ($1, $2, $3, $4)", book_id, i, f"Chapter {i + 1}", start)
        return int(book_id)
    finally:
        await conn.close()


async def users(http: httpx.AsyncClient, unique: str, n: int) -> list[UserSession]:
    return [await register(http, unique, prefix=f"r{i}") for i in range(n)]


async def live_session(http: httpx.AsyncClient, host: UserSession, book_id: int,
                       **fields: Any) -> dict[str, Any]:
    body = {"book_id": book_id, "title": "Reading together", **fields}
    r = await http.post("/api/v1/sessions", json=body, headers=host.headers)
    assert r.status_code == 201, r.text
    session = r.json()
    r = await http.post(f"/api/v1/sessions/{session['id']}/start", headers=host.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def db_exec(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


class WS:
    """A real `websockets` client speaking readalong.v1 (JSON) that keeps every frame it got."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.frames: list[dict[str, Any]] = []
        self._n = 0
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Any, asyncio.Future[dict[str, Any]]]] = []
        self._closed: BaseException | None = None

    async def __aenter__(self) -> WS:
        import websockets

        self._ws = await websockets.connect(
            self.url, subprotocols=["readalong.v1", f"bearer.{self.token}"],  # type: ignore[list-item]
            origin="http://127.0.0.1:8000", max_size=2**20)  # type: ignore[arg-type]
        self._reader = asyncio.create_task(self._read())
        await self.wait(lambda f: f["type"] == "welcome")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        """Keep every frame and wake the waiters it matches. A predicate that raises fails its
        own wait with that exception (it is the test's error, not the socket's); when the
        server closes the socket, pending waits fail with ConnectionClosed at once."""
        import websockets

        try:
            async for raw in self._ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                for pred, fut in list(self._waiters):
                    if fut.done():
                        continue
                    try:
                        matched = pred(frame)
                    except Exception as exc:
                        fut.set_exception(exc)
                        continue
                    if matched:
                        fut.set_result(frame)
        except websockets.ConnectionClosed as exc:
            self._closed = exc
        except Exception as exc:
            self._closed = exc
        else:
            self._closed = websockets.ConnectionClosed(None, None)
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(self._closed)

    async def wait(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        for frame in self.frames:
            if pred(frame):
                return frame
        if self._closed is not None:
            raise self._closed
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.remove((pred, fut))

    async def command(self, cmd: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a command; return its `ack` or `error` frame."""
        self._n += 1
        cid = f"c{self._n}"
        await self._ws.send(json.dumps({**cmd, "id": cid}))
        return await self.wait(lambda f: f.get("id") == cid and f["type"] in ("ack", "error"),
                               timeout)

    async def subscribe(self, room: str, since: dict[str, Any] | None = None) -> dict[str, Any]:
        cmd: dict[str, Any] = {"type": "subscribe", "room": room}
        if since is not None:
            cmd["since"] = since
        return await self.command(cmd)

    async def publish(self, room: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self.command({"type": "publish", "room": room, "data": data})

    async def move(self, room: str, progression: Any, locator: str = "epubcfi(/6/4)",
                   state: str = "active") -> dict[str, Any]:
        return await self.command({"type": "presence", "room": room, "meta": {
            "position": {"progression": progression, "locator": locator}, "state": state}})

    def events(self, name: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event" and f["event"] == name]
