"""Hub fan-out: two server processes sharing Redis behave as one hub; formats, variants, slow
consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from domain.settings import Settings
from realtime.publisher import Publisher
from realtime.rooms.base import RoomEvent
from tests.fixture_helpers import running_nodes
from tests.hub_support import Client, new_user, node_env
from tests.support import ServerProcess, eventually


@pytest.fixture(scope="module")
def nodes(engines, tmp_path_factory) -> Iterator[list[ServerProcess]]:  # type: ignore[no-untyped-def]
    with running_nodes(node_env(engines, READALONG_WS_QUEUE_BYTES="65536"),
                       tmp_path_factory.mktemp("hubfan")) as procs:
        yield procs


async def test_cross_node_delivery_same_for_json_and_msgpack(nodes: list[ServerProcess]) -> None:
    """What a client on node B publishes reaches clients on node A and B, JSON and MessagePack
    alike, with the same epoch, offset and data."""
    room = f"lobby:x{new_user()}"
    a = await Client.login(nodes[0].ws_url, new_user())
    b = await Client.login(nodes[1].ws_url, new_user(), fmt="msgpack")
    c = await Client.login(nodes[1].ws_url, new_user())
    for client in (a, b, c):
        await client.ok("subscribe", room=room)
    sent = await b.ok("publish", room=room, data={"text": "hello from B"})
    got = [(await client.events(room, 1))[0] for client in (a, b, c)]
    assert got[0] == got[1] == got[2]
    assert got[0]["offset"] == sent["offset"] and got[0]["epoch"] == sent["epoch"]
    assert got[0]["data"]["text"] == "hello from B"
    await a.ok("publish", room=room, data={"text": "and back"})
    assert (await b.events(room, 1))[0]["data"]["text"] == "and back"
    for client in (a, b, c):
        await client.close()


async def test_server_publish_reaches_leaderboard_and_only_own_user_room(
        nodes: list[ServerProcess], publisher: Publisher) -> None:
    """Server-side publishes reach leaderboard watchers on both nodes (no offsets: no history)
    and a `user:` room only reaches that user's sockets, on every node."""
    key = f"leaderboard:w{new_user()}"
    user, other = new_user(), new_user()
    tab1 = await Client.login(nodes[0].ws_url, user)
    tab2 = await Client.login(nodes[1].ws_url, user, fmt="msgpack")
    stranger = await Client.login(nodes[1].ws_url, other)
    for client in (tab1, tab2, stranger):
        await client.ok("subscribe", room=key)
    for client in (tab1, tab2):
        await client.ok("subscribe", room=f"user:{user}")
    await stranger.ok("subscribe", room=f"user:{other}")
    assert await publisher.publish(key, RoomEvent("scores", {"top": [1, 2]})) is None
    for client in (tab1, tab2, stranger):
        event = (await client.events(key, 1))[0]
        assert event["data"] == {"top": [1, 2]} and "offset" not in event
    _, offset = await publisher.publish(f"user:{user}", RoomEvent("notification",
                                                                      {"n": 1})) or ("", 0)
    for client in (tab1, tab2):
        event = (await client.events(f"user:{user}", 1))[0]
        assert event["offset"] == offset and event["data"] == {"n": 1}
    await publisher.publish(f"user:{other}", RoomEvent("notification", {"n": 2}))
    assert (await stranger.events(f"user:{other}", 1))[0]["data"] == {"n": 2}
    assert not [f for f in stranger.inbox if f.get("room") == f"user:{user}"]
    for client in (tab1, tab2, stranger):
        await client.close()


