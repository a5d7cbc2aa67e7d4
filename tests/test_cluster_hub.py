"""The hub on a real Valkey cluster (three primaries, one replica each): two uvicorn nodes
deliver and recover across every shard, survive a primary failover while publishing, and clear
a killed node's presence. The tests run in file order (the last two kill processes)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from realtime.keys import room_channel
from tests.cluster_support import LocalCluster
from tests.conftest import Engines
from tests.fixture_helpers import running_nodes
from tests.hub_support import Client, new_user, node_env
from tests.support import ServerProcess
from tests.test_sessions_helpers import live_session, make_book, users


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(Path(tmp_path_factory.mktemp("cluster"))).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def nodes(engines: Engines, cluster: LocalCluster,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    env = node_env(engines, REDIS_URL=cluster.url, READALONG_QUEUE_URL=engines.redis_url,
                   READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000")
    with running_nodes(env, tmp_path_factory.mktemp("clusternodes")) as procs:
        yield procs


@pytest.fixture
async def http(nodes: list[ServerProcess]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nodes[0].base_url, timeout=15) as client:
        yield client


_rooms = itertools.count()


def room_on(cluster: LocalCluster, shard: int, kind: str = "lobby") -> str:
    """A fresh room whose slot is served by the cluster's `shard`-th primary."""
    low, high = cluster.slot_ranges()[shard]
    while True:
        room = f"{kind}:c{next(_rooms)}x{new_user()}"
        if low <= key_slot(room_channel(room).encode()) <= high:
            return room


async def test_delivery_and_recovery_across_every_shard(cluster: LocalCluster,
                                                        nodes: list[ServerProcess]) -> None:
    """Rooms on each of the three shards deliver from one node to the other, and a reader
    coming back on the other node with `since` gets exactly what it missed, in order."""
    rooms = [room_on(cluster, shard) for shard in range(3)]
    writer = await Client.login(nodes[1].ws_url, new_user())
    reader = await Client.login(nodes[0].ws_url, new_user())
    for room in rooms:
        await writer.ok("subscribe", room=room)
        await reader.ok("subscribe", room=room)
    last: dict[str, dict[str, Any]] = {}
    for room in rooms:
        await writer.ok("publish", room=room, data={"text": f"hello {room}"})
        (event,) = await reader.events(room, 1)
        assert event["data"]["text"] == f"hello {room}"
        last[room] = event
    await reader.close()
    for room in rooms:
        for i in range(3):
            await writer.ok("publish", room=room, data={"text": f"missed {i}"})
    back = await Client.login(nodes[1].ws_url, reader.welcome["user_id"])  # type: ignore[index]
    for room in rooms:
        since = {"epoch": last[room]["epoch"], "offset": last[room]["offset"]}
        ack = await back.ok("subscribe", room=room, since=since)
        assert ack["recovered"] is True and ack["epoch"] == since["epoch"], (room, ack)
        missed = await back.events(room, 3)
        assert [e["data"]["text"] for e in missed] == ["missed 0", "missed 1", "missed 2"]
        assert [e["offset"] for e in missed] == [since["offset"] + i for i in (1, 2, 3)]
    await writer.close()
    await back.close()


