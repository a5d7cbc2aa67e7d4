"""README promises of the hub that had no test: the subscription cap, dropping a peer that
stops answering pings, `unavailable` and 4012 while Redis is down, and sockets closed 4003 by a
password change or a role change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.accounts.service import create_admin
from domain.db import Database
from server.engines import EmbeddedEngines
from tests.accounts_helpers import PASSWORD, UserSession, login, register
from tests.fixture_helpers import connected_db, copy_pg_folder, serve_cli
from tests.hub_support import Client, new_user, node_env, start_nodes
from tests.support import ServerProcess, eventually, free_port, server_env


@pytest.fixture(scope="module")
def roomy(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """One node whose subscribe rate allows hundreds of subscribes in a row."""
    (node,) = start_nodes(node_env(engines, READALONG_WS_SUBSCRIBE_RATE="100000",
                                   READALONG_WS_SUBSCRIBE_BURST="1000"),
                          tmp_path_factory.mktemp("roomy"), 1)
    try:
        yield node
    finally:
        node.stop()


async def test_a_socket_holds_at_most_200_subscriptions(roomy: ServerProcess) -> None:
    """The 201st subscription of one socket is refused with `too_many_subscriptions`; the
    socket stays usable, another socket is not affected, and leaving one room frees a place."""
    base = f"lobby:cap{new_user()}x"
    client = await Client.login(roomy.ws_url, new_user())
    for i in range(200):
        await client.ok("subscribe", room=f"{base}{i}")
    refused = await client.command("subscribe", room=f"{base}200")
    assert refused["type"] == "error" and refused["code"] == "too_many_subscriptions", refused
    assert (await client.command("ping"))["type"] == "ack"
    other = await Client.login(roomy.ws_url, new_user())
    await other.ok("subscribe", room=f"{base}200")
    await client.ok("unsubscribe", room=f"{base}0")
    await client.ok("subscribe", room=f"{base}200")
    for c in (client, other):
        await c.close()


async def test_a_peer_that_stops_answering_pings_is_dropped(engines, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A client that stops answering the server's pings is dropped after
    READALONG_WS_PING_INTERVAL + READALONG_WS_PING_TIMEOUT and cleaned up: it leaves presence
    and the node no longer counts it; a client that answers stays."""
    port = free_port()
    proc = serve_cli({**node_env(engines), "READALONG_WS_PING_INTERVAL": "0.5",
                      "READALONG_WS_PING_TIMEOUT": "1", "READALONG_LOG_LEVEL": "WARNING"},
                     port, tmp_path / "serve.log")
    url = f"ws://127.0.0.1:{port}/ws"
    try:
        room = f"lobby:ping{new_user()}"
        watcher = await Client.login(url, new_user())
        await watcher.ok("subscribe", room=room)
        silent_id = new_user()
        silent = await Client.login(url, silent_id)
        await silent.ok("subscribe", room=room)
        await watcher.presence(room, lambda f: silent_id in {m["user_id"] for m in f["joined"]})
        transport: Any = silent.ws.transport
        transport.pause_reading()  # the peer's end goes quiet: no pong is ever sent again
        # interval + timeout is 1.5 s; allow a loaded machine a few seconds more
        await watcher.presence(room, lambda f: silent_id in f["left"], timeout=8)

        async def counted_once() -> bool:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                text = (await http.get("/metrics")).text
            return "readalong_hub_connections 1.0" in text

        await eventually(counted_once)
        assert (await watcher.command("ping"))["type"] == "ack"  # it answered every ping
        transport.resume_reading()
        await silent.closed_with(timeout=10)
        await watcher.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_redis_down_answers_unavailable_and_4012_at_auth(tmp_path: Path, pg_template: Path
                                                          ) -> None:
    """While Redis is down, an open socket's commands answer `unavailable` (the socket stays
    open), a new socket's auth answers `unavailable` and is closed 4012; once Redis is back the
    same socket subscribes and publishes again."""
    copy_pg_folder(pg_template, tmp_path)  # migrated to head
    engines = EmbeddedEngines(tmp_path, pg_options={"fsync": "off"}, persist_redis=False)
    db_url, redis_url = engines.start()
    nodes: list[ServerProcess] = []
    try:
        nodes = start_nodes(server_env(db_url, redis_url, READALONG_ALLOWED_ORIGINS="*"),
                            tmp_path, 1)
        asyncio.run(_redis_down_scenario(nodes[0], engines))
    finally:
        for node in nodes:
            node.stop()
        engines.stop()


