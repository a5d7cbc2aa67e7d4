"""Club chat on `club:<id>` across two server processes sharing Redis: the progress gate from
each member's one reading state, unlocks on moving, recovery on the other node, members only,
mutes, blocks and bans (live and REST)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, read_to
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, make_book


def _chat(mid: int) -> object:
    return lambda f: f.get("event") == "chat" and f["data"]["id"] == mid


async def test_gate_unlock_and_recovery_across_nodes(two_nodes: list[ServerProcess],
                                                     engines: Engines, unique: str) -> None:
    """Members on both nodes see each other online and typing; a message by a member at 0.5
    reaches a member behind (node A) redacted and one ahead (node B) in full; moving past it
    pushes the full text; REST gates the same way; a member who reconnects to the other node
    with `since` gets exactly what they missed."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, author, behind, ahead, late = [await register(http, unique, prefix=p)
                                              for p in ("ow", "au", "be", "ah", "la")]
        book = await make_book(engines.database_url, f"ClubChat {unique}")
        club = await make_club(http, owner, f"chat-{unique}", book_id=book,
                               visibility="private")
        room = club["room"]
        for u in (author, behind, ahead, late):
            assert (await join(http, club["id"], u)).status_code == 200
        await read_to(http, author, book, 0.5)
        await read_to(http, behind, book, 0.1)
        await read_to(http, ahead, book, 0.9)
        async with WS(a_node.ws_url, behind.access_token) as lo, \
                WS(b_node.ws_url, ahead.access_token) as hi, \
                WS(b_node.ws_url, author.access_token) as au:
            acks = [await ws.subscribe(room) for ws in (lo, hi, au)]
            assert all(a["type"] == "ack" for a in acks)
            # presence across both nodes: the last subscriber sees all three members online
            assert {m["user_id"] for m in acks[-1]["result"]["presence"]} == {
                behind.id, ahead.id, author.id}
            typing = await au.publish(room, {"type": "typing", "typing": True})
            assert typing["type"] == "ack", typing
            seen = await lo.wait(lambda f: f.get("event") == "typing")
            assert seen["data"]["user_id"] == author.id
            ack = await au.publish(room, {"type": "chat", "body": "the butler SECRET"})
            assert ack["type"] == "ack" and ack["result"]["gate"] == 0.5, ack
            mid = ack["result"]["message_id"]
            assert (await lo.wait(_chat(mid)))["data"]["body"] is None
            assert (await hi.wait(_chat(mid)))["data"]["body"] == "the butler SECRET"
            moved = await lo.move(room, 0.55)
            assert moved["type"] == "ack", moved
            unlocked = await lo.wait(lambda f: f.get("event") == "chat"
                                     and f["data"].get("unlocked"))
            assert unlocked["data"]["body"] == "the butler SECRET"
            # the move went to the reader's one reading state
            state = (await http.get(f"/api/v1/me/books/{book}", headers=behind.headers)).json()
            assert state["furthest"] == 0.55
            last = await hi.wait(_chat(mid))
            await hi.close()
            more = [(await au.publish(room, {"type": "chat", "body": f"m{i}"}))["result"]
                    ["message_id"] for i in range(2)]
        async with WS(a_node.ws_url, ahead.access_token) as back:
            res = await back.subscribe(room, since={"epoch": last["epoch"],
                                                    "offset": last["offset"]})
            assert res["result"]["recovered"] is True, res
            for m in more:
                await back.wait(_chat(m))
            assert json.dumps(back.frames).count("the butler SECRET") == 0
        page = (await http.get(f"/api/v1/clubs/{club['id']}/messages",
                               headers=late.headers)).json()
        assert [(m["body"], m["redacted"]) for m in page["items"]] == [(None, True)] * 3
        full = (await http.get(f"/api/v1/clubs/{club['id']}/messages",
                               headers=ahead.headers)).json()
        assert [m["body"] for m in full["items"]] == ["the butler SECRET", "m0", "m1"]


