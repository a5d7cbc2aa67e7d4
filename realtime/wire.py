"""The node-to-node envelope on a room's Redis channel (and in its history): msgpack, tagged.

A channel message is `<offset>:<epoch>:<msgpack body>`; rooms without history use `0::`.
The Lua script in `publisher.py` writes the prefix, so the offset is assigned atomically.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from realtime.rooms.base import RoomEvent


class WireEvent(msgspec.Struct, array_like=True, tag="e"):
    """A room event as published: both variants, the filters, and the publish time (for latency)."""

    event: str
    data: Any
    redacted: Any = None
    gate: float | None = None
    author_id: int | None = None
    targets: list[int] | None = None
    ts: float = 0.0


class Member(msgspec.Struct):
    """A presence member as clients see it."""

    user_id: int
    name: str
    connections: int
    meta: dict[str, Any] = {}


class WirePresence(msgspec.Struct, array_like=True, tag="p"):
    """A presence diff for a room."""

    joined: list[Member] = []
    left: list[int] = []
    updated: list[Member] = []


Wire = WireEvent | WirePresence

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Wire)


def encode_event(event: RoomEvent) -> bytes:
    return _encoder.encode(WireEvent(event.event, event.data, event.redacted, event.gate,
                                     event.author_id, event.target_user_ids, time.time()))


def encode_wire(item: WireEvent | WirePresence) -> bytes:
    return _encoder.encode(item)


def decode_body(body: bytes | memoryview) -> WireEvent | WirePresence:
    return _decoder.decode(body)


def split_message(message: bytes) -> tuple[int, str | None, memoryview]:
    """Parse `<offset>:<epoch>:<body>` -> (offset, epoch or None, body)."""
    first = message.index(b":")
    second = message.index(b":", first + 1)
    offset = int(message[:first])
    epoch = message[first + 1:second].decode() if second > first + 1 else None
    return offset, epoch, memoryview(message)[second + 1:]


def plain_message(body: bytes) -> bytes:
    """A channel message for a room without history (no offset, no epoch)."""
    return b"0::" + body
