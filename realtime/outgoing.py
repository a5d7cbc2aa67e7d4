"""One message on its way to local clients: its bytes are built once per (variant x format)."""

from __future__ import annotations

from realtime.events import Event, Presence
from realtime.protocol import CODECS, frame
from realtime.rooms.base import FULL, REDACTED, SKIP, Viewer, variant_for
from realtime.wire import WireEvent, WirePresence


class Outgoing:
    """A room event or presence diff plus the lazily built frames (index variant * 2 + format)."""

    __slots__ = ("epoch", "frames", "offset", "room", "simple", "wire")

    def __init__(self, room: str, offset: int | None, epoch: str | None,
                 wire: WireEvent | WirePresence) -> None:
        self.room = room
        self.offset = offset
        self.epoch = epoch
        self.wire = wire
        self.frames: list[bytes | None] = [None, None, None, None]
        # True when every recipient gets the same (full) variant: no per-viewer checks needed.
        self.simple = isinstance(wire, WirePresence) or (
            wire.gate is None and wire.author_id is None and wire.targets is None)

    def variant(self, viewer: Viewer, user_id: int) -> int:
        if self.simple:
            return FULL
        w = self.wire
        assert isinstance(w, WireEvent)
        return variant_for(viewer, user_id, redacted=w.redacted is not None, gate=w.gate,
                           author_id=w.author_id, targets=w.targets)

    def build(self, variant: int, fmt: int) -> bytes:
        w = self.wire
        codec = CODECS[fmt]
        if type(w) is WirePresence:
            obj: Event | Presence = Presence(self.room, w.joined, w.left, w.updated)
        else:
            assert isinstance(w, WireEvent)
            data = w.redacted if variant == REDACTED else w.data
            obj = Event(self.room, w.event, data, self.epoch, self.offset)
        data_frame = frame(codec.opcode, codec.encode(obj))
        self.frames[variant * 2 + fmt] = data_frame
        return data_frame

    def frame_for(self, viewer: Viewer, user_id: int, fmt: int) -> bytes | None:
        variant = self.variant(viewer, user_id)
        if variant == SKIP:
            return None
        return self.frames[variant * 2 + fmt] or self.build(variant, fmt)
