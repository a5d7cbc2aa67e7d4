"""Access withdrawn while a subscribe is in flight, across two server processes: a socket whose
access check passed before the commit (a club made private, a member banned) and that registers
after the eviction ran gets no later event of the room (realtime/access.py). The interleaving
is forced with the test app's holds (tests/held_app.py), not with sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club
from tests.conftest import Engines
from tests.held_app import go_key, held_key, hold_key
from tests.support import ServerProcess
from tests.test_clubs_chat import _chat, _two_sections
from tests.test_sessions_helpers import WS, make_book


@pytest.fixture(scope="module")
def held_nodes(engines: Engines,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two server nodes on the session engines running the test app with holds."""
    logs = tmp_path_factory.mktemp("held-nodes")
    procs: list[ServerProcess] = []
    try:
        for i in range(2):
            env = engines.env(READALONG_REGISTER_RATE="100000",
                              READALONG_NODE_ID=f"held{i}-{id(procs)}")
            procs.append(ServerProcess(env, log_dir=logs,
                                       app="tests.held_app:create_app").start())
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@pytest_asyncio.fixture
async def redis(engines: Engines) -> AsyncIterator[Redis]:
    client = Redis.from_url(engines.redis_url)
    yield client
    await client.aclose()


async def _held_subscribe(redis: Redis, ws: WS, point: str, room: str,
                          user_id: int) -> asyncio.Task[dict[str, Any]]:
    """Send a subscribe that stops at `point` (tests/held_app.py); return once it has."""
    await redis.set(hold_key(point, room, user_id), 1)
    task = asyncio.create_task(ws.subscribe(room))
    got = await redis.blpop([held_key(point, room, user_id)], timeout=20)  # type: ignore[misc]
    assert got is not None, "the subscribe never reached the hold"
    return task


