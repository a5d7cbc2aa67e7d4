"""Presence shows users' display names (resolved once per socket at auth; renames show up on
the next connection)."""

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
