"""The subscription state machine with no I/O: events are fed in, what to deliver is read out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from domain.errors import DomainError
from realtime.fanout import Fanout
from realtime.metrics import HubMetrics
from realtime.outgoing import Outgoing
from realtime.registry import LocalRoom, Registry
from realtime.rooms.base import ConnectionInfo, RoomKind, Viewer
from realtime.subscriptions import (
    CATCHING,
    CLOSED,
    LIVE,
    PENDING,
    Sub,
    admit,
    check_leave,
    covered,
    resolve,
)
from realtime.wire import WireEvent


class FakeConn:
    """A recipient that records the bytes written to it."""

    def __init__(self, user_id: int = 1) -> None:
        self.fmt = 0
        self.info: ConnectionInfo | None = ConnectionInfo(user_id, "reader", "r", "c1", "n")
        self.frames: list[bytes] = []
        self.write = self.frames.append


def ev(offset: int | None, epoch: str | None = "E", text: str = "") -> Outgoing:
    return Outgoing("lobby:x", offset, epoch, WireEvent("chat", {"t": text or str(offset)}))


def payload(frame: bytes) -> Any:
    """The JSON body of one server-to-client WebSocket frame (unmasked)."""
    size = frame[1] & 0x7F
    return orjson.loads(frame[2 if size < 126 else 4:])


def offsets(outs: list[Outgoing]) -> list[int | None]:
    return [o.offset for o in outs]


def test_a_new_subscription_buffers_live_events_until_it_is_activated() -> None:
    """Live events that arrive before the ack are held, not delivered."""
    sub = Sub(FakeConn(), Viewer())
    assert sub.state == PENDING
    assert sub.offer(ev(5)) is False
    assert sub.offer(ev(6)) is False
    assert sub.pending is not None and offsets(sub.pending) == [5, 6]


def test_activation_delivers_replay_then_the_live_events_the_replay_did_not_cover() -> None:
    """Replay 4..6 then live 7: the live copies of 5 and 6 are dropped, order is kept."""
    sub = Sub(FakeConn(), Viewer())
    for off in (5, 6, 7):
        sub.offer(ev(off))
    out = sub.activate("E", 6, [ev(4), ev(5), ev(6)])
    assert offsets(out) == [4, 5, 6, 7]
    assert sub.state == LIVE and sub.pending is None
    assert sub.offer(ev(8)) is True  # live now: deliver directly


def test_a_live_copy_arriving_after_the_ack_of_a_replayed_event_is_dropped() -> None:
    """The history read (one socket) can answer before the room's channel (another socket)
    brings events it already covered: replay 4..6 is acked at 6, then pub/sub brings the late
    copies 5 and 6. They are dropped; 7 and everything after go straight through."""
    sub = Sub(FakeConn(), Viewer())
    assert offsets(sub.activate("E", 6, [ev(4), ev(5), ev(6)])) == [4, 5, 6]
    assert sub.state == CATCHING and sub.live
    assert sub.offer(ev(None, epoch=None)) is True  # unnumbered: delivered, still catching
    assert sub.offer(ev(5)) is False and sub.offer(ev(6)) is False
    assert sub.state == LIVE  # the channel reached the ack's offset
    assert sub.offer(ev(7)) is True and sub.offer(ev(8)) is True


def test_catching_ends_at_the_first_event_past_the_ack_or_of_another_epoch() -> None:
    """No copy can follow an event past the ack (one channel keeps its order), nor an event of
    a new epoch (history was lost: everything in it is new to the reader)."""
    past = Sub(FakeConn(), Viewer())
    past.activate("E", 6)
    assert past.offer(ev(7)) is True and past.state == LIVE
    other = Sub(FakeConn(), Viewer())
    other.activate("E", 6)
    assert other.offer(ev(2, epoch="NEW")) is True and other.state == LIVE
    plain = Sub(FakeConn(), Viewer())  # a room without history: no position, nothing to catch
    plain.activate(None, None)
    assert plain.state == LIVE


def test_a_buffered_event_at_the_ack_means_no_late_copies_can_come() -> None:
    """When the channel already brought the ack's own offset before the ack, the subscription
    is plainly live at once."""
    sub = Sub(FakeConn(), Viewer())
    sub.offer(ev(6))
    assert offsets(sub.activate("E", 6, [ev(5), ev(6)])) == [5, 6]
    assert sub.state == LIVE


def test_fanout_never_writes_a_replayed_event_twice() -> None:
    """The interleaving that gave a reader offset 31 twice: subscribe's history read returns
    up to 31 and the subscription goes live; only then does pub/sub deliver 31 to the node.
    The fan-out (both its paths: plain, and per-viewer variants) writes 31 once, then 32."""
    for viewer in (Viewer(), Viewer(shield=True, progress=0.5)):
        room = LocalRoom("lobby:x", RoomKind(), "x")
        conn = FakeConn()
        sub = Sub(conn, viewer)
        room.subs["c1"] = sub
        room.special = int(viewer.shield)
        metrics = HubMetrics(CollectorRegistry())
        fanout = Fanout(Registry(metrics), metrics, 60)
        for out in sub.activate("E", 31, [ev(30), ev(31)]):
            fanout.deliver(sub, out)
        for off in (30, 31, 32, 33):  # the channel's late copies, then the live events
            fanout.fanout(room, ev(off))
        assert [payload(f)["offset"] for f in conn.frames] == [30, 31, 32, 33]


def test_events_of_another_epoch_and_unnumbered_events_are_never_dropped() -> None:
    """Only events of the ack's epoch at or below its offset count as already delivered."""
    sub = Sub(FakeConn(), Viewer())
    sub.offer(ev(3, epoch="OLD"))
    sub.offer(ev(None, epoch=None, text="unlocked"))
    sub.offer(ev(2))
    out = sub.activate("E", 2)
    assert [(o.epoch, o.offset) for o in out] == [("OLD", 3), (None, None)]