async def _release(redis: Redis, point: str, room: str, user_id: int,
                   task: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
    await redis.rpush(go_key(point, room, user_id), 1)  # type: ignore[misc]
    return await asyncio.wait_for(task, 20)


async def _left_out(ws: WS, room: str, member: WS, user_id: int, present: set[int]) -> None:
    """`ws` (of `user_id`) got nothing of `room` (past a ping: everything sent before it is
    in), and a member subscribing (on another node) sees `present` there but not them."""
    assert (await ws.command({"type": "ping"}))["type"] == "ack"
    assert [f for f in ws.frames if f.get("room") == room] == []
    async with member:
        ack = await member.subscribe(room)
        assert ack["type"] == "ack", ack
        ids = {m["user_id"] for m in ack["result"]["presence"]}
        assert user_id not in ids and present <= ids, ids


async def _club(http: httpx.AsyncClient, engines: Engines, unique: str, slug: str,
                visibility: str, prefixes: tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    """Users (the first owns it) and a club reading a book of its own."""
    people = [await register(http, unique, prefix=p) for p in prefixes]
    book = await make_book(engines.database_url, f"Race {slug}")
    return people, await make_club(http, people[0], slug, book_id=book, visibility=visibility)


async def _refused_between_two_posts(post: Callable[[str], Awaitable[int]], there: WS,
                                     release: Callable[[], Awaitable[dict[str, Any]]],
                                     code: str) -> None:
    """A post while the held subscribe waits, then the subscribe let go (refused: `code`),
    then another post; the member still `there` gets both."""
    for body in ("while it waits", "after"):
        await there.wait(_chat(await post(body)))
        if body != "after":
            back = await release()
            assert back["type"] == "error" and back["code"] == code, back


@pytest.mark.parametrize(("visibility", "point", "code"), [
    ("private", "checked", "members_only"), ("secret", "checked", "club_not_found"),
    ("private", "joining", "members_only")])
async def test_a_subscribe_in_flight_when_the_club_goes_private_is_refused(
        held_nodes: list[ServerProcess], engines: Engines, redis: Redis, unique: str,
        visibility: str, point: str, code: str) -> None:
    """A reader (not a member) subscribes on node B to a public club's room; their access
    check passes and the subscribe stops (before it is in the node's table, or before its
    presence join); the owner makes the club private (or secret) over REST on node A, whose
    eviction finds nobody to evict, and chats (a member on node B gets it); the subscribe then
    goes on: it is refused (the check's error), neither that chat nor a later one reaches the
    reader, and the reader is not in the room's presence."""
    a_node, b_node = held_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        (owner, reader, member), club = await _club(
            http, engines, unique, f"rp-{visibility[0]}{point[0]}{unique}", "public",
            ("ow", "rd", "me"))
        cid, room = club["id"], club["room"]
        assert (await join(http, cid, member)).status_code == 200
        async with WS(b_node.ws_url, reader.access_token) as r, \
                WS(b_node.ws_url, member.access_token) as m, \
                WS(a_node.ws_url, owner.access_token) as o:
            for ws in (m, o):
                assert (await ws.subscribe(room))["type"] == "ack"
            task = await _held_subscribe(redis, r, point, room, reader.id)
            res = await http.patch(f"/api/v1/clubs/{cid}", json={"visibility": visibility},
                                   headers=owner.headers)
            assert res.status_code == 200, res.text

            async def chat(body: str) -> int:
                sent = await o.publish(room, {"type": "chat", "body": body})
                assert sent["type"] == "ack", sent
                return int(sent["result"]["message_id"])

            await _refused_between_two_posts(
                chat, m, lambda: _release(redis, point, room, reader.id, task), code)
            await _left_out(r, room, WS(a_node.ws_url, member.access_token), reader.id,
                            {owner.id, member.id})


@pytest.mark.parametrize(("point", "code"), [("checked", "club_not_found"),
                                             ("joining", "evicted")])
async def test_a_member_banned_mid_subscribe_to_a_thread_gets_nothing_more(
        held_nodes: list[ServerProcess], engines: Engines, redis: Redis, unique: str,
        point: str, code: str) -> None:
    """A member of a private club subscribes on node B to a section thread; their check
    passes and the subscribe stops (before the node's table, or in it but before presence);
    an organiser bans them over REST on node A and posts in the thread (a member still there
    gets it); the subscribe goes on and is refused (`club_not_found`: the check made again;
    `evicted`: the ban's eviction closed it while it was pending), neither that post nor a
    later one reaches them, and they are not in the thread's presence."""
    a_node, b_node = held_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        (owner, gone, stays), club = await _club(http, engines, unique, f"rb-{point[0]}{unique}",
                                                 "private", ("ow", "go", "st"))
        cid = club["id"]
        for u in (gone, stays):
            assert (await join(http, cid, u)).status_code == 200
        thread = (await _two_sections(http, cid, owner))[0]
        posts = f"/api/v1/clubs/{cid}/sections/{thread.partition(':')[2]}/posts"
        async with WS(b_node.ws_url, gone.access_token) as g, \
                WS(b_node.ws_url, stays.access_token) as s:
            assert (await s.subscribe(thread))["type"] == "ack"
            task = await _held_subscribe(redis, g, point, thread, gone.id)
            r = await http.post(f"/api/v1/clubs/{cid}/bans", json={"user_id": gone.id},
                                headers=owner.headers)
            assert r.status_code == 200, r.text

            async def post(body: str) -> int:
                # (it reaches node B after the ban's eviction: both on the room's channel)
                sent = await http.post(posts, json={"body": body}, headers=owner.headers)
                assert sent.status_code == 201, sent.text
                return int(sent.json()["id"])

            await _refused_between_two_posts(
                post, s, lambda: _release(redis, point, thread, gone.id, task), code)
            await _left_out(g, thread, WS(a_node.ws_url, owner.access_token), gone.id,
                            {owner.id, stays.id})
