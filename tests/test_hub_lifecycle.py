"""Hub lifecycle: graceful shutdown (4012, no ghosts) and surviving a Redis restart."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.hub_support import HUB_ENV, Client, new_user, node_env, start_nodes
from tests.support import ServerProcess, eventually, server_env


async def test_graceful_shutdown_closes_4012_and_leaves_presence(engines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM closes every client with 4012 (reconnect elsewhere) and removes its members from
    presence at once, so the other node's clients see them leave and no ghost remains."""
    room = f"lobby:bye{new_user()}"
    stay, going = start_nodes(node_env(engines), tmp_path, 2)
    try:
        watcher_id, leaving_id = new_user(), new_user()
        watcher = await Client.login(stay.ws_url, watcher_id)
        await watcher.ok("subscribe", room=room)
        leaving = await Client.login(going.ws_url, leaving_id)
        await leaving.ok("subscribe", room=room)
        await watcher.presence(room, lambda f: any(m["user_id"] == leaving_id
                                                   for m in f["joined"]))
        stopper = asyncio.get_running_loop().run_in_executor(None, going.stop)
        assert await leaving.closed_with(timeout=15) == 4012
        assert await stopper in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
        await watcher.presence(room, lambda f: leaving_id in f["left"], timeout=10)
        snapshot = await (await Client.login(stay.ws_url, new_user())).ok("subscribe",
                                                                          room=room)
        assert {m["user_id"] for m in snapshot["presence"]} >= {watcher_id}
        assert leaving_id not in {m["user_id"] for m in snapshot["presence"]}
        await watcher.close()
    finally:
        stay.stop()
        going.kill()


def test_redis_restart_delivery_resumes(tmp_path, pg_template) -> None:  # type: ignore[no-untyped-def]
    """With Redis restarted under connected clients, both nodes reconnect by themselves and
    delivery resumes; a `since` from before the restart answers `recovered: false`."""
    from server.engines import EmbeddedEngines
    from tests.fixture_helpers import copy_pg_folder

    copy_pg_folder(pg_template, tmp_path)  # migrated to head
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, redis_url = engines.start()
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(server_env(db_url, redis_url, **HUB_ENV), tmp_path, 2)
        asyncio.run(_restart_scenario(nodes, engines))
    finally:
        for node in nodes:
            node.stop()
        engines.stop()


async def _restart_scenario(nodes: list[ServerProcess], engines: Any) -> None:
    room = f"lobby:phoenix{new_user()}"
    a = await Client.login(nodes[0].ws_url, new_user())
    b = await Client.login(nodes[1].ws_url, new_user())
    await a.ok("subscribe", room=room)
    await b.ok("subscribe", room=room)
    before = await a.ok("publish", room=room, data={"text": "before"})
    await b.events(room, 1)

    engines.redis.stop()
    engines.redis.start()

    async def publish_works() -> bool:
        reply = await a.command("publish", room=room, data={"text": "after"})
        return reply["type"] == "ack"

    await eventually(publish_works, timeout=30, interval=0.3)
    event = await b.expect(lambda f: f["type"] == "event" and f["data"]["text"] == "after",
                           timeout=15)
    assert event["epoch"] != before["epoch"]  # history was lost with Redis: a new epoch
    # the other direction too (node B resubscribed as well)
    await b.ok("publish", room=room, data={"text": "from b"})
    await a.expect(lambda f: f["type"] == "event" and f["data"]["text"] == "from b", timeout=15)
    late = await Client.login(nodes[1].ws_url, new_user())
    result = await late.ok("subscribe", room=room,
                           since={"epoch": before["epoch"], "offset": before["offset"]})
    assert result["recovered"] is False
    async with httpx.AsyncClient(base_url=nodes[0].base_url) as http:
        metrics = (await http.get("/metrics")).text
    assert "readalong_hub_redis_reconnects_total 1.0" in metrics
    for client in (a, b, late):
        await client.close()


async def test_lost_pubsub_connection_is_repaired_without_gaps(engines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """When a node's Redis pub/sub connection drops (Redis keeps its data), the node
    reconnects and delivers the events its clients missed meanwhile from history: every event
    arrives exactly once, in order."""
    from redis.asyncio import Redis

    from domain.settings import Settings
    from realtime.publisher import Publisher
    from realtime.rooms.base import RoomEvent

    (node,) = start_nodes(node_env(engines), tmp_path, 1)
    redis = Redis.from_url(engines.redis_url)
    try:
        room = f"lobby:gap{new_user()}"
        reader = await Client.login(node.ws_url, new_user(), max_queue=None)
        first = await reader.ok("subscribe", room=room)
        publisher = Publisher(redis, Settings(history_size=50))
        node_id = node.env["READALONG_NODE_ID"]
        clients = await redis.client_list()
        (victim,) = [c for c in clients if c.get("name") == f"readalong-hub-{node_id}"]
        await redis.client_kill_filter(_id=victim["id"])
        for i in range(30):
            await publisher.publish(room, RoomEvent("chat", {"i": i}))
        events = await reader.events(room, 30, timeout=20)
        assert [e["data"]["i"] for e in events] == list(range(30))
        assert [e["offset"] for e in events] == list(range(first["offset"] + 1,
                                                          first["offset"] + 31))

        async def reconnected() -> bool:
            async with httpx.AsyncClient(base_url=node.base_url) as http:
                return "readalong_hub_redis_reconnects_total 1.0" in (
                    await http.get("/metrics")).text

        await eventually(reconnected, timeout=10)
        await reader.close()
    finally:
        await redis.aclose()
        node.stop()
