"""Hub hardening: deeply nested frames, out-of-range offsets and bad control messages get clear
answers (an `error` frame, or nothing) and never cost the socket or the node."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from redis.asyncio import Redis

from domain.keys import HUB_CONTROL
from tests.hub_support import Client, new_user
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def node(hub_nodes: list[ServerProcess]) -> ServerProcess:
    """The first of the session's two hub nodes (tests/conftest.py)."""
    return hub_nodes[0]


def _nested_json(depth: int) -> str:
    return '{"type":"publish","id":"deep","room":"lobby:deep","data":{"x":' + "[" * depth \
        + "]" * depth + "}}"


async def test_a_json_frame_nested_1000_deep_is_malformed_and_the_socket_lives(
        node: ServerProcess) -> None:
    """A ~2 KB JSON frame nested 1,000 deep gets `malformed` and the next command works."""
    client = await Client.login(node.ws_url, new_user())
    frame = _nested_json(1000)
    assert 1900 < len(frame) < 2200
    await client.ws.send(frame)
    error = await client.expect(lambda f: f["type"] == "error")
    assert error["code"] == "malformed" and "nests deeper" in error["message"]
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_a_msgpack_frame_nested_1000_deep_is_malformed_and_the_socket_lives(
        node: ServerProcess) -> None:
    """The same for MessagePack: 1,000 nested one-element arrays get `malformed`."""
    client = await Client.login(node.ws_url, new_user(), fmt="msgpack")
    head = msgspec.msgpack.encode({"type": "publish", "id": "deep", "room": "lobby:deep"})
    # a map of 4 entries: the 3 above plus `data` -> 1,000 nested arrays
    frame = b"\x84" + head[1:] + msgspec.msgpack.encode("data") + b"\x91" * 1000 + b"\x90"
    await client.ws.send(frame)
    error = await client.expect(lambda f: f["type"] == "error")
    assert error["code"] == "malformed"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_a_deep_first_frame_is_refused_with_a_close_frame(node: ServerProcess) -> None:
    """A deeply nested frame instead of `auth` is refused like any non-auth frame (4001)."""
    client = await Client.open(node.ws_url)
    await client.ws.send("[" * 1000 + "]" * 1000)
    error = await client.expect(lambda f: f["type"] == "error")
    assert error["code"] == "auth_required"
    assert await client.closed_with() == 4001


async def test_ordinary_nesting_still_passes(node: ServerProcess) -> None:
    """A payload nested a handful of levels (like an annotation's selectors) is accepted."""
    client = await Client.login(node.ws_url, new_user())
    room = f"lobby:nest{new_user()}"
    await client.ok("subscribe", room=room)
    reply = await client.command("publish", room=room,
                                 data={"text": "hi", "extra": {"a": [{"b": [1]}]}})
    assert reply["type"] in ("ack", "error")
    assert reply.get("code") != "malformed"
    await client.close()


@pytest.mark.parametrize("offset", [2**63, 2**64, 10**30])
async def test_since_offset_out_of_range_is_invalid_naming_the_field(
        node: ServerProcess, offset: int) -> None:
    """`since.offset` >= 2^63 answers `invalid` with field `since.offset` (not `unavailable`)."""
    client = await Client.login(node.ws_url, new_user())
    # (written by hand: JSON encoders refuse integers past 64 bits, a hand-written client not)
    await client.ws.send(f'{{"type":"subscribe","id":"big","room":"lobby:off{new_user()}",'
                         f'"since":{{"epoch":"abc","offset":{offset}}}}}')
    reply = await client.expect(lambda f: f.get("id") == "big")
    assert reply["type"] == "error"
    assert reply["code"] == "invalid" and reply["field"] == "since.offset"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_bad_control_messages_are_ignored(node: ServerProcess, engines) -> None:  # type: ignore[no-untyped-def]
    """Garbage, unknown types and out-of-range ids on the control channel change nothing,
    and a good revoke right after them still closes the victim's socket (4003)."""
    victim, bystander = new_user(), new_user()
    a = await Client.login(node.ws_url, victim)
    b = await Client.login(node.ws_url, bystander)
    redis = Redis.from_url(engines.redis_url)
    try:
        for junk in (b"not json", b"[]", orjson.dumps({"type": "launch"}),
                     b'{"type": "revoke", "user_id": 18446744073709551616}',
                     orjson.dumps({"type": "revoke", "user_id": 0})):
            await redis.publish(HUB_CONTROL, junk)
        await redis.publish(HUB_CONTROL, orjson.dumps({"type": "revoke", "user_id": victim}))
    finally:
        await redis.aclose()
    assert await a.closed_with() == 4003
    assert (await b.command("ping"))["type"] == "ack"
    await b.close()


async def test_a_missing_or_mistyped_field_is_named(node: ServerProcess) -> None:
    """`invalid` names the field that is missing or has the wrong type, nested ones too."""
    client = await Client.login(node.ws_url, new_user())
    assert (await client.command("subscribe"))["field"] == "room"
    assert (await client.command("subscribe", room=7))["field"] == "room"
    reply = await client.command("subscribe", room="lobby:x", since={"epoch": "e"})
    assert reply["code"] == "invalid" and reply["field"] == "since.offset"
    await client.close()
