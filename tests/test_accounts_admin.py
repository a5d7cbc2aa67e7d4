"""User administration on two real server processes: search, suspension that closes the
user's sockets on both nodes and refuses sign-in, and lifting it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.accounts_helpers import PASSWORD, UserSession, login, register
from tests.fixture_helpers import running_nodes
from tests.hub_support import Client, node_env
from tests.support import ServerProcess
from tests.worker_helpers import db_and_redis


@pytest.fixture(scope="module")
def nodes(engines: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    env = node_env(engines, READALONG_REGISTER_RATE="100000", READALONG_LOGIN_RATE="100000")
    with running_nodes(env, tmp_path_factory.mktemp("admin-logs")) as procs:
        yield procs


async def _admin(http: httpx.AsyncClient, engines: Any, unique: str) -> UserSession:
    boss = await register(http, unique, prefix="boss")
    async with db_and_redis(engines) as (db, _redis):
        await db.pool.execute("UPDATE users SET role = 'admin' WHERE id = $1", boss.id)
    boss.update(await login(http, boss))
    return boss


async def _socket(node: ServerProcess, token: str) -> Client:
    ws = await Client.open(node.ws_url)
    await ws.send({"type": "auth", "id": "auth", "token": token})
    assert (await ws.expect(lambda f: f["type"] in ("welcome", "error")))["type"] == "welcome"
    return ws


async def test_suspension_closes_sockets_on_both_nodes_and_refuses_sign_in(
        nodes: list[ServerProcess], engines: Any, unique: str) -> None:
    """A suspended reader's sockets on two processes close, their tokens die, sign-in says
    `account_suspended`; after unsuspending they sign in again."""
    async with httpx.AsyncClient(base_url=nodes[0].base_url, timeout=15) as one, \
            httpx.AsyncClient(base_url=nodes[1].base_url, timeout=15) as two:
        boss = await _admin(one, engines, unique)
        eve = await register(one, unique, prefix="eve")
        sockets = [await _socket(nodes[0], eve.access_token),
                   await _socket(nodes[1], eve.access_token)]
        reader = await one.get("/api/v1/admin/users", headers=eve.headers)
        assert reader.status_code == 403 and reader.json()["code"] == "admin_only"
        found = await two.get("/api/v1/admin/users", headers=boss.headers,
                              params={"q": eve.handle.upper()})
        assert [u["handle"] for u in found.json()["items"]] == [eve.handle]

        r = await one.post(f"/api/v1/admin/users/{eve.handle}/suspend", headers=boss.headers,
                           json={"reason": "spam"})
        assert r.status_code == 200 and r.json()["suspended"] is True
        assert [await ws.closed_with(timeout=15) for ws in sockets] == [4003, 4003]
        me = await two.get("/api/v1/me", headers=eve.headers)
        assert me.status_code == 401 and me.json()["code"] == "token_revoked"
        r = await two.post("/api/v1/auth/login", json={"email": eve.email,
                                                       "password": PASSWORD})
        assert r.status_code == 403 and r.json()["code"] == "account_suspended"
        r = await two.post("/api/v1/auth/refresh", json={"refresh_token": eve.refresh_token})
        assert r.status_code == 401
        listed = await one.get("/api/v1/admin/users", headers=boss.headers,
                               params={"suspended": "true", "q": eve.handle})
        assert listed.json()["items"][0]["suspended_reason"] == "spam"

        r = await two.post(f"/api/v1/admin/users/{eve.handle}/unsuspend", headers=boss.headers)
        assert r.status_code == 200 and r.json()["suspended"] is False
        r = await one.post("/api/v1/auth/login", json={"email": eve.email,
                                                       "password": PASSWORD})
        assert r.status_code == 200
        self_ = await one.post(f"/api/v1/admin/users/{boss.handle}/suspend",
                               headers=boss.headers)
        assert self_.status_code == 403


async def test_user_list_pages_with_a_cursor(nodes: list[ServerProcess], engines: Any,
                                             unique: str) -> None:
    """The admin list pages newest first without repeats; a bad cursor is a clear 422."""
    async with httpx.AsyncClient(base_url=nodes[0].base_url, timeout=15) as http:
        boss = await _admin(http, engines, unique)
        for i in range(3):
            await register(http, f"{unique}p{i}", prefix="pg")
        r = await http.get("/api/v1/admin/users", headers=boss.headers,
                           params={"q": "pg", "limit": 2})
        page = r.json()
        assert len(page["items"]) == 2 and page["next_cursor"]
        r = await http.get("/api/v1/admin/users", headers=boss.headers,
                           params={"q": "pg", "limit": 2, "cursor": page["next_cursor"]})
        ids = [u["id"] for u in page["items"]] + [u["id"] for u in r.json()["items"]]
        assert len(ids) == len(set(ids)) and ids == sorted(ids, reverse=True)
        bad = await http.get("/api/v1/admin/users", headers=boss.headers,
                             params={"cursor": "!!!"})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"
