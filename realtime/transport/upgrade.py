"""The WebSocket upgrade parsed once: uvicorn's HTTP protocol hands its parsed request straight
to the WebSocket protocol instead of re-serialising it for websockets' own request parser.

Under plain uvicorn an upgrade is parsed twice: httptools parses the request, uvicorn writes it
back out as bytes, and websockets' sans-I/O `ServerProtocol` parses those again (in Python),
validates them into a `Response` and serialises that after the app accepts (about a tenth of
the server's CPU per connect). `HubHttpProtocol` and `HubWebSocketProtocol` (uvicorn's
`--http` and `--ws`; `readalong serve` sets both) keep httptools' parse: a request that passes
the same checks websockets makes gets its scope built from it and its 101 written from a
template; anything unusual (a bad key, duplicated headers, an extension offer when deflate is
on, odd syntax) goes the ordinary way, so every error response stays websockets' own.

`HubWebSocketProtocol` also keeps its keepalive on the process's one timer wheel
(`realtime.transport.keepalive`: no timer per socket, a burst's pings spread over the interval)
and judges the pong deadline with the socket's unread bytes in mind: uvicorn stops reading after
each message until the app takes it, so a pong may sit in the kernel's buffer, unread, when its
deadline comes; while bytes are waiting the deadline is extended (by the ping timeout, at most
`MAX_KEEPALIVE_EXTENSIONS` times per ping).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import logging
import random
import re
import sys
import termios
from typing import Any
from urllib.parse import unquote

from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS
from websockets.protocol import OPEN, Protocol

from realtime.transport.keepalive import MAX_EXTENSIONS, KeepaliveWheel, wheel_for
from realtime.transport.slim import InboundQueue

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 9110 tokens, and a comma list of them (what websockets' header parsers accept as is)
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_TOKENS = re.compile(_TOKEN + rb"(?:[ \t]*,[ \t]*" + _TOKEN + rb")*")
# the bytes a header value may hold (a visible one first and last: `_plain_value`)
_FIELD = b"\t" + bytes(range(0x20, 0x7f)) + bytes(range(0x80, 0x100))
# the headers websockets' handshake reads, by how many it allows
_ONE = (b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version")
_AT_MOST_ONE = (b"origin",)
_STATUS = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
# how many times one ping's pong deadline is pushed back while the socket holds unread bytes
MAX_KEEPALIVE_EXTENSIONS = MAX_EXTENSIONS


def unread_bytes(transport: Any) -> int:
    """Bytes the kernel holds for this socket that the server has not read yet (0: unknown)."""
    sock = transport.get_extra_info("socket")
    try:
        got = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (AttributeError, OSError, ValueError, TypeError):  # no socket, or it is gone
        return 0
    return int.from_bytes(got, sys.byteorder, signed=True)


def _plain_value(value: bytes) -> bool:
    """A header value websockets reads as it is: visible bytes, tabs and spaces inside only
    (`bytes.translate` in C: a regex over the bearer entry took microseconds per socket)."""
    return bool(value) and not value.translate(None, _FIELD) and value[0] not in (9, 32) \
        and value[-1] not in (9, 32)


def _split(tokens: bytes) -> list[bytes]:
    """The items of a comma list `_TOKENS` matched (tokens hold no commas, spaces or tabs)."""
    return [p.strip(b" \t") for p in tokens.split(b",")]


def plain_request(method: str, url: bytes, headers: list[tuple[bytes, bytes]],
                  deflate: bool) -> tuple[bytes, list[str]] | None:
    """(Sec-WebSocket-Key, offered subprotocols) when websockets would accept this upgrade as
    it stands and negotiate nothing; None for anything else (then websockets decides)."""
    if method != "GET" or len(headers) > MAX_NUM_HEADERS or len(url) + 16 > MAX_LINE_LENGTH \
            or not url.isascii():
        return None
    seen: dict[bytes, bytes] = {}
    offered: list[str] = []
    for name, value in headers:  # (httptools lower-cases the names)
        if len(name) + len(value) + 4 > MAX_LINE_LENGTH or not _plain_value(value):
            return None  # (websockets strips trailing blanks that httptools keeps)
        if name in seen and (name in _ONE or name in _AT_MOST_ONE):
            return None
        seen[name] = value
        if name == b"sec-websocket-protocol":
            if not _TOKENS.fullmatch(value):
                return None
            offered.extend(p.decode() for p in _split(value))
        elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0") \
                or (name == b"sec-websocket-extensions" and deflate):
            return None
    connection = seen.get(b"connection")
    if connection is None or not _TOKENS.fullmatch(connection) \
            or b"upgrade" not in _split(connection.lower()):
        return None
    if (seen.get(b"upgrade") or b"").lower() != b"websocket" \
            or seen.get(b"sec-websocket-version") != b"13":
        return None
    key = seen.get(b"sec-websocket-key")
    if key is None:
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    return key, offered


def accept_value(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, entered with an already parsed request."""

    accept_key: bytes | None = None  # set while a parsed-once handshake waits for the app
    keepalive_extensions = 0  # (set on a socket only while its pong deadline is extended)
    # its place on the keepalive wheel: the slot set it waits in, its next ping's slot and its
    # pong deadline's (uvicorn's `ping_timer` and `pong_timer` stay None)
    ka_bucket: set[Any] | None = None
    ka_ping_at = 0
    ka_deadline: int | None = None

    def start_keepalive(self) -> None:
        interval = self.ping_interval
        if interval is not None and interval > 0:
            wheel_for(self.loop, interval, self.ping_timeout).start(self)

    def stop_keepalive(self) -> None:
        KeepaliveWheel.stop(self)
        super().stop_keepalive()

    def keepalive_due(self, wheel: KeepaliveWheel, slot: int) -> None:
        """The wheel's visit: judge the pong deadline if it has come, else ping if due, and
        wait in the slot of whichever comes next. A pong not in by the deadline is pushed back
        while the socket holds bytes not read yet (the pong may be among them), at most
        MAX_KEEPALIVE_EXTENSIONS times per ping; then uvicorn's 1011."""
        if self.close_sent or self.transport.is_closing():
            return  # (it leaves the wheel)
        deadline = self.ka_deadline
        if self.pending_ping_payload is not None and deadline is not None:
            if slot < deadline:
                wheel.put(self, deadline)
                return
            n = self.keepalive_extensions
            if n < MAX_KEEPALIVE_EXTENSIONS and unread_bytes(self.transport) > 0:
                self.keepalive_extensions = n + 1
                self.ka_deadline = deadline = slot + (wheel.pong_slots or 1)
                wheel.put(self, deadline)
                return
            if n:
                del self.keepalive_extensions
            self.keepalive_timeout()
            return
        if slot < self.ka_ping_at:
            wheel.put(self, self.ka_ping_at)
            return
        # the ping: a 4-byte payload of its own, so a stale or unsolicited pong is ignored
        payload = self.pending_ping_payload = random.getrandbits(32).to_bytes(4, "big")
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        wheel.after_ping(self, slot)

    def handle_pong(self, event: Any) -> None:
        super().handle_pong(event)  # (no pong timer: it only clears the pending payload)
        if self.keepalive_extensions and self.pending_ping_payload is None:
            del self.keepalive_extensions  # (back to the class default)

    def adopt(self, transport: Any, server: tuple[str, int | None] | None,
              client: tuple[str, int] | None, tls: bool) -> None:
        """`connection_made` with the addresses the HTTP protocol already read from the socket
        (uvicorn's own looks them up again: two `getsockname`/`getpeername` calls per socket)."""
        self.connections.add(self)
        self.transport = transport
        self.server = server
        self.client = client
        self.scheme = "wss" if tls else "ws"
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{client[0]}:{client[1]} - " if client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection made", prefix)

    def upgrade(self, method: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """What `handle_connect` does for the request uvicorn's HTTP protocol parsed."""
        plain = plain_request(method, url, headers, bool(self.config.ws_per_message_deflate))
        if plain is None:
            self.data_received(_serialise(method, url, headers))
            return
        key, offered = plain
        conn = self.conn
        conn.parser = Protocol.parse(conn)  # frames from here on: no request to parse
        next(conn.parser)
        self.request = self.response = None  # type: ignore[assignment]
        self.accept_key = accept_value(key)
        self.handshake_initiated = True
        self.queue = InboundQueue()  # type: ignore[assignment]  # (what `slim` would swap it for after the handshake)
        raw_path, _, query = url.partition(b"?")
        root = self.root_path
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": root,
            "path": root + unquote(raw_path.decode("ascii")),
            "raw_path": root.encode("ascii") + raw_path,
            "query_string": query,
            "headers": headers,
            "subprotocols": offered,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    async def send(self, message: Any) -> None:
        if self.accept_key is None or message["type"] != "websocket.accept" \
                or message.get("headers"):
            if self.accept_key is not None and not self.handshake_complete:
                self._response()  # the ordinary path needs websockets' Response
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info('%s - "WebSocket %s" [accepted]', get_client_addr(self.scope),
                             get_path_with_query_string(self.scope))
        accept, self.accept_key = self.accept_key, None
        if self.transport.is_closing():
            return
        out = [_STATUS, b"Sec-WebSocket-Accept: ", accept, b"\r\n"]
        for name, value in self.default_headers:
            out += [name.lower(), b": ", value, b"\r\n"]
        subprotocol = message.get("subprotocol")
        if subprotocol:
            out += [b"Sec-WebSocket-Protocol: ", subprotocol.encode("latin-1"), b"\r\n"]
        out.append(b"\r\n")
        self.handshake_complete = True
        self.conn.state = OPEN  # what websockets' send_response(101) does
        self.conn.logger.info("connection open")
        self.transport.write(b"".join(out))
        self.start_keepalive()

    def _response(self) -> None:
        """The 101 websockets would have built, for uvicorn's own `send` to finish with."""
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        assert self.accept_key is not None
        self.response = Response(101, "Switching Protocols", Headers(
            [("Date", ""), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
             ("Sec-WebSocket-Accept", self.accept_key.decode())]))
        self.accept_key = None


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that upgrades to `HubWebSocketProtocol` without
    re-serialising the request (any other `--ws` class is upgraded as uvicorn does)."""

    def handle_websocket_upgrade(self) -> None:
        ws_class: Any = self.ws_protocol_class
        if not (isinstance(ws_class, type) and issubclass(ws_class, HubWebSocketProtocol)):
            super().handle_websocket_upgrade()
            return
        if self.logger.level <= TRACE_LOG_LEVEL:
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.log(TRACE_LOG_LEVEL, "%sUpgrading to WebSocket", prefix)
        self.connections.discard(self)
        protocol = ws_class(config=self.config, server_state=self.server_state,
                            app_state=self.app_state)
        protocol.adopt(self.transport, self.server, self.client, self.scheme == "https")
        protocol.upgrade(self.scope["method"], self.url, self.headers)
        self.transport.set_protocol(protocol)


def _serialise(method: str, url: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request as uvicorn's own upgrade writes it out for websockets to parse."""
    out = [method.encode(), b" ", url, b" HTTP/1.1\r\n"]
    for name, value in headers:
        out += [name, b": ", value, b"\r\n"]
    out.append(b"\r\n")
    return b"".join(out)


# uvicorn's `--http` / `--ws` import strings
HTTP = f"{__name__}:HubHttpProtocol"
WS = f"{__name__}:HubWebSocketProtocol"
