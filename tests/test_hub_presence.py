"""Hub presence: who is in a room across nodes, one member per user, diffs, dead nodes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from redis.asyncio import Redis

from domain.keys import PRESENCE_NODES
from realtime.presence import Presence
from tests.conftest import Engines
from tests.hub_support import HUB_ENV, Client, new_user, node_env, start_nodes
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def nodes(hub_nodes: list[ServerProcess]) -> list[ServerProcess]:
    """The session's two hub nodes (tests/conftest.py)."""
    return hub_nodes


def ids(members: list[dict[str, Any]]) -> set[int]:
    return {m["user_id"] for m in members}


async def test_presence_lists_members_of_both_nodes(nodes: list[ServerProcess]) -> None:
    """A subscriber on node B sees the member on node A in its snapshot; A gets B's join, meta
    updates and leave as diffs."""
    room = f"lobby:p{new_user()}"
    ua, ub = new_user(), new_user()
    a = await Client.login(nodes[0].ws_url, ua)
    b = await Client.login(nodes[1].ws_url, ub)
    first = await a.ok("subscribe", room=room)
    assert ids(first["presence"]) == {ua}
    second = await b.ok("subscribe", room=room)
    assert ids(second["presence"]) == {ua, ub}
    member = next(m for m in second["presence"] if m["user_id"] == ub)
    assert member == {"user_id": ub, "name": f"user {ub}", "connections": 1, "meta": {}}
    joined = await a.presence(room, lambda f: ub in ids(f["joined"]))
    assert joined["left"] == []
    await b.ok("presence", room=room, meta={"progress": 0.42, "state": "active"})
    update = await a.presence(room, lambda f: ub in ids(f["updated"]))
    assert update["updated"][0]["meta"] == {"progress": 0.42, "state": "active"}
    await b.close()
    left = await a.presence(room, lambda f: ub in f["left"])
    assert left["joined"] == []
    await a.close()


async def test_two_tabs_are_one_member(nodes: list[ServerProcess]) -> None:
    """A user with two sockets (on two nodes) is one member with `connections: 2`; closing one
    tab updates the count, closing both makes them leave."""
    room = f"lobby:tabs{new_user()}"
    watcher_id, user = new_user(), new_user()
    watcher = await Client.login(nodes[0].ws_url, watcher_id)
    await watcher.ok("subscribe", room=room)
    tab1 = await Client.login(nodes[0].ws_url, user)
    tab2 = await Client.login(nodes[1].ws_url, user)
    await tab1.ok("subscribe", room=room)
    snapshot = await tab2.ok("subscribe", room=room)
    mine = [m for m in snapshot["presence"] if m["user_id"] == user]
    assert len(mine) == 1 and mine[0]["connections"] == 2
    await watcher.presence(room, lambda f: any(m["user_id"] == user and m["connections"] == 2
                                               for m in f["updated"]))
    await tab1.close()
    await watcher.presence(room, lambda f: any(m["user_id"] == user and m["connections"] == 1
                                               for m in f["updated"]))
    await tab2.close()
    await watcher.presence(room, lambda f: user in f["left"])
    await watcher.close()


async def test_bad_presence_updates_are_refused(nodes: list[ServerProcess]) -> None:
    """Presence needs a subscription to a room with presence, and meta is size-limited."""
    room = f"lobby:pm{new_user()}"
    user = new_user()
    client = await Client.login(nodes[0].ws_url, user)
    assert (await client.command("presence", room=room, meta={}))["code"] == "not_subscribed"
    await client.ok("subscribe", room=room)
    big = await client.command("presence", room=room, meta={"x": "y" * 5000})
    assert big["code"] == "invalid"
    await client.ok("subscribe", room=f"user:{user}")
    none = await client.command("presence", room=f"user:{user}", meta={"a": 1})
    assert none["code"] == "no_presence"
    await client.close()


async def test_killed_node_members_leave_within_bounded_time(
        nodes: list[ServerProcess], engines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """When a node is SIGKILLed, its members are removed from presence (a `left` diff) within
    the presence TTL plus a heartbeat, and new snapshots no longer list them."""
    room = f"lobby:kill{new_user()}"
    watcher_id, doomed_id = new_user(), new_user()
    (doomed_node,) = start_nodes(node_env(engines), tmp_path, 1)
    try:
        watcher = await Client.login(nodes[0].ws_url, watcher_id)
        await watcher.ok("subscribe", room=room)
        doomed = await Client.login(doomed_node.ws_url, doomed_id)
        await doomed.ok("subscribe", room=room)
        await watcher.presence(room, lambda f: doomed_id in ids(f["joined"]))
        doomed_node.kill()
        # the promise: gone within the presence TTL plus one heartbeat of the surviving nodes
        # (presence_ttl / 3, at least 0.5 s), plus 2 s for a loaded test machine
        ttl = float(HUB_ENV["READALONG_PRESENCE_TTL"])
        await watcher.presence(room, lambda f: doomed_id in f["left"],
                               timeout=ttl + max(0.5, ttl / 3) + 2.0)
        fresh = await Client.login(nodes[1].ws_url, new_user())
        snapshot = await fresh.ok("subscribe", room=room)
        assert doomed_id not in ids(snapshot["presence"])
        assert watcher_id in ids(snapshot["presence"])
        await fresh.close()
        await watcher.close()
    finally:
        doomed_node.kill()


async def test_nodes_with_different_ttls_judge_each_other_by_their_own(engines: Engines) -> None:
    """A node started with a long `READALONG_PRESENCE_TTL` (heartbeating every 5 s) is not swept
    by a node with a short one between its heartbeats (its readers would vanish from presence,
    and an idle-session end would take their session for an empty one); it is swept once its
    own deadline has passed, and its next heartbeat says it must put its members back."""
    redis = Redis.from_url(engines.redis_url)
    base = [time.time() + 3600.0]  # deadlines ahead of the session's live nodes: they leave them
    clock = lambda: base[0]  # noqa: E731
    slow = Presence(redis, f"slow-{new_user()}", 30, clock=clock)
    quick = Presence(redis, f"quick-{new_user()}", 3, clock=clock)
    try:
        assert await slow.heartbeat()  # new in the set
        assert not await slow.heartbeat()
        base[0] += 10.0  # quick's TTL three times over, slow's not yet
        assert slow.node_id not in await quick.dead_nodes()
        base[0] += 21.0
        assert slow.node_id in await quick.dead_nodes()
        await quick.drop_node(slow.node_id)
        assert await slow.heartbeat()  # swept: it knows to resync its members
    finally:
        await redis.zrem(PRESENCE_NODES, slow.node_id, quick.node_id)
        await redis.aclose()
