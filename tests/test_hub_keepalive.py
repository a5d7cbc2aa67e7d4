"""Keepalive on the process's one timer wheel (realtime/transport/keepalive.py), seen from raw
clients of a real in-process uvicorn: a client that answers is pinged at the configured
interval and stays; one that stops answering is closed 1011; the sockets of one burst are not
all pinged at the same moment."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from realtime.transport.keepalive import _WHEELS, KeepaliveWheel, tick_for
from realtime.transport.upgrade import HubHttpProtocol, HubWebSocketProtocol
from tests.hub_support import accepted, in_process
from tests.support import eventually

PING, PONG, CLOSE = 0x9, 0xA, 0x8


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    if not await accepted(scope, receive, send):
        return
    while (await receive())["type"] == "websocket.receive":
        pass


class RawClient:
    """A WebSocket client on a bare socket: every frame the server sends, with when it came
    (the loop's clock); it answers pings only while `answering`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.answering = True
        self.pings: list[float] = []
        self.close_code: int | None = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                b0, b1 = await self.reader.readexactly(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await self.reader.readexactly(2))[0]
                payload = await self.reader.readexactly(n)
                opcode = b0 & 0x0F
                if opcode == PING:
                    self.pings.append(loop.time())
                    if self.answering:
                        self._send(PONG, payload)
                elif opcode == CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def _until(check: Any, timeout: float) -> None:
    """Wait (bounded) until `check()` holds."""
    async def holds() -> bool:
        return bool(check())

    await eventually(holds, timeout, 0.02)


def _server(interval: float, timeout: float) -> Any:
    return in_process(_echo, http=HubHttpProtocol, ws=HubWebSocketProtocol,
                      ws_ping_interval=interval, ws_ping_timeout=timeout)


async def test_an_answering_client_is_pinged_at_the_interval_and_stays() -> None:
    """Pings keep coming about once an interval (not in bursts, not stopping), and a client
    that answers them is never closed."""
    async with _server(0.4, 0.4) as port:
        client = await RawClient.open(port)
        await _until(lambda: len(client.pings) >= 5, 20)
        gaps = [b - a for a, b in zip(client.pings, client.pings[1:], strict=False)]
        assert min(gaps) > 0.4 / 2, gaps  # one ping an interval, not several
        assert client.close_code is None and not client.task.done()
        await client.close()


async def test_a_client_that_stops_answering_is_closed_1011() -> None:
    """Once a client stops answering pings it gets a 1011 close within the interval and the
    timeout (a bounded wait), while a client beside it that answers stays open."""
    async with _server(0.3, 0.6) as port:
        silent, alive = await RawClient.open(port), await RawClient.open(port)
        await _until(lambda: len(silent.pings) >= 1, 10)
        silent.answering = False
        await _until(lambda: silent.close_code is not None, 15)
        assert silent.close_code == 1011
        seen = len(alive.pings)
        await _until(lambda: len(alive.pings) >= seen + 2, 10)
        assert alive.close_code is None
        for c in (silent, alive):
            await c.close()


async def test_a_burst_of_sockets_is_not_pinged_all_at_once() -> None:
    """40 sockets opened together get their first pings spread over half the interval, none
    sooner than one interval (uvicorn's timer per socket pings them all within the burst's few
    milliseconds, every interval)."""
    interval = 2.0
    async with _server(interval, interval) as port:
        opened = asyncio.get_running_loop().time()
        clients = await asyncio.gather(*(RawClient.open(port) for _ in range(40)))
        await _until(lambda: all(c.pings for c in clients), 20)
        firsts = sorted(c.pings[0] for c in clients)
        assert firsts[-1] - firsts[0] >= interval / 4, firsts
        assert firsts[0] - opened > interval / 2, firsts  # (not early: about one interval on)
        assert all(c.close_code is None for c in clients)
        for c in clients:
            await c.close()


async def test_the_wheel_goes_when_its_last_socket_does() -> None:
    """No timer is left behind once every socket is gone (the wheel leaves its registry)."""
    async with _server(0.2, 0.2) as port:
        client = await RawClient.open(port)
        await _until(lambda: len(client.pings) >= 1, 10)
        assert any(isinstance(w, KeepaliveWheel) for w in _WHEELS.values())
        await client.close()
        loop = asyncio.get_running_loop()
        await _until(lambda: not any(k[0] is loop for k in _WHEELS), 10)


@pytest.mark.parametrize(("interval", "timeout"), [(20.0, 20.0), (0.5, 1.0), (60.0, None)])
def test_slots_are_a_fraction_of_the_shorter_period(interval: float,
                                                    timeout: float | None) -> None:
    tick = tick_for(interval, timeout)
    assert 0 < tick <= min(interval, timeout or interval) / 4


def test_uvicorn_still_keeps_alive_through_the_hooks_the_wheel_overrides() -> None:
    """The wheel replaces uvicorn's `start_keepalive`/`stop_keepalive` and reuses its
    `keepalive_timeout` (1011) and `handle_pong`: this fails loudly when uvicorn changes where
    it calls them (fix realtime/transport/upgrade.py)."""
    import inspect

    source = inspect.getsource(WebSocketsSansIOProtocol)
    assert "self.start_keepalive()" in inspect.getsource(WebSocketsSansIOProtocol.send)
    assert "self.stop_keepalive()" in inspect.getsource(
        WebSocketsSansIOProtocol.connection_lost)
    assert "self.stop_keepalive()" in inspect.getsource(WebSocketsSansIOProtocol.shutdown)
    assert "self.handle_pong(event)" in source
    assert "self.pending_ping_payload = None" in \
        inspect.getsource(WebSocketsSansIOProtocol.handle_pong)
    assert "self.conn.fail(1011" in inspect.getsource(WebSocketsSansIOProtocol.keepalive_timeout)
    for name in ("start_keepalive", "stop_keepalive", "keepalive_due"):
        assert name in vars(HubWebSocketProtocol)
