"""Redis key and channel names of a room, all under the room's hash tag.

Every key of one room (history stream, history meta, presence hash, positions, ...) and the
room's pub/sub channel are named `ra:{<room>}:<part>`. Redis Cluster hashes only the text
between the braces, so a room's keys and channel share one slot: the Lua scripts that touch
several of them (publish, presence) stay single-slot, and the channel's `SPUBLISH` goes to the
shard that holds the room's history. Room names never contain braces (`ROOM_RE`), so the tag is
exactly the room name.

Build every per-room key through `room_key` (other areas too: hotpath's positions, audio).
"""

from __future__ import annotations

PREFIX = "ra:{"
CHANNEL_PART = "ch"


def room_key(room: str, part: str) -> str:
    """The key `part` of `room`, on the room's slot: `room_key("session:42", "stream")` is
    `ra:{session:42}:stream`."""
    return f"{PREFIX}{room}}}:{part}"


def room_channel(room: str) -> str:
    """The room's pub/sub channel (sharded in cluster mode), on the room's slot."""
    return room_key(room, CHANNEL_PART)


def room_of(name: bytes | str) -> str | None:
    """The room a key or channel built by `room_key`/`room_channel` belongs to (None if the
    name is not one of those)."""
    text = name.decode() if isinstance(name, bytes) else name
    if not text.startswith(PREFIX):
        return None
    end = text.find("}", len(PREFIX))
    return text[len(PREFIX):end] if end > 0 else None