async def test_a_home_feed_page_reads_across_shards(cluster: LocalCluster, engines: Engines,
                                                   http: httpx.AsyncClient) -> None:
    """A feed page's one pipelined Redis read spans slots (the reader's feed, the big-author
    set): the page is rebuilt from PostgreSQL and merges a big author's activity in order."""
    from domain.db import Database
    from domain.feeds.service import BIG_AUTHORS, record_activity
    from domain.redisconn import close, connect
    from tests.accounts_helpers import register

    unique = f"cl{new_user()}"
    fan, bo, star = [await register(http, unique, prefix=p) for p in ("fan", "bo", "st")]
    for whom in (bo, star):
        r = await http.post(f"/api/v1/users/{whom.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    redis = connect(cluster.url)
    try:
        await redis.sadd(BIG_AUTHORS, str(star.id))
        ids = [await record_activity(db, None, actor_id=who.id, verb="started_book",
                                     object_kind="book", object_id=t, payload={"title": t})
               for who, t in ((bo, "Dune"), (star, "Emma"), (bo, "Kim"))]
        r = await http.get("/api/v1/feed", headers=fan.headers)
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == ids[::-1]
    finally:
        await redis.srem(BIG_AUTHORS, str(star.id))
        await close(redis)
        await db.close()


async def test_slot_move_keeps_delivery_and_history(cluster: LocalCluster,
                                                    nodes: list[ServerProcess]) -> None:
    """When a room's slot moves to another shard (resharding), both nodes follow it: live
    events keep arriving, and a resume with `since` still recovers from the moved history."""
    room = room_on(cluster, 0)
    slot = key_slot(room_channel(room).encode())
    writer = await Client.login(nodes[1].ws_url, new_user())
    reader = await Client.login(nodes[0].ws_url, new_user())
    await writer.ok("subscribe", room=room)
    await reader.ok("subscribe", room=room)
    await writer.ok("publish", room=room, data={"text": "before the move"})
    (first,) = await reader.events(room, 1)
    cluster.move_slot(slot, cluster.primaries[1])
    for _ in range(50):  # until both brokers follow the slot (bounded)
        await writer.ok("publish", room=room, data={"text": "after the move"})
        try:
            await reader.expect(lambda f: f["type"] == "event" and f["room"] == room
                                and f["data"]["text"] == "after the move", timeout=0.5)
            break
        except TimeoutError:
            continue
    else:
        raise AssertionError("no delivery after the slot moved")
    back = await Client.login(nodes[1].ws_url, new_user())
    ack = await back.ok("subscribe", room=room,
                        since={"epoch": first["epoch"], "offset": first["offset"]})
    assert ack["recovered"] is True and ack["epoch"] == first["epoch"], ack
    replay = await back.events(room, ack["offset"] - first["offset"])
    assert {e["data"]["text"] for e in replay} == {"after the move"}
    for c in (writer, reader, back):
        await c.close()


async def test_primary_failover_while_publishing(cluster: LocalCluster,
                                                 nodes: list[ServerProcess],
                                                 http: httpx.AsyncClient, engines: Engines,
                                                 unique: str) -> None:
    """Killing the primary of a co-reading session's shard while its host chats: the replica
    takes over, the hub reconnects by itself, the reader's resume says `recovered: false` with
    a new epoch, every acknowledged message is in the session's history (PostgreSQL), and live
    delivery resumes on both nodes."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Failover {unique}")
    session = await live_session(http, host, book)
    room = session["room"]
    victim = cluster.primary_of(room_channel(room))
    shard = next(i for i, p in enumerate(cluster.primaries) if p is victim)
    other = room_on(cluster, (shard + 1) % 3)  # a lobby room on a surviving shard
    h = await Client.login(nodes[1].ws_url, host.id)
    r = await Client.login(nodes[0].ws_url, reader.id)
    first = await h.ok("subscribe", room=room)
    assert (await r.ok("subscribe", room=room))["epoch"] == first["epoch"]
    await r.ok("subscribe", room=other)
    await h.ok("subscribe", room=other)
    acked: list[int] = []

    async def chat(text: str) -> bool:
        reply = await h.command("publish", room=room, data={"type": "chat", "body": text})
        if reply["type"] == "ack":
            acked.append(int(reply["result"]["message_id"]))
            return True
        return False

    for i in range(5):
        assert await chat(f"before {i}")
    seen = await r.events(room, 5)
    victim.kill()
    slot = key_slot(room_channel(room).encode())
    for i in range(400):  # publishing on: some fail while the shard has no primary
        await chat(f"during {i}")
        if cluster.serving(slot) is not victim:
            break
        await asyncio.sleep(0.05)
    cluster.wait_failover(victim)

    async def delivered() -> bool:  # delivery resumes without restarting anything
        await chat("after")
        try:
            await r.expect(lambda f: f["type"] == "event" and f["room"] == room
                           and f["data"].get("body") == "after", timeout=1)
            return True
        except TimeoutError:
            return False

    for _ in range(30):
        if await delivered():
            break
    else:
        raise AssertionError("no delivery after the failover")
    again = await Client.login(nodes[1].ws_url, reader.id)
    ack = await again.ok("subscribe", room=room,
                         since={"epoch": seen[-1]["epoch"], "offset": seen[-1]["offset"]})
    assert ack["recovered"] is False and ack["epoch"] != seen[-1]["epoch"], ack
    await h.ok("publish", room=other, data={"text": "other shard"})
    await r.expect(lambda f: f["type"] == "event" and f["room"] == other)
    resp = await http.get(f"/api/v1/sessions/{session['id']}/messages",
                          params={"limit": 200}, headers=reader.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    items = body["items"] if isinstance(body, dict) else body
    stored = {int(m["id"]) for m in items}
    assert set(acked) <= stored, sorted(set(acked) - stored)
    for c in (h, r, again):
        await c.close()


async def test_presence_cleared_after_a_web_node_is_killed(cluster: LocalCluster,
                                                           nodes: list[ServerProcess]) -> None:
    """When a web node dies without a goodbye, the surviving node removes its readers from the
    room's presence (on whichever shard the room lives) and tells the room."""
    rooms = [room_on(cluster, shard) for shard in range(3)]
    stay, gone = new_user(), new_user()
    a = await Client.login(nodes[0].ws_url, stay)
    b = await Client.login(nodes[1].ws_url, gone)
    for room in rooms:
        await a.ok("subscribe", room=room)
        await b.ok("subscribe", room=room)
        await a.presence(room, lambda f: gone in [m["user_id"] for m in f["joined"]])
    nodes[1].kill()
    for room in rooms:
        left = await a.presence(room, lambda f: gone in f["left"], timeout=20)
        assert gone in left["left"]
    await a.close()
