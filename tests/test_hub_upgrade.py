"""The WebSocket upgrade parsed once (realtime/transport/upgrade.py), on real in-process uvicorn
servers: the same raw upgrade requests get the same answers (101 and its headers, or the same
HTTP error) and the app the same scope as under uvicorn's own protocols; a plain upgrade takes
the parsed-once path and frames flow on it."""

from __future__ import annotations

import asyncio
import base64
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import websockets

from realtime.transport import DirectTransport, attach
from realtime.transport.upgrade import HubHttpProtocol, HubWebSocketProtocol
from tests.hub_support import in_process, lifespan

KEY = base64.b64encode(b"0123456789abcdef").decode()
BASE = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13"}


class _App:
    """Accepts with the first offered `readalong.*` subprotocol and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] == "http":  # (not an upgrade uvicorn takes)
            await send({"type": "http.response.start", "status": 426, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receive()
        proto = getattr(send, "__self__", None)
        self.seen.append({k: scope[k] for k in ("path", "raw_path", "query_string", "headers",
                                                "subprotocols", "scheme", "root_path")}
                         | {"parsed_once": getattr(proto, "accept_key", None) is not None})
        chosen = next((p for p in scope["subprotocols"] if p.startswith("readalong.")), None)
        await send({"type": "websocket.accept", "subprotocol": chosen})
        transport = attach(send, binary=False, queue_bytes=1 << 20, queue_frames=8, grace=1.0,
                           on_overflow=lambda: None)
        self.seen[-1]["direct"] = isinstance(transport, DirectTransport)
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message["text"].upper().encode()
            transport.write(bytes([0x81, len(text)]) + text)


def _server(app: _App, hub: bool, **kw: Any) -> AbstractAsyncContextManager[int]:
    protocols: dict[str, Any] = {"http": HubHttpProtocol, "ws": HubWebSocketProtocol} if hub \
        else {"http": "httptools", "ws": "websockets-sansio"}
    return in_process(app, date_header=False, **protocols, **kw)


async def _raw(port: int, request: bytes) -> bytes:
    """The server's answer to a raw request: a 101's status line and headers, else all it
    sent until it closed or went quiet (Date lines left out: they differ by the second)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        while not (data.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in data):
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 3)
            except TimeoutError:
                data += b"<quiet>"
                break
            if not chunk:
                break
            data += chunk
        return b"".join(line for line in data.splitlines(keepends=True)
                        if not line.lower().startswith(b"date: "))
    finally:
        writer.close()


def _request(headers: dict[str, str] | list[tuple[str, str]], method: str = "GET",
             path: str = "/ws?x=1") -> bytes:
    items = headers.items() if isinstance(headers, dict) else headers
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in items), "", ""]
    return "\r\n".join(lines).encode("latin-1")


CASES = {
    "plain": _request(BASE),
    "subprotocols": _request({**BASE, "Sec-WebSocket-Protocol": "readalong.v1, bearer.abc.d-e_f",
                              "Origin": "https://reader.example"}),
    "root path escapes": _request(BASE, path="/w%73?q=%20"),
    "bad version": _request({**BASE, "Sec-WebSocket-Version": "12"}),
    "short key": _request({**BASE, "Sec-WebSocket-Key": base64.b64encode(b"short").decode()}),
    "no key": _request({k: v for k, v in BASE.items() if k != "Sec-WebSocket-Key"}),
    "two keys": _request([*BASE.items(), ("Sec-WebSocket-Key", KEY)]),
    "two origins": _request([*BASE.items(), ("Origin", "https://a"), ("Origin", "https://b")]),
    "trailing blanks": _request({**BASE, "Origin": "https://reader.example  "}),
    "bad subprotocol list": _request({**BASE, "Sec-WebSocket-Protocol": "readalong.v1,,@x"}),
    "deflate offer": _request({**BASE, "Sec-WebSocket-Extensions": "permessage-deflate"}),
    "a body": _request({**BASE, "Content-Length": "3"}) + b"abc",
    "upgrade list": _request({**BASE, "Upgrade": "websocket, h2c"}),
    "spaced lists": _request({**BASE, "Connection": "keep-alive ,\tUpgrade",
                              "Sec-WebSocket-Protocol": "readalong.v1 ,\tbearer.abc"}),
    "inner tab": _request({**BASE, "User-Agent": "reader\t1.0"}),
    "leading tab": _request({**BASE, "User-Agent": "\treader"}),
}


@pytest.mark.parametrize("deflate", [False, True])
async def test_the_same_requests_get_the_same_answers_and_scopes(deflate: bool) -> None:
    """Under both protocol pairs every case gets byte-identical response headers (or the same
    error), and the app sees the same scope; plain requests took the parsed-once path."""
    answers: dict[bool, dict[str, bytes]] = {}
    apps = {False: _App(), True: _App()}
    for hub in (False, True):
        async with _server(apps[hub], hub, ws_per_message_deflate=deflate) as port:
            answers[hub] = {name: await _raw(port, req) for name, req in CASES.items()}
    for name in CASES:
        assert answers[True][name] == answers[False][name], name
    assert answers[True]["plain"].startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol: readalong.v1\r\n" in answers[True]["subprotocols"]
    assert answers[True]["bad version"].startswith(b"HTTP/1.1 400 ")
    strip = [{k: v for k, v in s.items() if k not in ("parsed_once", "direct")}
             for s in apps[True].seen]
    assert strip == [{k: v for k, v in s.items() if k not in ("parsed_once", "direct")}
                     for s in apps[False].seen]
    assert apps[True].seen[1]["subprotocols"] == ["readalong.v1", "bearer.abc.d-e_f"]
    assert apps[True].seen[2]["path"] == "/ws" and apps[True].seen[2]["query_string"] == b"q=%20"
    assert [s["parsed_once"] for s in apps[True].seen][:3] == [True, True, True]
    assert not any(s["parsed_once"] for s in apps[False].seen)


async def test_frames_flow_on_the_parsed_once_path() -> None:
    """A real client's handshake (no deflate offer: a browser's offer takes the ordinary path
    when deflate is on) takes the parsed-once path, gets its subprotocol and the fast
    transport, and its frames (several at once too) are answered."""
    app = _App()
    async with _server(app, True) as port, websockets.connect(f"ws://127.0.0.1:{port}/ws",
                                  subprotocols=["readalong.v1"],  # type: ignore[list-item]
                                  compression=None) as ws:
        assert ws.subprotocol == "readalong.v1"
        for word in ("one", "two", "three"):
            await ws.send(word)
        assert [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)] == \
                ["ONE", "TWO", "THREE"]
    assert app.seen[0]["parsed_once"] and app.seen[0]["direct"]