async def test_members_only_mute_block_ban(two_nodes: list[ServerProcess], engines: Engines,
                                           unique: str) -> None:
    """An outsider cannot subscribe to a private club's room nor read its chat; a muted member
    cannot chat; a member who blocked the author never gets their message (live or REST); a
    ban over REST on node A drops the member's socket on node B."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, m, blocker, outsider = [await register(http, unique, prefix=p)
                                       for p in ("ow", "mm", "bl", "ou")]
        club = await make_club(http, owner, f"mod-{unique}", visibility="private")
        room, cid = club["room"], club["id"]
        for u in (m, blocker):
            await join(http, cid, u)
        await http.post(f"/api/v1/users/{m.handle}/block", headers=blocker.headers)
        async with WS(b_node.ws_url, outsider.access_token) as o:
            refused = await o.subscribe(room)
            assert refused["type"] == "error" and refused["code"] == "members_only"
        r = await http.get(f"/api/v1/clubs/{cid}/messages", headers=outsider.headers)
        assert r.status_code == 403
        async with WS(b_node.ws_url, m.access_token) as mw, \
                WS(a_node.ws_url, blocker.access_token) as bw, \
                WS(a_node.ws_url, owner.access_token) as ow:
            for ws in (mw, bw, ow):
                assert (await ws.subscribe(room))["type"] == "ack"
            sent = (await mw.publish(room, {"type": "chat", "body": "hello BLOCKED"}))
            mid = sent["result"]["message_id"]
            await ow.wait(_chat(mid))
            marker = (await ow.publish(room, {"type": "chat", "body": "after"}))["result"]
            await bw.wait(_chat(marker["message_id"]))
            assert "hello BLOCKED" not in json.dumps(bw.frames)
            r = await http.put(f"/api/v1/clubs/{cid}/members/{m.id}/mute", json={"muted": True},
                               headers=owner.headers)
            assert r.status_code == 200
            muted = await mw.publish(room, {"type": "chat", "body": "still here?"})
            assert muted["type"] == "error" and muted["code"] == "muted"
            r = await http.post(f"/api/v1/clubs/{cid}/bans", json={"user_id": m.id},
                                headers=owner.headers)
            assert r.status_code == 200
            await mw.wait(lambda f: f.get("event") == "banned")
            again = await mw.subscribe(room)
            assert again["type"] == "error"
        page = (await http.get(f"/api/v1/clubs/{cid}/messages", headers=blocker.headers)).json()
        assert all(i["author_id"] != m.id for i in page["items"])


async def test_history_opens_at_the_newest_page(two_nodes: list[ServerProcess],
                                                unique: str) -> None:
    """A member opening a long chat gets its newest messages first (`before=latest`), then the
    earlier ones page by page to the very first; a bad `before` is a problem (422, like a bad
    `cursor`), not a 500,
    and the OpenAPI document describes the parameter."""
    async with httpx.AsyncClient(base_url=two_nodes[0].base_url, timeout=15) as http:
        owner = await register(http, unique, prefix="nw")
        club = await make_club(http, owner, f"newest-{unique}", visibility="private")
        url = f"/api/v1/clubs/{club['id']}/messages"
        for i in range(5):
            r = await http.post(url, json={"body": f"m{i}"}, headers=owner.headers)
            assert r.status_code == 201, r.text
        page = (await http.get(url, params={"before": "latest", "limit": 2},
                               headers=owner.headers)).json()
        assert [m["body"] for m in page["items"]] == ["m4", "m3"]
        seen = [m["body"] for m in page["items"]]
        while page["next_cursor"]:
            page = (await http.get(url, params={"before": page["next_cursor"], "limit": 2},
                                   headers=owner.headers)).json()
            seen += [m["body"] for m in page["items"]]
        assert seen == ["m4", "m3", "m2", "m1", "m0"]
        for bad in ({"before": "yesterday"}, {"before": ""}, {"before": "-3"},
                    {"before": "latest", "cursor": "2"}):
            r = await http.get(url, params=bad, headers=owner.headers)
            assert r.status_code == 422, (bad, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
            assert r.json()["code"] == "invalid_cursor"
        spec = (await http.get("/docs/openapi.json")).json()
        params = {p["name"]: p for p in spec["paths"]["/api/v1/clubs/{club_id}/messages"]
                  ["get"]["parameters"]}
        assert "latest" in params["before"]["description"]


async def _two_sections(http: httpx.AsyncClient, cid: int, owner: Any) -> list[str]:
    """The club's schedule: two sections (open tomorrow; organisers post before): their
    thread rooms."""
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "One", "start": 0.0, "end": 0.3, "opens_at": at},
                     {"title": "Two", "start": 0.3, "end": 0.6, "opens_at": at}]})
    assert r.status_code in (200, 201), r.text
    return [str(s["room"]) for s in r.json()["items"]]


@pytest.mark.parametrize(("visibility", "how", "again"), [
    ("private", "ban", "club_not_found"), ("private", "leave", "members_only"),
    ("public", "leave", None)])
async def test_a_departed_member_leaves_every_thread_room(
        two_nodes: list[ServerProcess], engines: Engines, unique: str, visibility: str,
        how: str, again: str | None) -> None:
    """A member with a socket on node B in both section threads of a club (not in its chat
    room) is banned, or leaves, over REST on node A: that socket gets `banned` / `left` in
    each thread room (what the club room sends), then no later thread post, presence or
    reaction of that thread, while a member still there gets them. Subscribing again is
    refused in a private club (`members_only` after leaving, `club_not_found` once banned);
    a public club's thread stays readable to whoever may see the club (README "Clubs")."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, gone, stays = [await register(http, unique, prefix=p)
                              for p in ("ow", "go", "st")]
        book = await make_book(engines.database_url, f"ThreadEvict {unique}")
        club = await make_club(http, owner, f"tev-{how[0]}{visibility[1]}{unique}",
                               book_id=book, visibility=visibility)
        cid = club["id"]
        for u in (gone, stays):
            assert (await join(http, cid, u)).status_code == 200
        rooms = await _two_sections(http, cid, owner)
        posts = f"/api/v1/clubs/{cid}/sections/{rooms[0].partition(':')[2]}/posts"
        async with WS(b_node.ws_url, gone.access_token) as g, \
                WS(b_node.ws_url, stays.access_token) as s:
            for ws in (g, s):
                for room in rooms:
                    assert (await ws.subscribe(room))["type"] == "ack"
            if how == "ban":
                r = await http.post(f"/api/v1/clubs/{cid}/bans", json={"user_id": gone.id},
                                    headers=owner.headers)
            else:
                r = await http.post(f"/api/v1/clubs/{cid}/leave", headers=gone.headers)
            assert r.status_code == 200, r.text
            event = "banned" if how == "ban" else "left"
            for room in rooms:
                got = await g.wait(lambda f, room=room: f.get("room") == room
                                   and f.get("event") == event)
                assert got["data"] == {"user_id": gone.id, "club_id": cid}
            seen = len(g.frames)
            r = await http.post(posts, json={"body": "after you went"}, headers=owner.headers)
            assert r.status_code == 201, r.text
            mid = r.json()["id"]
            await s.wait(_chat(mid))
            r = await http.post(f"{posts}/{mid}/reactions", json={"emoji": "👍"},
                                headers=owner.headers)
            assert r.status_code in (200, 201), r.text
            await s.wait(lambda f: f.get("event") == "reaction")
            async with WS(a_node.ws_url, owner.access_token) as o:  # presence, across nodes
                assert (await o.subscribe(rooms[0]))["type"] == "ack"
                await s.wait(lambda f: f["type"] == "presence" and f["room"] == rooms[0]
                             and owner.id in [m["user_id"] for m in f.get("joined", [])])
            assert [f for f in g.frames[seen:] if f.get("room") in rooms] == []
            for room in rooms:
                back = await g.subscribe(room)
                if again is None:
                    assert back["type"] == "ack", back
                else:
                    assert back["type"] == "error" and back["code"] == again, back


