"""A light WebSocket client (RFC 6455) on an asyncio Protocol, cheap enough for 10,000s of sockets.

Frames are parsed straight from `data_received` with no per-frame task, queue or future, so one
client process can take well over 100,000 small frames a second. No compression is offered,
server frames are expected unmasked, fragmented messages are reassembled, pings are answered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import struct
from collections.abc import Callable

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeError(ConnectionError):
    """The server refused the upgrade (status and a bit of its body are in the message)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"handshake refused: HTTP {status} {detail}")
        self.status = status


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return payload
    reps = key * (n // 4 + 1)
    return (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    key = random.getrandbits(32).to_bytes(4, "big")
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + _mask(payload, key)


class WSClient(asyncio.Protocol):
    """One client connection; `on_message(client, payload)` is called for each data message."""

    def __init__(self, on_message: Callable[[WSClient, bytes], None] | None = None,
                 on_close: Callable[[WSClient], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.state: dict = {}  # free for the scenario's own bookkeeping
        self._buf = bytearray()
        self._key = ""
        self._upgraded = False
        self._frag: list[bytes] | None = None
        self._sent_close = False

    # asyncio callbacks -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during handshake"))
        if self.close_code is None:
            self.close_code = 1006
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_close is not None and self._upgraded:
            self.on_close(self)

    def data_received(self, data: bytes) -> None:
        if not self._upgraded:
            self._buf += data
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > 65536:
                    self._fail_handshake(0, "response headers too long")
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            rest = bytes(self._buf[end + 4:])
            self._buf = bytearray()
            self._finish_handshake(head, rest)
            if not self._upgraded or not rest:
                return
            data = rest
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
        else:
            buf = data
        pos = self._parse(buf)
        if pos == len(buf):
            self._buf = bytearray()
        elif buf is self._buf:
            del self._buf[:pos]
        else:
            self._buf = bytearray(buf[pos:])

    # handshake -------------------------------------------------------------------------------
    def request(self, host: str, port: int, path: str, subprotocols: list[str],
                origin: str | None) -> bytes:
        self._key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {self._key}",
                 "Sec-WebSocket-Version: 13"]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        if origin:
            lines.append(f"Origin: {origin}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _fail_handshake(self, status: int, detail: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(status, detail))
        if self.transport is not None:
            self.transport.close()

    def _finish_handshake(self, head: str, rest: bytes) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 101:
            self._fail_handshake(status, rest[:200].decode("utf-8", "replace"))
            return
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            self._fail_handshake(status, "bad Sec-WebSocket-Accept")
            return
        self.subprotocol = headers.get("sec-websocket-protocol")
        self._upgraded = True
        self.opened.set_result(None)

    # frames ----------------------------------------------------------------------------------
    def _parse(self, buf: bytes | bytearray) -> int:
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            hdr = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hdr = 10
            key = b""
            if b1 & 0x80:
                if n - pos < hdr + 4:
                    break
                key = bytes(buf[pos + hdr:pos + hdr + 4])
                hdr += 4
            end = pos + hdr + length
            if end > n:
                break
            payload = bytes(buf[pos + hdr:end])
            if key:
                payload = _mask(payload, key)
            pos = end
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload)
        return pos

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if fin:
                if self.on_message is not None:
                    self.on_message(self, payload)
            else:
                self._frag = [payload]
        elif opcode == OP_CONT:
            if self._frag is not None:
                self._frag.append(payload)
                if fin:
                    whole = b"".join(self._frag)
                    self._frag = None
                    if self.on_message is not None:
                        self.on_message(self, whole)
        elif opcode == OP_PING:
            self._write(encode_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            if len(payload) >= 2:
                self.close_code = int.from_bytes(payload[:2], "big")
                self.close_reason = payload[2:].decode("utf-8", "replace")
            else:
                self.close_code = 1005
            if not self._sent_close:
                self._sent_close = True
                self._write(encode_frame(OP_CLOSE, payload[:2]))
            if self.transport is not None:
                self.transport.close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # API -------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._upgraded and self.transport is not None and not self.transport.is_closing() \
            and not self.closed.done()

    def send_text(self, payload: bytes) -> None:
        self._write(encode_frame(OP_TEXT, payload))

    def send_binary(self, payload: bytes) -> None:
        self._write(encode_frame(OP_BINARY, payload))

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        if self.transport is None or self.closed.done():
            return
        if not self._sent_close:
            self._sent_close = True
            self._write(encode_frame(OP_CLOSE, code.to_bytes(2, "big")))
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        if self.transport is not None:
            self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(url: str, subprotocols: list[str] | None = None, *, origin: str | None = None,
                  on_message: Callable[[WSClient, bytes], None] | None = None,
                  on_close: Callable[[WSClient], None] | None = None,
                  timeout: float = 10.0, state: dict | None = None) -> WSClient:
    """Open `ws://127.0.0.1:<port>/path` and complete the upgrade, or raise."""
    if not url.startswith("ws://"):
        raise ValueError("only ws:// URLs on loopback are supported")
    hostport, _, path = url[5:].partition("/")
    host, _, port_s = hostport.partition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the load client only talks to 127.0.0.1")
    port = int(port_s or 80)
    loop = asyncio.get_running_loop()
    client = WSClient(on_message, on_close)
    if state:
        client.state.update(state)

    async def _open() -> WSClient:
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        assert client.transport is not None
        client.transport.write(client.request(host, port, "/" + path, subprotocols or [], origin))
        await client.opened
        return client

    try:
        return await asyncio.wait_for(_open(), timeout)
    except BaseException:
        client.abort()
        raise
