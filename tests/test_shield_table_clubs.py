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

Then, in the thread: "ahead" (0.9) replies to A's post marking the reply spoiler-free (it is
lowered to the section's start, 0.2, but a reply is never gated below the post it answers:
0.4), and "at" (0.4) reacts to A's post over REST (gated at max(the post's 0.4, 0.4)). In
club chat "ahead" writes a message (gated at 0.9) that "at" reports, the owner hides and then
restores with a note: it comes back under its own gate.

Paths: live, replay, rest (the place's listing), notification (the stored mention, or the
reply notice to the post's author, whose text and payload are what email and web push
render), feed (every reader follows A and "ahead": club content never reaches a feed),
section (the schedule listing: a member behind a section's start sees it locked with its
counts and where it unlocks).
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

SECRETS = {"chat": "SECRET-CLUBCHAT lighthouse", "post": "SECRET-THREAD keeper",
           "reply": "SECRET-REPLY lantern", "reaction": "🔥",
           "restored": "SECRET-RESTORED beacon"}
#: where each kind lives: (room prefix, live event name, REST listing)
WHERE = {"chat": ("club:", "chat", "chat"), "restored": ("club:", "chat", "chat"),
         "post": ("club_thread:", "chat", "post"), "reply": ("club_thread:", "chat", "post"),
         "reaction": ("club_thread:", "reaction", "reactions")}
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
    for name in VIEWERS:
        for followed in ("author", "ahead"):
            if name not in (followed, "blocked"):
                await http.post(f"/api/v1/users/{users[followed].handle}/follow",
                                headers=users[name].headers)
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
        await _more(http, w, cid, sid, socks, room)
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
            "post": await http.get(f"/api/v1/clubs/{cid}/sections/{sid}/posts", headers=h),
            "reactions": await http.get(f"/api/v1/clubs/{cid}/sections/{sid}/reactions",
                                        headers=h),
            "feed": await http.get("/api/v1/feed", headers=h)}
        w.sections[name] = await http.get(f"/api/v1/clubs/{cid}/sections/{sid}", headers=h)
        w.notes[name] = (await http.get("/api/v1/notifications", headers=h)).json()["items"]
    return w


async def _more(http: httpx.AsyncClient, w: World, cid: int, sid: int, socks: dict[str, WS],
                room: str) -> None:
    """The reply, the reaction and the hidden-then-restored chat message (see the module)."""
    users = w.users
    r = await http.post(f"/api/v1/clubs/{cid}/sections/{sid}/posts", headers=users["ahead"].headers,
                        json={"body": SECRETS["reply"], "parent_id": w.ids["post"],
                              "spoiler_free": True})
    assert r.status_code == 201, r.text
    assert r.json()["gate"] == 0.4 and r.json()["parent_id"] == w.ids["post"]
    w.ids["reply"] = r.json()["id"]
    r = await http.post(f"/api/v1/clubs/{cid}/sections/{sid}/posts/{w.ids['post']}/reactions",
                        headers=users["at"].headers, json={"emoji": SECRETS["reaction"]})
    assert r.status_code == 201, r.text
    w.ids["reaction"] = r.json()["id"]
    sent = await socks["ahead"].publish(room, {"type": "chat", "body": SECRETS["restored"]})
    w.ids["restored"] = sent["result"]["message_id"]
    rep = await http.post(f"/api/v1/clubs/{cid}/reports", headers=users["at"].headers,
                          json={"message_id": w.ids["restored"], "reason": "spoiler?"})
    assert rep.status_code == 201, rep.text
    owner = users["owner"].headers
    url = f"/api/v1/clubs/{cid}/reports/{rep.json()['id']}/resolve"
    assert (await http.post(url, headers=owner, json={"action": "hide"})).status_code == 200
    queue = (await http.get(f"/api/v1/clubs/{cid}/reports", params={"status": "hidden"},
                            headers=owner)).json()
    assert [q["message_id"] for q in queue] == [w.ids["restored"]]
    back = await http.post(url, headers=owner, json={"action": "restore",
                                                      "note": "not a spoiler after all"})
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "restored" and back.json()["note"] == "not a spoiler after all"


@pytest_asyncio.fixture(scope="module")
async def world(engines: Engines, server: ServerProcess) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
        yield await _build(http, engines, server)


def _variant(item: dict[str, Any] | None) -> str:
    if item is None:
        return "none"
    if item.get("redacted"):
        assert item.get("body") is None and item.get("emoji") is None, item
        return "redacted"
    return "full"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def observe(w: World, kind: str, path: str, viewer: str) -> Any:
    iid, secret = w.ids[kind], SECRETS[kind]
    prefix, event, listing = WHERE[kind]
    if path in ("live", "replay"):
        frames = (w.live if path == "live" else w.replay)[viewer]
        got = [f["data"] for f in frames if f.get("type") == "event" and f.get("event") == event
               and str(f.get("room", "")).startswith(prefix) and f["data"]["id"] == iid]
        variant = _variant(got[-1] if got else None)
        if variant != "full":
            assert secret not in _dump(frames), (kind, viewer)
        return variant
    if path == "rest":
        resp = w.rest[viewer][listing]
        if resp.status_code != 200:
            assert secret not in resp.text
            return resp.status_code
        page = resp.json()
        item = next((i for i in page["items"] if i["id"] == iid), None)
        variant = _variant(item)
        if variant != "full":
            assert secret not in resp.text
        return variant
    if path == "feed":
        resp = w.rest[viewer]["feed"]
        assert resp.status_code == 200, resp.text
        return "leak" if secret in resp.text or f'"message_id": {iid}' in resp.text else "none"
    if path == "notification":
        ntype = "message_reply" if kind == "reply" else "mention"
        notes = [n for n in w.notes[viewer] if n["type"] == ntype
                 and n["payload"].get("message_id") == iid]
        if not notes:
            return "none"
        return "full" if secret in _dump(notes) else "redacted"
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
    # a spoiler-free reply by "ahead" to that post: lowered to 0.2, but never below its
    # parent's 0.4; its notice to the post's author (at 0.3) says who and where, no text
    *_grid("reply", ALL, {"author": "redacted", "behind": "redacted", "middle": "redacted",
                          "at": "full", "ahead": "full", "blocked": "full",
                          "owner": "redacted", "outsider": 403}),
    *_grid("reply", ("notification",), {"author": "redacted", "behind": "none",
                                        "middle": "none", "ahead": "none", "owner": "none"}),
    # a reaction by "at" on A's post: gated at 0.4 (no emoji, no count below it)
    *_grid("reaction", ALL, {"author": "redacted", "behind": "redacted", "middle": "redacted",
                             "at": "full", "ahead": "full", "blocked": "full",
                             "owner": "redacted", "outsider": 403}),
    # a chat message by "ahead" (0.9), hidden by the owner and restored with a note: back
    # for everyone under its own gate, live, in replay and in REST
    *_grid("restored", ALL, {"author": "redacted", "behind": "redacted", "middle": "redacted",
                             "at": "redacted", "ahead": "full", "blocked": "full",
                             "owner": "redacted", "outsider": 403}),
    # nothing written in a club reaches a feed (the club's audience bounds it)
    *[row for kind in ("chat", "post", "reply", "restored")
      for row in _grid(kind, ("feed",), dict.fromkeys(VIEWERS, "none"))],
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