async def test_slow_consumer_is_cut_off_and_others_keep_receiving(
        nodes: list[ServerProcess], publisher: Publisher) -> None:
    """A client that stops reading is closed with 4013 while the other members of the room
    receive every event, in order."""
    room = f"lobby:slow{new_user()}"
    fast = await Client.login(nodes[0].ws_url, new_user(), max_queue=None)
    slow = await Client.login(nodes[0].ws_url, new_user(), max_queue=1)
    await fast.ok("subscribe", room=room)
    await slow.ok("subscribe", room=room)
    # the slow client now stops reading; its socket buffers fill, then the server's
    blob = "y" * 40_000
    total = 400
    reader = asyncio.create_task(fast.events(room, total, timeout=60))
    for i in range(total):
        await publisher.publish(room, RoomEvent("chat", {"i": i, "blob": blob}))
    offsets = [e["offset"] for e in await reader]
    assert offsets == sorted(offsets) and len(set(offsets)) == total
    assert await slow.closed_with(timeout=30) == 4013
    async with httpx.AsyncClient(base_url=nodes[0].base_url) as http:
        metrics = (await http.get("/metrics")).text
    assert "readalong_hub_slow_consumer_disconnects_total 1.0" in metrics
    await fast.close()


async def test_unsubscribe_stops_delivery(nodes: list[ServerProcess]) -> None:
    """After `unsubscribe`, a client no longer receives the room's events (checked once the
    event has reached another subscriber on the same node)."""
    room = f"lobby:u{new_user()}"
    a = await Client.login(nodes[0].ws_url, new_user())
    witness = await Client.login(nodes[0].ws_url, new_user())
    b = await Client.login(nodes[1].ws_url, new_user())
    for client in (a, witness, b):
        await client.ok("subscribe", room=room)
    await a.ok("unsubscribe", room=room)
    await b.ok("publish", room=room, data={"text": "one"})
    assert (await witness.events(room, 1))[0]["data"]["text"] == "one"  # it reached node A
    assert (await a.command("ping"))["type"] == "ack"
    assert not [f for f in a.inbox if f["type"] == "event"]
    for client in (a, witness, b):
        await client.close()


