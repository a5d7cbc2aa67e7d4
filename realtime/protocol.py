"""Wire-level constants and codecs: subprotocols, close codes, one decoder per format, framing."""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from realtime.commands import Command, IdOnly
from realtime.nesting import json_depth_ok, msgpack_depth_ok

SUBPROTOCOL_JSON = "readalong.v1"
SUBPROTOCOL_MSGPACK = "readalong.v1.msgpack"
BEARER_PREFIX = "bearer."

# Close codes (documented in the README's protocol section).
CLOSE_NORMAL = 1000
CLOSE_BAD_ORIGIN = 1008
CLOSE_TOO_BIG = 1009
CLOSE_AUTH_FAILED = 4001
CLOSE_AUTH_EXPIRED = 4002
CLOSE_FORBIDDEN = 4003
CLOSE_POLICY = 4008
CLOSE_RESTARTING = 4012
CLOSE_SLOW_CONSUMER = 4013

CLOSE_REASONS = {
    CLOSE_BAD_ORIGIN: "origin not allowed",
    CLOSE_TOO_BIG: "frame too big",
    CLOSE_AUTH_FAILED: "authentication failed",
    CLOSE_AUTH_EXPIRED: "authentication expired",
    CLOSE_FORBIDDEN: "forbidden",
    CLOSE_POLICY: "policy violation",
    CLOSE_RESTARTING: "server restarting; reconnect and resubscribe with since",
    CLOSE_SLOW_CONSUMER: "slow consumer; reconnect and resubscribe with since",
}

JSON = 0
MSGPACK = 1


class TooDeep(msgspec.DecodeError):
    """A frame nests deeper than `realtime.nesting.MAX_DEPTH` (refused before decoding)."""


class Codec:
    """Encode/decode for one wire format; `binary` says which WebSocket frame opcode it uses."""

    def __init__(self, fmt: int) -> None:
        self.fmt = fmt
        self.binary = fmt == MSGPACK
        self.opcode = 0x2 if self.binary else 0x1
        mod: Any = msgspec.msgpack if self.binary else msgspec.json
        self._decoder = mod.Decoder(Command)
        self._id_decoder = mod.Decoder(IdOnly)
        self.encode = mod.Encoder().encode

    def depth_ok(self, payload: bytes | str) -> bool:
        if self.binary:
            return isinstance(payload, bytes) and msgpack_depth_ok(payload)
        return json_depth_ok(payload)

    def decode(self, payload: bytes | str) -> Any:
        """One command; TooDeep (a DecodeError) before decoding a frame nested too deeply."""
        if not self.depth_ok(payload):
            raise TooDeep("the frame nests too deeply")
        return self._decoder.decode(payload)

    def command_id(self, payload: bytes | str) -> str | None:
        """Best effort: the `id` of a frame that failed to decode, if it is a short string."""
        if not self.depth_ok(payload):
            return None
        try:
            value = self._id_decoder.decode(payload).id
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return value if isinstance(value, str) and len(value) <= 64 else None


CODECS = {JSON: Codec(JSON), MSGPACK: Codec(MSGPACK)}


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented server->client WebSocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason.encode()[:120])
