"""The shield table for clubs (the row model of tests/test_shield_table.py): club chat and
section-thread posts x every path x every kind of viewer.

One world for the module against the shared `server`: a private club reading a five-chapter
book, with a section "Part two" covering 0.2-0.4 that the worker opens on schedule (a burst
worker run with a controlled clock). The author A has read to 0.3 and posts once in club chat
(gated at 0.3) and once in the section's thread (gated at the section's end, 0.4, which is
higher); both mention every viewer. Viewers: behind (0.1, before the section starts), middle
(0.3, inside it), at (0.4, its end), ahead (0.9), blocked (0.95, blocked A), the owner (a
moderator, 0.0: the shield is about reading, not rank) and an outsider who is not a member.
Every member keeps live sockets on the club room and the thread room from before the section
opened; afterwards each reconnects and replays from that point.

Paths: live, replay, rest (the place's listing), notification (the stored mention, whose
text and payload are what email and web push render), section (the schedule listing: a member
behind a section's start sees it locked with its counts and where it unlocks).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from arq.connections import create_pool

from jobs.worker import redis_settings
from tests.accounts_helpers import UserSession, register
from tests.clubs_helpers import join, make_club, read_to
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, make_book
from tests.worker_helpers import run_worker, worker_settings

SECRETS = {"chat": "SECRET-CLUBCHAT lighthouse", "post": "SECRET-THREAD keeper"}
PROGRESS = {"author": 0.3, "behind": 0.1, "middle": 0.3, "at": 0.4, "ahead": 0.9,
            "blocked": 0.95, "owner": 0.0}
VIEWERS = ("author", "behind", "middle", "at", "ahead", "blocked", "owner", "outsider")


class World:
    def __init__(self) -> None:
        self.users: dict[str, UserSession] = {}
        self.ids: dict[str, int] = {}
        self.live: dict[str, list[dict[str, Any]]] = {}
        self.replay: dict[str, list[dict[str, Any]]] = {}
        self.rest: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.sections: dict[str, Any] = {}
        self.before_open: Any = None
        self.opened: int = 0


async def _build(http: httpx.AsyncClient, engines: Engines, server: ServerProcess) -> World:
    w = World()
    u = uuid.uuid4().hex[:6]
    for name in VIEWERS:
        w.users[name] = await register(http, u, prefix=name[:5], display_name=name)
    users, a = w.users, w.users["author"]
    book = await make_book(engines.database_url, f"ClubTable {u}")
    club = await make_club(http, users["owner"], f"tbl-{u}", book_id=book,
                           visibility="private")
    cid, room = club["id"], club["room"]
    for name in VIEWERS[:-2]:
        assert (await join(http, cid, users[name])).status_code == 200
    for name, p in PROGRESS.items():
        if p:
            await read_to(http, users[name], book, p)
    assert (await http.post(f"/api/v1/users/{a.handle}/block",
                            headers=users["blocked"].headers)).status_code == 204
    opens = datetime.now(UTC) + timedelta(days=3)
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=users["owner"].headers, json={
        "sections": [{"title": "Part one", "start": 0.0, "end": 0.2,
                      "opens_at": (opens - timedelta(days=7)).isoformat()},
                     {"title": "Part two", "start": 0.2, "end": 0.4,
                      "opens_at": opens.isoformat()}]})
    assert r.status_code == 201, r.text
    sid = w.ids["section"] = r.json()["items"][1]["id"]
    thread = f"club_thread:{sid}"
    w.before_open = await http.post(f"/api/v1/clubs/{cid}/sections/{sid}/posts",
                                    json={"body": "too early"}, headers=a.headers)
    mentions = " ".join(f"@{users[n].handle}" for n in VIEWERS if n != "author")
    socks: dict[str, WS] = {}
    since: dict[str, dict[str, dict[str, Any]]] = {}
    members = [n for n in VIEWERS if n != "outsider"]
    try:
        for name in members:
            ws = socks[name] = await WS(server.ws_url, users[name].access_token).__aenter__()
            since[name] = {}
            for rm in (room, thread):
                ack = await ws.subscribe(rm)
                assert ack["type"] == "ack", ack
                since[name][rm] = {"epoch": ack["result"]["epoch"],
                                   "offset": ack["result"]["offset"]}
        pool = await create_pool(redis_settings(engines.redis_url))
        try:
            await pool.enqueue_job("open_due_sections", (opens + timedelta(minutes=1)).isoformat())
        finally:
            await pool.aclose()
        await run_worker(worker_settings(engines))
        for name in members:
            got = await socks[name].wait(lambda f: f.get("event") == "section_opened"
                                         and f["data"]["section_id"] == sid)
            assert got["data"]["title"] == "Part two"
        chat = await socks["author"].publish(room, {"type": "chat",
                                                    "body": f"{SECRETS['chat']} {mentions}"})
        w.ids["chat"] = chat["result"]["message_id"]
        post = await socks["author"].publish(thread, {"type": "chat",
                                                      "body": f"{SECRETS['post']} {mentions}"})
        assert post["type"] == "ack", post
        w.ids["post"] = post["result"]["message_id"]
        assert post["result"]["gate"] == 0.4
        for rm in (room, thread):
            bar = (await socks["owner"].publish(rm, {"type": "chat", "body": "barrier"}))
            bid = w.ids[f"barrier:{rm}"] = bar["result"]["message_id"]
            for name in members:
                await socks[name].wait(lambda f, rm=rm, bid=bid: f.get("room") == rm
                                       and f.get("event") == "chat" and f["data"]["id"] == bid)
        for name in members:
            w.live[name] = list(socks[name].frames)
    finally:
        for ws in socks.values():
            await ws.close()
    for name in members:
        async with WS(server.ws_url, users[name].access_token) as ws:
            for rm in (room, thread):
                ack = await ws.subscribe(rm, since=since[name][rm])
                assert ack["result"]["recovered"] is True, ack
            bid = w.ids[f"barrier:{thread}"]
            await ws.wait(lambda f, bid=bid: f.get("event") == "chat" and f["data"]["id"] == bid
                          and f.get("room") == thread)
            w.replay[name] = list(ws.frames)
    for name in VIEWERS:
        h = users[name].headers
        w.rest[name] = {
            "chat": await http.get(f"/api/v1/clubs/{cid}/messages", headers=h),
            "post": await http.get(f"/api/v1/clubs/{cid}/sections/{sid}/posts", headers=h)}
        w.sections[name] = await http.get(f"/api/v1/clubs/{cid}/sections/{sid}", headers=h)
        w.notes[name] = (await http.get("/api/v1/notifications", headers=h)).json()["items"]
    return w


@pytest_asyncio.fixture(scope="module")
async def world(engines: Engines, server: ServerProcess) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
        yield await _build(http, engines, server)


def _variant(item: dict[str, Any] | None) -> str:
    if item is None:
        return "none"
    if item.get("redacted"):
        assert item.get("body") is None, item
        return "redacted"
    return "full"


def observe(w: World, kind: str, path: str, viewer: str) -> Any:
    iid, secret = w.ids[kind], SECRETS[kind]
    if path in ("live", "replay"):
        frames = (w.live if path == "live" else w.replay)[viewer]
        room_kind = "club:" if kind == "chat" else "club_thread:"
        got = [f["data"] for f in frames if f.get("type") == "event" and f.get("event") == "chat"
               and str(f.get("room", "")).startswith(room_kind) and f["data"]["id"] == iid]
        variant = _variant(got[-1] if got else None)
        if variant != "full":
            assert secret not in json.dumps(frames), (kind, viewer)
        return variant
    if path == "rest":
        resp = w.rest[viewer][kind]
        if resp.status_code != 200:
            assert secret not in resp.text
            return resp.status_code
        page = resp.json()
        item = next((i for i in page["items"] if i["id"] == iid), None)
        variant = _variant(item)
        if variant != "full":
            assert secret not in resp.text
        return variant
    if path == "notification":
        notes = [n for n in w.notes[viewer] if n["type"] == "mention"
                 and n["payload"].get("message_id") == iid]
        if not notes:
            return "none"
        return "full" if secret in json.dumps(notes) else "redacted"
    if path == "section":
        resp = w.sections[viewer]
        if resp.status_code != 200:
            return resp.status_code
        s = resp.json()
        assert s["open"] is True and s["post_count"] >= 1 and s["unlocks_at"] == 0.2
        return "locked" if s["locked"] else "unlocked"
    raise AssertionError(path)


def _grid(kind: str, paths: tuple[str, ...], expect: dict[str, Any]) -> list[Any]:
    return [pytest.param(kind, path, viewer, value, id=f"{kind}-{path}-{viewer}")
            for path in paths for viewer, value in expect.items()
            if not (viewer == "outsider" and path in ("live", "replay"))]


ALL = ("live", "replay", "rest")
ROWS = [
    # club chat by A at 0.3: gated at 0.3; the blocked reader never gets it; the outsider of a
    # private club may not read it (403) nor is mentioned (not a reader of the place)
    *_grid("chat", ALL, {"author": "full", "behind": "redacted", "middle": "full",
                         "at": "full", "ahead": "full", "blocked": "none",
                         "owner": "redacted", "outsider": 403}),
    *_grid("chat", ("notification",), {"behind": "redacted", "middle": "full", "at": "full",
                                       "ahead": "full", "blocked": "none", "owner": "redacted",
                                       "outsider": "none"}),
    # a thread post by A at 0.3 in a section ending at 0.4: gated at 0.4 (the higher)
    *_grid("post", ALL, {"author": "full", "behind": "redacted", "middle": "redacted",
                         "at": "full", "ahead": "full", "blocked": "none",
                         "owner": "redacted", "outsider": 403}),
    *_grid("post", ("notification",), {"behind": "redacted", "middle": "redacted",
                                       "at": "full", "ahead": "full", "blocked": "none",
                                       "owner": "redacted", "outsider": "none"}),
    # the schedule: behind the section's start (0.2) it is locked (counts, where it unlocks)
    *_grid("post", ("section",), {"behind": "locked", "middle": "unlocked", "at": "unlocked",
                                  "ahead": "unlocked", "owner": "unlocked", "outsider": 403}),
]


@pytest.mark.parametrize(("kind", "path", "viewer", "expected"), ROWS)
async def test_club_shield_table(world: World, kind: str, path: str, viewer: str,
                                 expected: Any) -> None:
    """One (item, path, viewer) of the club table gets exactly the expected variant."""
    assert observe(world, kind, path, viewer) == expected


async def test_thread_closed_until_its_section_opens(world: World) -> None:
    """Before its opening time a member's post in a section thread is refused with a clear
    code; the worker opened exactly the due section once."""
    assert world.before_open.status_code == 403
    assert world.before_open.json()["code"] == "section_not_open"
