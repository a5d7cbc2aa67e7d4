"""Hub protocol: bad input gets stable error codes and the socket lives on; limits close it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest

from tests.hub_support import Client, new_user, node_env, start_nodes
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def node(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    (proc,) = start_nodes(node_env(engines, READALONG_WS_MAX_FRAME_BYTES="4096"),
                          tmp_path_factory.mktemp("hubproto"), 1)
    try:
        yield proc
    finally:
        proc.stop()


async def test_malformed_json_gets_error_and_socket_lives(node: ServerProcess) -> None:
    """Malformed JSON is answered by `malformed` (id null) and the next command still works."""
    client = await Client.login(node.ws_url, new_user())
    await client.ws.send("{not json")
    error = await client.recv()
    assert error == {"type": "error", "id": None, "code": "malformed",
                     "message": "the frame is not valid JSON", "field": None,
                     "retry_after": None}
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_unknown_type_and_missing_fields_carry_the_command_id(node: ServerProcess) -> None:
    """An unknown `type` gets `unknown_type`, a missing field `invalid`, both with the id."""
    client = await Client.login(node.ws_url, new_user())
    unknown = await client.command("teleport", room="lobby:x")
    assert unknown["type"] == "error" and unknown["code"] == "unknown_type"
    missing = await client.command("subscribe")
    assert missing["code"] == "invalid" and "room" in missing["message"]
    wrong = await client.command("subscribe", room=42)
    assert wrong["code"] == "invalid"
    await client.send({"id": "no-type"})
    untyped = await client.expect(lambda f: f["type"] == "error")
    assert untyped["id"] == "no-type" and untyped["code"] == "unknown_type"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_msgpack_bad_frames_get_errors(node: ServerProcess) -> None:
    """A MessagePack client gets the same error codes for garbage and unknown types."""
    client = await Client.login(node.ws_url, new_user(), fmt="msgpack")
    await client.ws.send(b"\xc1\xc1")
    assert (await client.recv())["code"] == "malformed"
    await client.ws.send(msgspec.msgpack.encode({"type": "nope", "id": "n"}))
    error = await client.recv()
    assert error["code"] == "unknown_type" and error["id"] == "n"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_oversize_frame_closes_1009(node: ServerProcess) -> None:
    """A frame over ws_max_frame_bytes closes the socket with 1009."""
    client = await Client.login(node.ws_url, new_user())
    await client.send({"type": "publish", "id": "big", "room": "lobby:big",
                       "data": {"text": "x" * 5000}})
    assert await client.closed_with() == 1009


async def test_flood_is_rate_limited_then_closed_4008(node: ServerProcess) -> None:
    """Flooding publishes gets `rate_limited` with `retry_after`, and persisting closes 4008."""
    client = await Client.login(node.ws_url, new_user())
    await client.ok("subscribe", room="lobby:flood")
    for i in range(120):
        await client.send({"type": "publish", "id": f"f{i}", "room": "lobby:flood",
                           "data": {"text": f"spam {i}"}})
    limited = await client.expect(lambda f: f["type"] == "error" and f["code"] == "rate_limited")
    assert limited["retry_after"] > 0 and limited["id"].startswith("f")
    assert await client.closed_with() == 4008


async def test_invalid_lobby_message_is_refused_and_not_stored(node: ServerProcess) -> None:
    """An empty or overlong chat message is refused with `invalid` and never reaches the room."""
    room = f"lobby:v{new_user()}"
    client = await Client.login(node.ws_url, new_user())
    first = await client.ok("subscribe", room=room)
    for data in ({"text": "   "}, {"text": "x" * 1001}, {"txt": "hi"}, {"text": 5}):
        reply = await client.command("publish", room=room, data=data)
        assert reply["type"] == "error" and reply["code"] in ("invalid", "too_long"), reply
    ok = await client.ok("publish", room=room, data={"text": "fine"})
    assert ok["offset"] == first["offset"] + 1  # nothing was stored by the refused ones
    event = (await client.events(room, 1))[0]
    assert event["data"]["text"] == "fine"
    await client.close()


async def test_publish_rules(node: ServerProcess) -> None:
    """Publishing needs a subscription and a room kind that accepts client publishes."""
    user = new_user()
    client = await Client.login(node.ws_url, user)
    not_subscribed = await client.command("publish", room="lobby:rules", data={"text": "x"})
    assert not_subscribed["code"] == "not_subscribed"
    await client.ok("subscribe", room="leaderboard:weekly")
    refused = await client.command("publish", room="leaderboard:weekly", data={"x": 1})
    assert refused["code"] == "publish_forbidden"
    twice = await client.command("subscribe", room="leaderboard:weekly")
    assert twice["code"] == "already_subscribed"
    bad = await client.command("subscribe", room="no colon here")
    assert bad["code"] == "bad_room"
    not_in = await client.command("unsubscribe", room="lobby:never")
    assert not_in["code"] == "not_subscribed"
    await client.ok("unsubscribe", room="leaderboard:weekly")
    await client.close()


async def test_asyncapi_document_is_served(node: ServerProcess) -> None:
    """The AsyncAPI 3 document describes every command and server frame from the Structs."""
    async with httpx.AsyncClient(base_url=node.base_url) as http:
        doc = (await http.get("/asyncapi.json")).json()
    assert doc["asyncapi"].startswith("3.")
    messages = doc["channels"]["ws"]["messages"]
    for tag in ("auth", "subscribe", "unsubscribe", "publish", "presence", "ping"):
        assert f"client_{tag}" in messages
    for tag in ("welcome", "ack", "error", "event", "presence", "reauth"):
        assert f"server_{tag}" in messages
    assert "Subscribe" in doc["components"]["schemas"]
    assert "4013" in doc["info"]["description"]
