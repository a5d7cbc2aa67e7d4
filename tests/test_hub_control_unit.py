"""The control union's wire format: what other parts publish decodes, and nothing else does."""

from __future__ import annotations

import orjson

from domain.accounts.revocation import control_message
from realtime import control
from realtime.rooms.base import RoomEvent


def test_the_accounts_revocation_message_is_a_revoke() -> None:
    """`domain.accounts.revocation` publishes plain JSON that decodes as `Revoke`."""
    assert control.decode(control_message(7, "fam")) == control.Revoke(user_id=7, family="fam")
    assert control.decode(control_message(7, None)) == control.Revoke(user_id=7)


def test_a_reader_change_carries_only_the_fields_that_changed() -> None:
    """Unchanged viewer fields are absent on the wire and stay unchanged on arrival."""
    msg = control.ReaderChanged(room="session:1", user_id=5, origin="n1", shield=True)
    wire = orjson.loads(control.encode(msg))
    assert wire == {"type": "reader_changed", "room": "session:1", "user_id": 5,
                    "origin": "n1", "shield": True}
    back = control.decode(control.encode(msg))
    assert isinstance(back, control.ReaderChanged) and back.changes() == {"shield": True}
    both = control.ReaderChanged(room="session:1", user_id=5, origin="n1", progress=None,
                                 hidden_authors=[3, 4])
    decoded = control.decode(control.encode(both))
    assert isinstance(decoded, control.ReaderChanged)
    assert decoded.changes() == {"progress": None, "hidden_authors": frozenset({3, 4})}


def test_evictions_and_reader_events_round_trip() -> None:
    """An eviction's event and a reader's events arrive as they were sent."""
    evict = control.Evict(room="lobby:x", user_id=9, event=control.KickEvent("kicked", {"u": 9}))
    assert control.decode(control.encode(evict)) == evict
    events = control.ReaderEvents(room="session:2", user_id=9, origin="n2",
                                  events=[RoomEvent("chat", {"id": 1, "unlocked": True},
                                                    author_id=4)])
    assert control.decode(control.encode(events)) == events


def test_unknown_or_out_of_range_messages_decode_to_nothing() -> None:
    """Garbage, an unknown type, a zero id and an id past 64 bits are all refused."""
    for raw in (b"nope", b"{}", b'{"type":"launch"}', b'{"type":"revoke","user_id":0}',
                b'{"type":"revoke","user_id":18446744073709551616}',
                b'{"type":"evict","room":"r"}'):
        assert control.decode(raw) is None