async def _metrics(node: ServerProcess) -> dict[str, float]:
    """The node's unlabelled hub metrics, by name."""
    async with httpx.AsyncClient(base_url=node.base_url) as http:
        text = (await http.get("/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("readalong_hub_") and "{" not in line:
            name, value = line.split()
            values[name] = float(value)
    return values


async def test_metrics_count_connections(nodes: list[ServerProcess]) -> None:
    """/metrics counts this node's open connections, subscriptions and rooms, and the events
    that came in from Redis and went out to sockets."""
    node = nodes[1]
    before = await _metrics(node)
    for name in ("readalong_hub_redis_reconnects_total",
                 "readalong_hub_fanout_latency_seconds_count"):
        assert name in before

    async def reaches(ref: dict[str, float] | None = None, **expected: float) -> bool:
        now, ref = await _metrics(node), ref or before
        return all(now[f"readalong_hub_{k}"] == ref[f"readalong_hub_{k}"] + v
                   for k, v in expected.items())

    room = f"lobby:m{new_user()}"
    one = await Client.login(node.ws_url, new_user())
    two = await Client.login(node.ws_url, new_user())
    await eventually(lambda: reaches(connections=2, subscriptions=0, rooms=0))
    await one.ok("subscribe", room=room)
    await two.ok("subscribe", room=room)
    await eventually(lambda: reaches(connections=2, subscriptions=2, rooms=1))
    # presence diffs are messages too: count the publish from when both have two's join
    two_id = two.welcome["user_id"]  # type: ignore[index]
    for client in (one, two):
        await client.presence(room, lambda f: two_id in {m["user_id"] for m in f["joined"]})
    mid = await _metrics(node)
    await one.ok("publish", room=room, data={"text": "counted"})
    await two.events(room, 1)
    await one.events(room, 1)
    await eventually(lambda: reaches(mid, events_in_total=1, events_out_total=2))
    await one.close()
    await eventually(lambda: reaches(connections=1, subscriptions=1, rooms=1))
    await two.close()
    await eventually(lambda: reaches(connections=0, subscriptions=0, rooms=0))


class _ShieldRoom:
    """A test-only room kind: each user's reading progress and shield come from a table."""

    prefix = "spoiler"
    keeps_history = True
    accepts_publish = False
    presence = False
    guarded = False

    def __init__(self, viewers: dict[int, Any]) -> None:
        self.viewers = viewers

    async def authorize(self, hub: Any, conn: Any, room_id: str) -> Any:
        return self.viewers[conn.user_id]

    async def on_leave(self, hub: Any, conn: Any, room_id: str) -> None:
        return None


async def test_visibility_variants_are_per_viewer(engines) -> None:  # type: ignore[no-untyped-def]
    """One published event reaches each viewer as its variant: redacted below the gate when
    shielded, full past it or for its author, nothing for a viewer hiding the author; live,
    after `update_viewer`, and in history replay."""
    import msgspec

    from realtime.commands import Since, Subscribe
    from realtime.connection import Connection
    from realtime.hub import Hub
    from realtime.metrics import HubMetrics
    from realtime.protocol import JSON, MSGPACK
    from realtime.rooms.base import Viewer
    from tests.hub_support import token_for

    behind, ahead, author, blocker = (new_user() for _ in range(4))
    viewers = {behind: Viewer(progress=0.1, shield=True),
               ahead: Viewer(progress=0.9, shield=True),
               author: Viewer(progress=0.0, shield=True),
               blocker: Viewer(progress=1.0, hidden_authors=frozenset({author}))}
    kind = _ShieldRoom(viewers)
    settings = Settings(node_id=f"variants{new_user()}", redis_url=engines.redis_url,
                        history_size=50, ws_auth_timeout=1)
    redis = Redis.from_url(engines.redis_url)
    hub = Hub(settings, HubMetrics())
    hub.register(kind)  # type: ignore[arg-type]
    await hub.start(redis, engines.redis_url, hook_signals=False)
    frames: dict[int, list[dict[str, Any]]] = {u: [] for u in viewers}
    conns: dict[int, Connection] = {}
    room = f"spoiler:{new_user()}"
    try:
        for i, user in enumerate(viewers):
            fmt = MSGPACK if i % 2 else JSON

            async def send(message: dict[str, Any], user: int = user, fmt: int = fmt) -> None:
                if message["type"] == "websocket.send":
                    raw = message.get("bytes") or message.get("text")
                    decode = msgspec.msgpack.decode if fmt == MSGPACK else msgspec.json.decode
                    frames[user].append(decode(raw))

            conn = Connection(hub, f"t{user}", fmt, send, 1 << 20, 100, 1.0)
            await hub.authenticate(conn, token_for(user))
            await hub.subscribe(conn, Subscribe(id="s", room=room))
            conns[user] = conn
        pub = Publisher(redis, settings)
        epoch, first = await pub.publish(room, RoomEvent(
            "note", {"text": "Rosebud is the sled"}, redacted={"text": "(spoiler)"}, gate=0.5,
            author_id=author)) or ("", 0)

        def events(user: int) -> list[dict[str, Any]]:
            return [f for f in frames[user] if f["type"] == "event"]

        await eventually(lambda: asyncio.sleep(0, all(events(u) for u in (behind, ahead,
                                                                            author))))
        assert events(behind)[0]["data"] == {"text": "(spoiler)"}
        assert events(ahead)[0]["data"] == {"text": "Rosebud is the sled"}
        assert events(author)[0]["data"] == {"text": "Rosebud is the sled"}
        assert events(behind)[0]["offset"] == events(ahead)[0]["offset"] == first
        hub.update_viewer(f"t{behind}", room, progress=0.6)
        await pub.publish(room, RoomEvent("note", {"text": "full 2"}, redacted={"text": "-"},
                                          gate=0.5, author_id=author))
        await eventually(lambda: asyncio.sleep(0, len(events(behind)) == 2))
        assert events(behind)[1]["data"] == {"text": "full 2"}
        await hub.send_to(f"t{ahead}", room, [RoomEvent("unlocked", {"page": 3})])
        await eventually(lambda: asyncio.sleep(0, len(events(ahead)) == 3))
        assert events(ahead)[2]["event"] == "unlocked"
        assert events(blocker) == []  # hides the author: gets neither event
        # replay applies the same rule: a shielded newcomer behind the gate gets redacted
        late = new_user()
        viewers[late] = Viewer(progress=0.2, shield=True)
        frames[late] = []

        async def send_late(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                frames[late].append(msgspec.json.decode(message["text"]))

        conn = Connection(hub, f"t{late}", JSON, send_late, 1 << 20, 100, 1.0)
        await hub.authenticate(conn, token_for(late))
        await hub.subscribe(conn, Subscribe(id="r", room=room,
                                            since=Since(epoch=epoch, offset=first - 1)))
        conns[late] = conn
        await eventually(lambda: asyncio.sleep(0, len(events(late)) == 2))
        ack = next(f for f in frames[late] if f["type"] == "ack")
        assert ack["result"]["recovered"] is True
        assert [e["data"]["text"] for e in events(late)] == ["(spoiler)", "-"]
    finally:
        for conn in conns.values():
            await hub.disconnect(conn)
        await hub.stop()
        await redis.aclose()


async def test_evict_removes_a_user_from_a_room_on_every_node(engines) -> None:  # type: ignore[no-untyped-def]
    """`hub.evict(room, user)` on one node makes every node send that user's sockets a
    `kicked` event and unsubscribe them (the sockets stay open); others stay in the room."""
    import msgspec

    from realtime.commands import Subscribe
    from realtime.connection import Connection
    from realtime.hub import Hub
    from realtime.metrics import HubMetrics
    from realtime.protocol import JSON
    from realtime.rooms.lobby import LobbyRoom
    from tests.hub_support import token_for

    redis = Redis.from_url(engines.redis_url)
    hubs = []
    for i in range(2):
        hub = Hub(Settings(node_id=f"evict{i}-{new_user()}", redis_url=engines.redis_url),
                  HubMetrics())
        hub.register(LobbyRoom())
        await hub.start(redis, engines.redis_url, hook_signals=False)
        hubs.append(hub)
    room = f"lobby:evict{new_user()}"
    kicked_user, other = new_user(), new_user()
    frames: dict[str, list[dict[str, Any]]] = {}
    conns = []
    try:
        for name, hub, user in (("k0", hubs[0], kicked_user), ("k1", hubs[1], kicked_user),
                                ("o1", hubs[1], other)):
            frames[name] = []

            async def send(message: dict[str, Any], name: str = name) -> None:
                if message["type"] == "websocket.send":
                    frames[name].append(msgspec.json.decode(message["text"]))

            conn = Connection(hub, name, JSON, send, 1 << 20, 100, 1.0)
            await hub.authenticate(conn, token_for(user))
            await hub.subscribe(conn, Subscribe(id="s", room=room))
            conns.append((hub, conn))
        await hubs[0].evict(room, kicked_user)

        def kicked(name: str) -> bool:
            return any(f["type"] == "event" and f["event"] == "kicked" for f in frames[name])

        await eventually(lambda: asyncio.sleep(0, kicked("k0") and kicked("k1")))
        await eventually(lambda: asyncio.sleep(0, all(room not in c.subs for h, c in conns[:2])))
        assert room in conns[2][1].subs and not kicked("o1")
        await eventually(lambda: asyncio.sleep(0, any(
            f["type"] == "presence" and kicked_user in f["left"] for f in frames["o1"])))
    finally:
        for hub, conn in conns:
            await hub.disconnect(conn)
        for hub in hubs:
            await hub.stop()
        await redis.aclose()
