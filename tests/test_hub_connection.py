"""Hub connection handling: authentication (frame, subprotocol, expiry, revocation), Origin."""

from __future__ import annotations

import asyncio

import pytest

from domain.accounts.tokens import issue_access_token
from domain.settings import DEFAULT_SECRET_KEY
from tests.hub_support import Client, new_user, token_for
from tests.support import ServerProcess


@pytest.fixture(scope="module")
def node(hub_nodes: list[ServerProcess]) -> ServerProcess:
    """The first of the session's two hub nodes (tests/conftest.py)."""
    return hub_nodes[0]


async def test_auth_frame_gives_welcome(node: ServerProcess) -> None:
    """A valid token in the first frame is answered by `welcome` with the user id and expiry."""
    user = new_user()
    client = await Client.login(node.ws_url, user)
    assert client.welcome is not None
    assert client.welcome["user_id"] == user and client.welcome["expires_at"] > 0
    assert client.ws.subprotocol == "readalong.v1"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


async def test_bearer_subprotocol_entry_authenticates(node: ServerProcess) -> None:
    """A `bearer.<token>` subprotocol entry authenticates; the server selects only readalong.v1."""
    user = new_user()
    client = await Client.open(node.ws_url,
                               subprotocols=["readalong.v1", f"bearer.{token_for(user)}"])
    assert client.ws.subprotocol == "readalong.v1"
    welcome = await client.recv()
    assert welcome["type"] == "welcome" and welcome["user_id"] == user
    await client.close()


async def test_no_token_first_frame_not_auth_closes_4001(node: ServerProcess) -> None:
    """Sending a command before authenticating gets `auth_required` and close 4001."""
    client = await Client.open(node.ws_url)
    await client.send({"type": "subscribe", "id": "s1", "room": "lobby:x"})
    error = await client.recv()
    assert error["type"] == "error" and error["code"] == "auth_required" and error["id"] == "s1"
    assert await client.closed_with() == 4001


async def test_no_auth_frame_times_out_with_4001(node: ServerProcess) -> None:
    """A client that never authenticates is closed 4001 after the auth deadline."""
    client = await Client.open(node.ws_url)
    error = await client.recv(timeout=15)
    assert error["code"] == "auth_timeout"
    assert await client.closed_with() == 4001


async def test_bad_token_closes_4001(node: ServerProcess) -> None:
    """A garbage or wrongly signed token is refused with `invalid_token` and close 4001."""
    for token in ("not-a-jwt", issue_access_token("another-secret-key-123456789012345", 5,
                                                  "reader", 60)[0]):
        client = await Client.open(node.ws_url)
        await client.send({"type": "auth", "id": "a", "token": token})
        error = await client.recv()
        assert error["type"] == "error" and error["code"] == "invalid_token"
        assert await client.closed_with() == 4001


async def test_expired_token_closes_4001(node: ServerProcess) -> None:
    """An expired token is refused with `token_expired` and close 4001."""
    token, _ = issue_access_token(DEFAULT_SECRET_KEY, new_user(), "reader", 60, now=1_000_000)
    client = await Client.open(node.ws_url)
    await client.send({"type": "auth", "id": "a", "token": token})
    error = await client.recv()
    assert error["code"] == "token_expired"
    assert await client.closed_with() == 4001


async def test_token_in_url_is_ignored(node: ServerProcess) -> None:
    """A valid token in the query string does not authenticate the socket."""
    client = await Client.open(node.ws_url + f"?token={token_for(new_user())}")
    await client.send({"type": "ping", "id": "p"})
    error = await client.recv()
    assert error["code"] == "auth_required"
    assert await client.closed_with() == 4001


async def test_foreign_origin_refused_missing_origin_allowed(node: ServerProcess) -> None:
    """A browser page from another site is refused (1008); a non-browser client without Origin
    is allowed."""
    foreign = await Client.open(node.ws_url, origin="http://evil.example")
    assert await foreign.closed_with() == 1008
    user = new_user()
    native = await Client.open(node.ws_url, origin=None)
    await native.send({"type": "auth", "id": "a", "token": token_for(user)})
    assert (await native.recv())["type"] == "welcome"
    await native.close()


async def test_forbidden_room_refused(node: ServerProcess) -> None:
    """Subscribing to another user's private room is refused; one's own is accepted."""
    user = new_user()
    client = await Client.login(node.ws_url, user)
    refused = await client.command("subscribe", room=f"user:{user + 1}")
    assert refused["type"] == "error" and refused["code"] == "room_forbidden"
    unknown = await client.command("subscribe", room="secret:1")
    assert unknown["code"] == "unknown_room"
    result = await client.ok("subscribe", room=f"user:{user}")
    assert result["room"] == f"user:{user}"
    await client.close()


async def test_reauth_notice_then_renewal_keeps_socket(node: ServerProcess) -> None:
    """Before the token expires the server sends `reauth`; a fresh `auth` keeps the socket open."""
    user = new_user()
    client = await Client.open(node.ws_url)
    await client.send({"type": "auth", "id": "a",
                       "token": issue_access_token(DEFAULT_SECRET_KEY, user, "reader", 3)[0]})
    assert (await client.recv())["type"] == "welcome"
    notice = await client.expect(lambda f: f["type"] == "reauth", timeout=10)
    assert notice["expires_at"] > 0
    renewed = await client.ok("auth", token=token_for(user))
    assert renewed["expires_at"] > notice["expires_at"]
    # the old token's expiry passes while the socket keeps working
    deadline = asyncio.get_running_loop().time() + 4
    while asyncio.get_running_loop().time() < deadline:
        assert (await client.command("ping"))["type"] == "ack"
        await asyncio.sleep(0.5)
    await client.close()


async def test_expired_without_renewal_closes_4002(node: ServerProcess) -> None:
    """A client that does not renew its token is closed with 4002 when it expires."""
    client = await Client.open(node.ws_url)
    await client.send({"type": "auth", "id": "a",
                       "token": issue_access_token(DEFAULT_SECRET_KEY, new_user(), "reader",
                                                   2)[0]})
    assert (await client.recv())["type"] == "welcome"
    assert await client.closed_with(timeout=15) == 4002


async def test_reauth_for_another_user_is_refused(node: ServerProcess) -> None:
    """Re-authenticating with another user's token is an error; the socket keeps its user."""
    user = new_user()
    client = await Client.login(node.ws_url, user)
    reply = await client.command("auth", token=token_for(user + 1))
    assert reply["type"] == "error" and reply["code"] == "user_mismatch"
    await client.close()


async def test_revocation_control_message_closes_4003(node: ServerProcess, engines) -> None:  # type: ignore[no-untyped-def]
    """A revocation on the control channel closes that user's sockets (4003), not others'."""
    from redis.asyncio import Redis

    from domain.keys import HUB_CONTROL

    victim, other = new_user(), new_user()
    a = await Client.login(node.ws_url, victim)
    b = await Client.login(node.ws_url, other)
    redis = Redis.from_url(engines.redis_url)
    try:
        import orjson

        await redis.publish(HUB_CONTROL, orjson.dumps({"type": "revoke", "user_id": victim,
                                                       "family": None}))
    finally:
        await redis.aclose()
    assert await a.closed_with() == 4003
    assert (await b.command("ping"))["type"] == "ack"
    await b.close()


async def test_http_get_on_ws_is_426(node: ServerProcess) -> None:
    """A plain HTTP request to /ws is told to upgrade."""
    import httpx

    async with httpx.AsyncClient(base_url=node.base_url) as http:
        r = await http.get("/ws")
    assert r.status_code == 426
