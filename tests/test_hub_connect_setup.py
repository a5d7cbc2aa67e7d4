"""Connection set-up made cheap (issue 17): the lighter per-socket objects after the handshake,
the merged Redis round trips of auth + subscribe, and the one shared expiry timer; on a real
server process and a real in-process uvicorn, with the session's real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import websockets
from redis.asyncio import Redis

from realtime.auth import ExpiryWheel
from realtime.connection_redis import TurnRedis
from realtime.protocol import frame
from realtime.transport import DirectTransport, attach
from realtime.transport.slim import InboundQueue, Writable
from tests.hub_support import Client, lifespan, new_user, node_env, start_nodes, token_for
from tests.support import ServerProcess, free_port


@pytest.fixture(scope="module")
def node(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    (proc,) = start_nodes(node_env(engines), tmp_path_factory.mktemp("hubsetup"), 1)
    try:
        yield proc
    finally:
        proc.stop()


async def test_pipelined_auth_and_subscribes_are_all_answered_in_order(
        node: ServerProcess) -> None:
    """A client that sends auth and two subscribes without waiting gets its welcome, then
    both acks in order, with its own presence in the lobby's snapshot."""
    user = new_user()
    room = f"lobby:setup-{user}"
    client = await Client.open(node.ws_url)
    for msg in ({"type": "auth", "id": "a", "token": token_for(user)},
                {"type": "subscribe", "id": "s1", "room": f"user:{user}"},
                {"type": "subscribe", "id": "s2", "room": room}):
        await client.send(msg)
    frames = [await client.recv() for _ in range(3)]
    assert [f["type"] for f in frames] == ["welcome", "ack", "ack"], frames
    assert [f.get("id") for f in frames[1:]] == ["s1", "s2"]
    lobby = frames[2]["result"]
    assert lobby["epoch"] and lobby["offset"] == 0
    assert [m["user_id"] for m in lobby["presence"]] == [user]
    assert (await client.command("ping"))["type"] == "ack"  # the read loop goes on
    await client.close()


async def test_a_burst_of_sockets_each_gets_its_own_answers(node: ServerProcess) -> None:
    """Forty sockets authenticating and joining one presence room at once (their Redis
    commands merged) each get a welcome for their own user and an ack counting everyone
    who joined before them."""
    users = [new_user() for _ in range(40)]
    room = f"lobby:burst-{users[0]}"

    async def one(user: int) -> tuple[Client, dict[str, Any]]:
        client = await Client.open(node.ws_url,
                                   subprotocols=["readalong.v1", f"bearer.{token_for(user)}"])
        welcome = await client.recv()
        assert welcome["type"] == "welcome" and welcome["user_id"] == user
        return client, await client.ok("subscribe", room=room)

    done = await asyncio.gather(*(one(u) for u in users))
    totals = sorted(ack["presence_total"] for _, ack in done)
    assert totals[-1] == len(users)
    assert all(1 <= t <= len(users) for t in totals)
    assert len({ack["epoch"] for _, ack in done}) == 1
    for client, _ in done:
        await client.close()


async def test_recovery_after_reconnect_still_replays_the_missed_events(
        node: ServerProcess, publisher: Any) -> None:
    """Reconnecting with `since` (history read and presence join now in one round trip)
    replays exactly what was published while the client was away."""
    from realtime.rooms.base import RoomEvent

    user = new_user()
    room = f"lobby:again-{user}"
    client = await Client.login(node.ws_url, user)
    first = await client.ok("subscribe", room=room)
    await client.close()
    for i in range(3):
        await publisher.publish(room, RoomEvent("chat", {"text": f"m{i}"}))
    client = await Client.login(node.ws_url, user)
    again = await client.ok("subscribe", room=room,
                            since={"epoch": first["epoch"], "offset": first["offset"]})
    assert again["recovered"] is True and again["offset"] == first["offset"] + 3
    events = await client.events(room, 3)
    assert [e["data"]["text"] for e in events] == ["m0", "m1", "m2"]
    await client.close()


async def test_turn_redis_merges_one_turn_and_keeps_each_callers_reply(engines: Any) -> None:
    """Commands issued in one loop turn go out as one pipeline; each caller gets its own
    reply, and one caller's error (a wrong-type key) is its own."""
    redis = Redis.from_url(engines.redis_url)
    try:
        key = f"setup-str-{new_user()}"
        hkey = f"setup-hash-{new_user()}"
        await redis.set(key, b"v")
        await redis.hset(hkey, "f", "1")
        turn = TurnRedis(redis)
        calls = [turn.mget([key, f"{key}-missing"]) for _ in range(20)]
        calls.append(turn.mget([hkey]))  # MGET of a hash is nil, not an error
        calls.append(turn.eval("return redis.call('HGET', KEYS[1], 'f')", 1, key))
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results[:20] == [[b"v", None]] * 20
        assert results[20] == [None]
        assert isinstance(results[21], Exception) and "WRONGTYPE" in str(results[21])
        assert turn.batches == 1 and turn.commands == 22
    finally:
        await redis.aclose()


class _App:
    """Each socket: attach the fast path, then echo every text frame until disconnect."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, Any, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await receive()
        await send({"type": "websocket.accept"})
        transport = attach(send, binary=False, queue_bytes=1 << 20, queue_frames=8, grace=1.0,
                           on_overflow=lambda: None)
        assert isinstance(transport, DirectTransport)
        proto = transport.proto
        self.seen.append((proto.queue, proto.writable, proto.conn.parser.gi_code.co_qualname))
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            transport.write(frame(0x1, message["text"].upper().encode()))


async def test_the_lighter_socket_objects_still_carry_frames_both_ways() -> None:
    """After the handshake uvicorn's queue, write flag and handshake parser are swapped for
    the light ones, and frames (also several in one write) still flow both ways."""
    app = _App()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
            for word in ("one", "two", "three"):
                await ws.send(word)
            got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(3)]
            assert got == ["ONE", "TWO", "THREE"]
        queue, writable, parser = app.seen[0]
        assert isinstance(queue, InboundQueue) and isinstance(writable, Writable)
        assert parser == "Protocol.parse"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class _Conn:
    __slots__ = ("name", "timer_set")

    def __init__(self, name: str) -> None:
        self.name = name
        self.timer_set: set[Any] | None = None

    def cancel_timers(self) -> None:
        bucket, self.timer_set = self.timer_set, None
        if bucket is not None:
            bucket.discard(self)


async def test_one_shared_timer_fires_sockets_in_order_and_forgets_cancelled_ones() -> None:
    """Sockets due at different seconds are handled in order by the wheel's one timer; a
    cancelled (closed) socket is never handled."""
    due: list[str] = []
    fired = asyncio.Event()

    def on_due(conn: Any) -> None:
        due.append(conn.name)
        if conn.name == "late":
            fired.set()

    wheel = ExpiryWheel(on_due)
    now = int(time.time())
    late, early, gone = _Conn("late"), _Conn("early"), _Conn("gone")
    wheel.add(late, now + 2)  # type: ignore[arg-type]
    wheel.add(early, now + 1)  # type: ignore[arg-type]
    wheel.add(gone, now + 1)  # type: ignore[arg-type]
    gone.cancel_timers()
    await asyncio.wait_for(fired.wait(), 10)
    assert due == ["early", "late"]
    assert wheel.buckets == {} and wheel.handle is None