@pytest.mark.parametrize(("visibility", "again"), [("private", "members_only"),
                                                   ("secret", "club_not_found")])
async def test_a_club_made_private_evicts_its_non_member_readers(
        two_nodes: list[ServerProcess], engines: Engines, unique: str, visibility: str,
        again: str) -> None:
    """A reader (not a member) with a socket on node B in a public club's room and a section
    thread's room: the owner makes the club private (or secret) over REST on node A; that
    socket gets `evicted` in both rooms, then no later post there, while a member on node B
    keeps getting them; subscribing again is refused (`members_only`, `club_not_found`).
    Making it public again evicts nobody (README "Clubs")."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as http:
        owner, reader, member = [await register(http, unique, prefix=p)
                                 for p in ("ow", "rd", "me")]
        book = await make_book(engines.database_url, f"MadePrivate {unique}")
        club = await make_club(http, owner, f"mpv-{visibility[0]}{unique}", book_id=book,
                               visibility="public")
        cid = club["id"]
        assert (await join(http, cid, member)).status_code == 200
        thread = (await _two_sections(http, cid, owner))[0]
        rooms = [club["room"], thread]
        posts = f"/api/v1/clubs/{cid}/sections/{thread.partition(':')[2]}/posts"
        async with WS(b_node.ws_url, reader.access_token) as r, \
                WS(b_node.ws_url, member.access_token) as m, \
                WS(a_node.ws_url, owner.access_token) as o:
            for ws in (r, m, o):
                for room in rooms:
                    assert (await ws.subscribe(room))["type"] == "ack"
            res = await http.patch(f"/api/v1/clubs/{cid}", json={"visibility": visibility},
                                   headers=owner.headers)
            assert res.status_code == 200, res.text
            for room in rooms:
                got = await r.wait(lambda f, room=room: f.get("room") == room
                                   and f.get("event") == "evicted")
                assert got["data"] == {"user_id": reader.id, "club_id": cid,
                                       "reason": "club_private"}
            seen = len(r.frames)
            chat = await o.publish(rooms[0], {"type": "chat", "body": "members now"})
            assert chat["type"] == "ack", chat
            await m.wait(_chat(chat["result"]["message_id"]))
            res = await http.post(posts, json={"body": "thread, members now"},
                                  headers=owner.headers)
            assert res.status_code == 201, res.text
            await m.wait(_chat(res.json()["id"]))
            assert [f for f in r.frames[seen:] if f.get("room") in rooms] == []
            assert not [f for f in m.frames if f.get("event") == "evicted"]
            for room in rooms:
                back = await r.subscribe(room)
                assert back["type"] == "error" and back["code"] == again, back
            # public again: nobody is evicted, the reader may come back
            res = await http.patch(f"/api/v1/clubs/{cid}", json={"visibility": "public"},
                                   headers=owner.headers)
            assert res.status_code == 200, res.text
            for room in rooms:
                assert (await r.subscribe(room))["type"] == "ack"
            chat = await o.publish(rooms[0], {"type": "chat", "body": "open again"})
            assert chat["type"] == "ack", chat
            for ws in (r, m):
                await ws.wait(_chat(chat["result"]["message_id"]))
            assert not [f for f in r.frames[seen:] if f.get("event") == "evicted"]
            assert not [f for f in m.frames if f.get("event") == "evicted"]
