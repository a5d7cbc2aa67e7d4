"""Redis key and channel names of a room, all under the room's hash tag.

Every key of one room (history stream, history meta, presence hash, positions, ...) and the
room's pub/sub channel are named `ra:{<room>}:<part>`. Redis Cluster hashes only the text
between the braces, so a room's keys and channel share one slot: the Lua scripts that touch
several of them (publish, presence) stay single-slot, and the channel's `SPUBLISH` goes to the
shard that holds the room's history. Room names never contain braces (`ROOM_RE`), so the tag is
exactly the room name.

Build every per-room key through `room_key` (other areas too: hotpath's positions, audio).
The functions live in `domain.keys` (with every other key name) so domain code can use them.
"""

from __future__ import annotations

from domain.keys import CHANNEL_PART, ROOM_PREFIX, room_channel, room_key, room_of, room_pattern

PREFIX = ROOM_PREFIX

__all__ = ["CHANNEL_PART", "PREFIX", "room_channel", "room_key", "room_of", "room_pattern"]
