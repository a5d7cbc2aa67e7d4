"""Presence shows users' display names (looked up once per socket, by its first subscribe to a
room that shows names; renames show up on the next connection)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.accounts_helpers import register
from tests.hub_support import Client, new_user, node_env, start_nodes
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def node(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A hub node that keeps no resolved name (TTL 0), so a rename shows at once."""
    (proc,) = start_nodes(node_env(engines, READALONG_WS_NAME_CACHE_TTL="0"),
                          tmp_path_factory.mktemp("hubnames"), 1)
    try:
        yield proc
    finally:
        proc.stop()


async def _login(url: str, token: str) -> Client:
    client = await Client.open(url)
    await client.send({"type": "auth", "id": "a", "token": token})
    welcome = await client.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", welcome
    return client


def _names(members: list[dict[str, Any]]) -> dict[int, str]:
    return {m["user_id"]: m["name"] for m in members}


async def test_lobby_presence_shows_display_names(http: httpx.AsyncClient, node: ServerProcess,
                                                  unique: str) -> None:
    """Two registered users in a lobby see each other's display names in the snapshot and in
    the join diff; an id with no account still shows as "user <id>"."""
    ana = await register(http, unique, prefix="ana", display_name="Ana Lima")
    bo = await register(http, unique, prefix="bo", display_name="Bo Ek")
    room = f"lobby:names{unique}"
    a = await _login(node.ws_url, ana.access_token)
    b = await _login(node.ws_url, bo.access_token)
    await a.ok("subscribe", room=room)
    snapshot = await b.ok("subscribe", room=room)
    assert _names(snapshot["presence"]) == {ana.id: "Ana Lima", bo.id: "Bo Ek"}
    joined = await a.presence(room, lambda f: bo.id in _names(f["joined"]))
    assert _names(joined["joined"])[bo.id] == "Bo Ek"
    ghost_id = new_user()
    ghost = await Client.login(node.ws_url, ghost_id)
    listed = await ghost.ok("subscribe", room=room)
    assert _names(listed["presence"])[ghost_id] == f"user {ghost_id}"
    for c in (a, b, ghost):
        await c.close()


async def test_the_name_shows_after_rooms_without_names(http: httpx.AsyncClient,
                                                       node: ServerProcess, unique: str) -> None:
    """A socket that first joins rooms showing no names (its own `user:` room, a leaderboard)
    still appears under its display name in the lobby it joins next."""
    di = await register(http, unique, prefix="di", display_name="Di Moss")
    room = f"lobby:later{unique}"
    client = await _login(node.ws_url, di.access_token)
    await client.ok("subscribe", room=f"user:{di.id}")
    await client.ok("subscribe", room="leaderboard:weekly")
    assert _names((await client.ok("subscribe", room=room))["presence"]) == {di.id: "Di Moss"}
    await client.close()


async def test_rename_shows_on_the_next_connection(http: httpx.AsyncClient, node: ServerProcess,
                                                   unique: str) -> None:
    """After a user renames themselves, their next connection appears under the new name."""
    cy = await register(http, unique, prefix="cy", display_name="Cy Old")
    room = f"lobby:rename{unique}"
    first = await _login(node.ws_url, cy.access_token)
    assert _names((await first.ok("subscribe", room=room))["presence"]) == {cy.id: "Cy Old"}
    await first.close()
    r = await http.patch("/api/v1/me", json={"display_name": "Cy New"}, headers=cy.headers)
    assert r.status_code == 200, r.text
    second = await _login(node.ws_url, cy.access_token)
    assert _names((await second.ok("subscribe", room=room))["presence"]) == {cy.id: "Cy New"}
    await second.close()


async def test_concurrent_name_lookups_share_one_query(http: httpx.AsyncClient, engines,  # type: ignore[no-untyped-def]
                                                       unique: str) -> None:
    """A burst of sockets authenticating at once (a reconnect storm) costs one display-name
    query, and the names are then served from the node's cache."""
    import asyncio

    from domain.accounts.names import display_names
    from domain.db import Database
    from realtime.names import NameCache

    people = [await register(http, unique, prefix=f"n{i}", display_name=f"Name {i}")
              for i in range(3)]
    db = Database(engines.database_url, pool_size=2)
    await db.connect()
    calls: list[list[int]] = []

    async def counted(ids: list[int]) -> dict[int, str]:
        calls.append(ids)
        return await display_names(db, ids)

    try:
        cache = NameCache(counted, ttl=60)
        ids = [p.id for p in people] * 4 + [new_user()]
        names = await asyncio.gather(*(cache(u) for u in ids))
        assert names[:3] == ["Name 0", "Name 1", "Name 2"] and names[-1] is None
        assert len(calls) == 1 and sorted(calls[0]) == sorted({*ids})
        assert await cache(people[1].id) == "Name 1" and len(calls) == 1
    finally:
        await db.close()
