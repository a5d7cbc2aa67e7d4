"""Readalong wire protocol v1 (JSON) on top of the light WebSocket client: connect, commands, acks.

Data events go to the scenario's own fast handler (a regex on the raw bytes, no full decode);
everything else (welcome, ack, error, presence) is decoded with msgspec and matched by command id.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import msgspec

from load.wsclient import WSClient, connect

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class CommandError(RuntimeError):
    """The hub answered a command with an `error` frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.code = str(frame.get("code"))
        self.frame = frame


class Hub:
    """Pending commands of every connection in this process, matched by their ids."""

    def __init__(self) -> None:
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self.errors: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        self.on_presence: Callable[[WSClient, dict[str, Any]], None] | None = None
        self.on_other: Callable[[WSClient, dict[str, Any]], None] | None = None

    def next_id(self) -> str:
        return str(next(self._ids))

    def control(self, client: WSClient, payload: bytes) -> None:
        """Handle a non-benchmark frame (welcome, ack, error, presence, reauth, event)."""
        try:
            msg = _decode(payload)
        except msgspec.DecodeError:
            self.frames["undecodable"] = self.frames.get("undecodable", 0) + 1
            return
        kind = msg.get("type")
        self.frames[kind] = self.frames.get(kind, 0) + 1
        if kind == "welcome":
            fut = client.state.get("welcome")
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif kind in ("ack", "error"):
            fut = self.pending.pop(str(msg.get("id")), None)
            if kind == "error":
                code = str(msg.get("code"))
                self.errors[code] = self.errors.get(code, 0) + 1
            if fut is not None and not fut.done():
                if kind == "ack":
                    fut.set_result(msg.get("result"))
                else:
                    fut.set_exception(CommandError(msg))
        elif kind == "presence" and self.on_presence is not None:
            self.on_presence(client, msg)
        elif self.on_other is not None:
            self.on_other(client, msg)

    def send(self, client: WSClient, frame: dict[str, Any], want_reply: bool = True
             ) -> asyncio.Future[Any] | None:
        """Send a command (an `id` is added); returns the future of its ack result."""
        cid = self.next_id()
        frame["id"] = cid
        fut: asyncio.Future[Any] | None = None
        if want_reply:
            fut = asyncio.get_running_loop().create_future()
            self.pending[cid] = fut
        client.send_text(_encode(frame))
        return fut

    async def command(self, client: WSClient, frame: dict[str, Any], timeout: float = 30.0
                      ) -> Any:
        fut = self.send(client, frame)
        assert fut is not None
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(frame["id"], None)

    async def open(self, url: str, token: str | None,
                   on_message: Callable[[WSClient, bytes], None] | None = None,
                   on_close: Callable[[WSClient], None] | None = None,
                   timeout: float = 30.0, auth: str = "subprotocol") -> WSClient:
        """Connect and authenticate (bearer subprotocol entry or a first `auth` frame)."""
        protocols = ["readalong.v1"]
        if token and auth == "subprotocol":
            protocols.append(f"bearer.{token}")
        handler = on_message or (lambda c, p: self.control(c, p))
        welcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client = await connect(url, protocols, on_message=handler, on_close=on_close,
                               timeout=timeout, state={"welcome": welcome})
        if token and auth == "frame":
            self.send(client, {"type": "auth", "token": token}, want_reply=False)
        try:
            done, _ = await asyncio.wait({welcome, client.closed}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if welcome not in done:
                raise ConnectionError(f"no welcome (closed with {client.close_code} "
                                      f"{client.close_reason!r})")
        except BaseException:
            client.abort()
            raise
        return client

    async def subscribe(self, client: WSClient, room: str, since: dict[str, Any] | None = None,
                        timeout: float = 30.0) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "subscribe", "room": room}
        if since is not None:
            frame["since"] = since
        return dict(await self.command(client, frame, timeout))


async def bounded_gather(factories: list[Callable[[], Any]], concurrency: int
                         ) -> list[Any]:
    """Run coroutine factories with at most `concurrency` in flight; exceptions are returned."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(f: Callable[[], Any]) -> Any:
        async with sem:
            try:
                return await f()
            except Exception as exc:
                return exc

    return list(await asyncio.gather(*(one(f) for f in factories)))


def hub_missing(ws_url: str) -> str | None:
    """None when `/ws` upgrades (even if it then wants auth); else why the hub is not usable."""
    from load.wsclient import HandshakeError

    async def probe() -> str | None:
        try:
            c = await connect(ws_url, ["readalong.v1"], timeout=10)
        except HandshakeError as exc:
            if exc.status in (403, 404):
                return f"the hub's /ws endpoint is not mounted yet (HTTP {exc.status})"
            return f"/ws refused the upgrade: {exc}"
        except OSError as exc:
            return f"/ws unreachable: {exc}"
        c.abort()
        return None

    return asyncio.run(probe())