async def _redis_down_scenario(node: ServerProcess, engines: EmbeddedEngines) -> None:
    room = f"lobby:down{new_user()}"
    client = await Client.login(node.ws_url, new_user(), origin=None)
    await client.ok("subscribe", room=room)
    engines.redis.stop()
    try:
        for cmd, fields in (("subscribe", {"room": f"{room}b"}),
                            ("publish", {"room": room, "data": {"text": "lost?"}})):
            reply = await client.command(cmd, timeout=30, **fields)
            assert reply["type"] == "error" and reply["code"] == "unavailable", (cmd, reply)
        assert (await client.command("ping"))["type"] == "ack"  # still open
        late = await Client.open(node.ws_url, origin=None)
        await late.send({"type": "auth", "id": "a", "token": _token(new_user())})
        refused = await late.expect(lambda f: f["type"] == "error", timeout=30)
        assert refused["code"] == "unavailable"
        assert await late.closed_with(timeout=30) == 4012
    finally:
        engines.redis.start()

    async def works_again() -> bool:
        reply = await client.command("subscribe", room=f"{room}b", timeout=30)
        return reply["type"] == "ack"

    await eventually(works_again, timeout=30, interval=0.3)
    await client.ok("publish", room=room, data={"text": "back"})
    event = await client.expect(lambda f: f["type"] == "event" and f["room"] == room, 15)
    assert event["data"]["text"] == "back"
    await client.close()


def _token(user_id: int) -> str:
    from tests.hub_support import token_for

    return token_for(user_id)


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


async def _socket(server: ServerProcess, token: str, room: str) -> Client:
    """A socket authenticated with a real access token, subscribed to `room`."""
    client = await Client.open(server.ws_url, origin=None)
    await client.send({"type": "auth", "id": "auth", "token": token})
    welcome = await client.expect(lambda f: f["type"] in ("welcome", "error"))
    assert welcome["type"] == "welcome", welcome
    await client.ok("subscribe", room=room)
    return client


async def test_password_change_closes_other_sessions_sockets_4003(
        http: httpx.AsyncClient, server: ServerProcess, unique: str) -> None:
    """Changing the password closes, with 4003, the sockets opened with the tokens it revoked;
    a socket opened with the new token stays open."""
    user = await register(http, unique, prefix="pw")
    other = await login(http, user)
    room = f"lobby:pw{unique}"
    mine = await _socket(server, other["access_token"], room)
    r = await http.post("/api/v1/me/password", headers=user.headers,
                        json={"current_password": PASSWORD, "new_password": "new pass 42!"})
    assert r.status_code == 200, r.text
    assert await mine.closed_with(timeout=10) == 4003
    fresh = await _socket(server, r.json()["access_token"], room)
    assert (await fresh.command("ping"))["type"] == "ack"
    await fresh.close()


async def test_role_change_closes_that_users_sockets_4003(
        http: httpx.AsyncClient, server: ServerProcess, db: Database, unique: str) -> None:
    """An admin changing a reader's role closes that reader's sockets with 4003 (their tokens
    carry the old role); another user's socket stays open."""
    handle, email = f"adm{unique}", f"adm{unique}@example.test"
    admin_id = await create_admin(db, email=email, handle=handle, password=PASSWORD)
    admin = UserSession(id=admin_id, handle=handle, email=email, password=PASSWORD,
                        access_token="", refresh_token="")
    admin.update(await login(http, admin))
    reader = await register(http, unique, prefix="rl")
    bystander = await register(http, unique, prefix="by")
    room = f"lobby:role{unique}"
    theirs = await _socket(server, reader.access_token, room)
    others = await _socket(server, bystander.access_token, room)
    r = await http.put(f"/api/v1/admin/users/{reader.handle}/role", headers=admin.headers,
                       json={"role": "moderator"})
    assert r.status_code == 200, r.text
    assert await theirs.closed_with(timeout=10) == 4003
    assert (await others.command("ping"))["type"] == "ack"
    await others.close()
    promoted = await login(http, reader)
    assert promoted["role"] == "moderator"
    again = await _socket(server, promoted["access_token"], room)
    assert (await again.command("ping"))["type"] == "ack"
    await again.close()