def test_activation_happens_once_and_a_closed_subscription_drops_everything() -> None:
    """A second activation delivers nothing; after close, offers are refused."""
    sub = Sub(FakeConn(), Viewer())
    sub.offer(ev(1))
    assert offsets(sub.activate("E", 0)) == [1]
    assert sub.activate("E", 0) == []
    assert sub.close() is True and sub.state == CLOSED
    assert sub.close() is False
    assert sub.offer(ev(2)) is False


def test_closing_a_pending_subscription_discards_its_buffer() -> None:
    """Leaving before the ack: nothing buffered is delivered later."""
    sub = Sub(FakeConn(), Viewer())
    sub.offer(ev(1))
    sub.close()
    assert sub.activate("E", 0) == []


def test_viewer_changes_report_the_special_count_delta() -> None:
    """Shield on makes a viewer special (+1), off again (-1); `...` leaves a field as is."""
    sub = Sub(FakeConn(), Viewer(progress=0.1))
    assert sub.change_viewer({"shield": True, "progress": ...}) == 1
    assert sub.viewer == Viewer(progress=0.1, shield=True)
    assert sub.change_viewer({"progress": 0.5}) == 0
    assert sub.change_viewer({"shield": False}) == -1
    assert sub.change_viewer({"hidden_authors": [7, 7]}) == 1
    assert sub.viewer.hidden_authors == frozenset({7})
    assert sub.matches({"hidden_authors": {7}, "progress": 0.5})
    assert not sub.matches({"shield": True})
    assert sub.change_viewer({"unknown": 1}) == 0


def test_gap_repair_holds_live_events_and_drops_those_the_repair_delivered() -> None:
    """During a repair up to offset 9, held live events 8..10 come out as 10 only."""
    room = LocalRoom("lobby:x", RoomKind(), "x")
    room.begin_repair()
    assert room.filling is not None
    room.filling.extend([ev(8), ev(9), ev(10)])
    assert offsets(room.end_repair("E", 9)) == [10]
    assert room.filling is None


def test_a_repair_that_delivered_nothing_releases_every_held_event() -> None:
    """History was lost (nothing replayed): the held live events all go out, in order."""
    room = LocalRoom("lobby:x", RoomKind(), "x")
    room.begin_repair()
    assert room.filling is not None
    room.filling.extend([ev(1, epoch="NEW"), ev(2, epoch="NEW")])
    assert offsets(room.end_repair(None, None)) == [1, 2]


def test_covered_needs_a_position() -> None:
    """Without an ack offset nothing counts as delivered."""
    assert not covered(ev(1), "E", None)
    assert covered(ev(1), "E", 1)
    assert not covered(ev(2), "E", 1)


class _Kind(RoomKind):
    prefix = "lobby"


@pytest.mark.parametrize(("room", "code"), [("nocolon", "bad_room"), ("Lobby:x", "bad_room"),
                                            ("nope:x", "unknown_room"), ("lobby:" + "x" * 129,
                                                                         "bad_room")])
def test_bad_room_names_are_refused_with_the_field(room: str, code: str) -> None:
    """A malformed or unknown room answers a stable code naming `room`."""
    with pytest.raises(DomainError) as info:
        resolve({"lobby": _Kind()}, room)
    assert info.value.code == code and info.value.field == "room"


def test_resolve_splits_kind_and_id() -> None:
    """`lobby:a:b` is the lobby kind with id `a:b`."""
    kind = _Kind()
    assert resolve({"lobby": kind}, "lobby:a:b") == (kind, "a:b")


def test_admission_refuses_duplicates_and_the_limit() -> None:
    """A second subscribe to one room, one past the limit, and leaving a foreign room fail."""
    subs: dict[str, Any] = {"lobby:a": object()}
    with pytest.raises(DomainError) as dup:
        admit(subs, "lobby:a")
    assert dup.value.code == "already_subscribed"
    with pytest.raises(DomainError) as full:
        admit(subs, "lobby:b", limit=1)
    assert full.value.code == "too_many_subscriptions"
    admit(subs, "lobby:b", limit=2)
    with pytest.raises(DomainError) as gone:
        check_leave(subs, "lobby:b")
    assert gone.value.code == "not_subscribed"
