"""Hub pieces without I/O: frames, codecs, the variant rule, token buckets, the envelope."""

from __future__ import annotations

import msgspec
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.commands import Ping, Publish, Subscribe
from realtime.events import Event
from realtime.protocol import CODECS, JSON, MSGPACK, close_frame, frame
from realtime.ratelimit import TokenBucket
from realtime.rooms.base import FULL, REDACTED, SKIP, RoomEvent, Viewer, variant_for
from realtime.wire import WireEvent, decode_body, encode_event, split_message


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_prebuilt_frames_parse_as_websocket_frames(size: int) -> None:
    """The hub's pre-framed bytes are valid unmasked RFC 6455 frames at every length boundary."""
    payload = b"x" * size
    parsed = _parse(frame(0x2, payload))
    assert parsed.opcode is Opcode.BINARY and parsed.fin and bytes(parsed.data) == payload
    closing = _parse(close_frame(4013, "slow consumer"))
    assert closing.opcode is Opcode.CLOSE and bytes(closing.data)[:2] == (4013).to_bytes(2, "big")


def test_one_decoder_per_format_gives_the_same_commands() -> None:
    """JSON and MessagePack decode to the same Structs; unknown types fail at decode."""
    obj = {"type": "subscribe", "id": "7", "room": "lobby:x", "since": {"epoch": "e", "offset": 3}}
    from_json = CODECS[JSON].decode(msgspec.json.encode(obj))
    from_msgpack = CODECS[MSGPACK].decode(msgspec.msgpack.encode(obj))
    assert from_json == from_msgpack and isinstance(from_json, Subscribe)
    assert isinstance(CODECS[JSON].decode(b'{"type":"ping","id":"1"}'), Ping)
    with pytest.raises(msgspec.ValidationError):
        CODECS[JSON].decode(b'{"type":"teleport","id":"1"}')
    with pytest.raises(msgspec.ValidationError):
        CODECS[JSON].decode(b'{"type":"publish","id":"1","room":"lobby:x","data":[1]}')
    assert CODECS[JSON].command_id(b'{"type":"teleport","id":"9"}') == "9"
    assert CODECS[JSON].command_id(b"{broken") is None
    assert Publish(id="1", room="r", data={}).__struct_config__.tag == "publish"


def test_event_frames_omit_offsets_for_rooms_without_history() -> None:
    """An event of a history-less room carries no epoch/offset keys at all."""
    plain = msgspec.json.decode(CODECS[JSON].encode(Event("leaderboard:w", "scores", {"a": 1})))
    assert plain == {"type": "event", "room": "leaderboard:w", "event": "scores", "data": {"a": 1}}


@pytest.mark.parametrize(("viewer", "user", "event", "expected"), [
    (Viewer(), 1, {"gate": 0.5, "redacted": True, "author_id": 2}, FULL),
    (Viewer(progress=0.2, shield=True), 1, {"gate": 0.5, "redacted": True, "author_id": 2},
     REDACTED),
    (Viewer(progress=0.5, shield=True), 1, {"gate": 0.5, "redacted": True, "author_id": 2}, FULL),
    (Viewer(progress=0.2, shield=True), 2, {"gate": 0.5, "redacted": True, "author_id": 2}, FULL),
    (Viewer(progress=0.2, shield=True), 1, {"gate": 0.5, "redacted": False, "author_id": 2},
     FULL),
    (Viewer(hidden_authors=frozenset({2})), 1, {"gate": None, "redacted": False, "author_id": 2},
     SKIP),
    (Viewer(), 1, {"gate": None, "redacted": False, "author_id": None, "targets": [3]}, SKIP),
    (Viewer(), 3, {"gate": None, "redacted": False, "author_id": None, "targets": [3]}, FULL),
])
def test_variant_rule(viewer: Viewer, user: int, event: dict, expected: int) -> None:  # type: ignore[type-arg]
    """Redacted only for a shielded viewer behind the gate (never the author); hidden authors
    and non-targets get nothing."""
    assert variant_for(viewer, user, redacted=event["redacted"], gate=event["gate"],
                       author_id=event["author_id"], targets=event.get("targets")) == expected


