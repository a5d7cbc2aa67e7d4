"""Room key naming: every key of a room and its channel hash to the room's cluster slot."""

from __future__ import annotations

from redis.crc import key_slot

from realtime.keys import room_channel, room_key, room_of


def test_room_keys_share_the_room_slot() -> None:
    """A room's stream, meta, presence and channel land on one slot, so its scripts work."""
    room = "session:42"
    assert room_key(room, "stream") == "ra:{session:42}:stream"
    names = [room_key(room, p) for p in ("stream", "meta", "pres")] + [room_channel(room)]
    assert len({key_slot(n.encode()) for n in names}) == 1
    assert key_slot(room_key(room, "stream").encode()) == key_slot(room.encode())


def test_room_of_reads_the_room_back() -> None:
    """The room is read back from a key or channel; foreign names give None."""
    assert room_of(room_channel("user:7")) == "user:7"
    assert room_of(room_key("club:3:chat", "meta").encode()) == "club:3:chat"
    assert room_of("ra:rl:login:x") is None
    assert room_of("ra:{unterminated") is None


def test_distinct_rooms_spread_over_slots() -> None:
    """Many rooms spread over many slots (so a cluster shares the load)."""
    slots = {key_slot(room_channel(f"session:{i}").encode()) for i in range(200)}
    assert len(slots) > 150
