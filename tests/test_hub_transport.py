"""The transports behind one interface, on a real in-process uvicorn: the fast path engages
under uvicorn's default WebSocket protocol (this fails loudly when the uvicorn internals it
relies on change), the ASGI queue works behind a wrapped `send`; the overflow policies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
import websockets

from realtime.protocol import frame
from realtime.transport import AsgiTransport, DirectTransport, Transport, attach
from realtime.transport.direct import PROTOCOL, REQUIRED
from tests.support import free_port

BIG = 32 * 1024 * 1024  # more than any loopback socket buffer takes at once


class App:
    """A tiny ASGI app that hands each socket to `handler(transport, receive)`."""

    def __init__(self, handler: Callable[[Transport, Any], Any], wrap_send: bool = False,
                 **attach_kw: Any) -> None:
        self.handler = handler
        self.wrap_send = wrap_send
        self.attach_kw = attach_kw
        self.transports: list[Transport] = []
        self.overflows = 0

    def _overflow(self) -> None:
        self.overflows += 1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        if self.wrap_send:  # what a middleware wrapping `send` looks like (Litestar's route)
            raw_send = send

            async def send(message: Any) -> None:
                await raw_send(message)

        kw = {"binary": False, "queue_bytes": 1 << 20, "queue_frames": 8, "grace": 1.0,
              **self.attach_kw}
        transport = attach(send, on_overflow=self._overflow, **kw)
        self.transports.append(transport)
        await self.handler(transport, receive)


async def _serve(app: App, ws: str) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws=ws,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # raises why the server could not start
    assert server.started, "uvicorn did not start"
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _hello_then_close(transport: Transport, receive: Any) -> None:
    transport.write(frame(0x1, b'{"hello":1}'))
    await receive()  # the client's frame
    transport.close(4013, "slow consumer")
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.mark.parametrize(("ws", "wrapped", "expected"), [("auto", False, DirectTransport),
                                                         ("websockets-sansio", False,
                                                          DirectTransport),
                                                         ("auto", True, AsgiTransport)])
async def test_frames_and_close_codes_reach_the_client(ws: str, wrapped: bool,
                                                       expected: type) -> None:
    """Under uvicorn's default protocol the fast path is taken (else this fails loudly: the
    internals it needs changed); behind a wrapped `send` the ASGI queue; both deliver frames
    and the close code."""
    app = App(_hello_then_close, wrap_send=wrapped)
    async for url in _serve(app, ws):
        async with websockets.connect(url) as client:
            assert await asyncio.wait_for(client.recv(), 10) == '{"hello":1}'
            await client.send("ok")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4013
    assert [type(t) for t in app.transports] == [expected]


def test_uvicorn_still_has_what_the_fast_path_uses() -> None:
    """The protocol class exists and sets every attribute the fast path reads or writes."""
    assert PROTOCOL is not None, "uvicorn's WebSocketsSansIOProtocol moved: fix direct.py"
    import inspect

    source = inspect.getsource(PROTOCOL)
    missing = [a for a in REQUIRED if f"self.{a} " not in source and f"self.{a}:" not in source]
    assert missing == [], f"uvicorn no longer sets {missing}: fix realtime/transport/direct.py"


@pytest.mark.parametrize("drop", [False, True])
async def test_overflow_policies_on_the_fast_path(drop: bool) -> None:
    """Over the byte bound, `close` reports the overflow after writing; `drop` reports it and
    leaves the new frame out (the buffer does not grow)."""
    done = asyncio.Event()
    result: dict[str, int] = {}

    async def flood(transport: Transport, receive: Any) -> None:
        transport.write(frame(0x2, b"\0" * BIG))  # the client never reads
        before = transport.buffered
        transport.write(frame(0x2, b"\1" * 1024))
        result["before"], result["after"] = before, transport.buffered
        done.set()
        transport.close(4013, "slow consumer")
        while (await receive())["type"] != "websocket.disconnect":
            pass

    app = App(flood, queue_bytes=1024, drop=drop)
    async for url in _serve(app, "auto"):
        async with websockets.connect(url, max_size=None) as client:
            await asyncio.wait_for(done.wait(), 10)
            await client.close()
    assert result["before"] > 1024
    if drop:
        assert app.overflows >= 1 and result["after"] == result["before"]
    else:
        assert app.overflows == 2 and result["after"] > result["before"]