class FakeClock:
    """A monotonic clock the test moves by hand (no race with the real one)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_bursts_then_asks_to_wait() -> None:
    """A bucket allows its burst, then answers with the seconds until the next token, refills
    at its rate and never beyond its burst."""
    clock = FakeClock()
    bucket = TokenBucket(rate=8.0, burst=3.0, clock=clock)  # binary-exact steps of 1/8 s
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.125
    clock.now += 0.0625  # half a token back: still 1/16 s to wait
    assert bucket.take() == 0.0625
    clock.now += 0.0625  # one whole token
    assert bucket.take() == 0.0
    assert bucket.take() == 0.125
    clock.now += 60.0  # a long pause refills to the burst, not beyond
    assert [bucket.take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.take() > 0.0
    # a refused take costs nothing: waiting the answered time is enough for the next one
    clock.now += bucket.take()
    assert bucket.take() == 0.0


def test_token_bucket_cost_and_empty_start() -> None:
    """A take of several tokens waits for all of them; a refused one leaves the tokens there."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=4.0, clock=clock)
    assert bucket.take(3.0) == 0.0
    assert bucket.take(3.0) == pytest.approx(1.0)  # 1 token left, 2 more at 2/s
    clock.now += 1.0
    assert bucket.take(3.0) == 0.0
    assert bucket.tokens == pytest.approx(0.0)


def test_envelope_round_trip() -> None:
    """The Redis envelope keeps both variants and the filters; the Lua prefix parses."""
    body = encode_event(RoomEvent("note", {"t": "full"}, redacted={"t": "-"}, gate=0.4,
                                  author_id=5, target_user_ids=[5, 6]))
    offset, epoch, rest = split_message(b"42:abc:" + body)
    wire = decode_body(rest)
    assert (offset, epoch) == (42, "abc") and isinstance(wire, WireEvent)
    assert (wire.data, wire.redacted, wire.gate, wire.author_id, wire.targets) == (
        {"t": "full"}, {"t": "-"}, 0.4, 5, [5, 6])
    assert split_message(b"0::" + body)[:2] == (0, None)


@pytest.mark.parametrize(("name", "value"), [("READALONG_WS_PUBLISH_RATE", "0"),
                                             ("READALONG_WS_PRESENCE_BURST", "0.5"),
                                             ("READALONG_WS_SUBSCRIBE_RATE", "fast"),
                                             ("READALONG_PRESENCE_SNAPSHOT_MAX", "0")])
def test_bad_command_limits_refuse_to_start(name: str, value: str) -> None:
    """A zero/negative rate, a burst below one or a non-number is refused with the setting's
    name (the server does not start)."""
    from domain.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=name.rsplit("_", 1)[0]):
        load_settings({name: value})


def test_command_limits_come_from_settings() -> None:
    """Each connection's buckets use the node's configured rate and burst per command class."""
    from domain.settings import load_settings
    from realtime.ratelimit import Limits, limits_from

    table = limits_from(load_settings({"READALONG_WS_PUBLISH_RATE": "1000",
                                       "READALONG_WS_PUBLISH_BURST": "3"}))
    assert table["publish"] == (1000.0, 3.0) and table["presence"] == (10.0, 20.0)
    clock = FakeClock()
    limits = Limits(table, clock=clock)
    assert [limits.check("publish") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.check("publish") == pytest.approx(0.001)
    assert limits.check("presence") == 0.0  # another class has its own bucket
    clock.now += 0.002
    assert limits.check("publish") == 0.0


def test_strikes_close_after_the_abuse_burst() -> None:
    """Twenty rejected frames at once are tolerated, the next one is abuse; a second later one
    more is tolerated again."""
    from realtime.ratelimit import ABUSE_LIMIT, Limits

    clock = FakeClock()
    limits = Limits(clock=clock)
    rate, burst = ABUSE_LIMIT
    assert [limits.strike() for _ in range(int(burst))] == [False] * int(burst)
    assert limits.strike() is True
    clock.now += 1.0 / rate
    assert limits.strike() is False
    assert limits.strike() is True


@pytest.mark.parametrize("value", ["700,10", "a,b,c", "0,10,10", "700,-1,10", "1,2,3,4"])
def test_bad_gc_threshold_refuses_to_start(value: str) -> None:
    """A malformed READALONG_GC_THRESHOLD is refused at start with the variable's name."""
    from domain.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="READALONG_GC_THRESHOLD"):
        load_settings({"READALONG_GC_THRESHOLD": value})


def test_gc_threshold_setting() -> None:
    """The default collects the young generation per 50,000 allocations; `python` keeps the
    interpreter's thresholds; three integers are taken as given."""
    import gc

    from domain.settings import load_settings

    assert load_settings({}).gc_thresholds() == (50_000, 20, 10)
    assert load_settings({"READALONG_GC_THRESHOLD": " Python "}).gc_thresholds() is None
    custom = load_settings({"READALONG_GC_THRESHOLD": "2000, 15, 5"})
    before = gc.get_threshold()
    try:
        custom.apply_gc_threshold()
        assert gc.get_threshold() == (2000, 15, 5)
    finally:
        gc.set_threshold(*before)
