"""Co-reading rooms with real WebSocket clients: follow mode, presence positions, kicks,
deletions, blocks and mutes, typing, and bad input over the socket."""

from __future__ import annotations

import httpx

from tests.conftest import Engines
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users


def _ev(name: str):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "event" and f["event"] == name


async def test_follow_mode_moves_arrive_in_order(http: httpx.AsyncClient, engines: Engines,
                                                 server: ServerProcess, unique: str) -> None:
    """In follow mode every reader receives the host's moves as `follow` events, in order,
    with the TOC chapter; presence shows positions."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Follow {unique}", pages=300)
    s = await live_session(http, host, book, mode="follow")
    room = s["room"]
    moves = [0.05, 0.15, 0.25, 0.45, 0.5, 0.85]
    async with WS(server.ws_url, host.access_token) as h, \
            WS(server.ws_url, a.access_token) as x, WS(server.ws_url, b.access_token) as y:
        for ws in (h, x, y):
            assert (await ws.subscribe(room))["type"] == "ack"
        live = (await http.get("/api/v1/sessions?list=live")).json()["items"]
        assert next(i for i in live if i["id"] == s["id"])["participants"] == 3
        for p in moves:
            ack = await h.move(room, p)
            assert ack["type"] == "ack", ack
        for ws in (x, y):
            await ws.wait(lambda f: _ev("follow")(f) and f["data"]["position"]["progression"]
                          == moves[-1])
            got = [f["data"]["position"]["progression"] for f in ws.events("follow")]
            assert got == moves
            assert [f["data"]["position"]["chapter"] for f in ws.events("follow")] == \
                [0, 0, 1, 2, 2, 4]
        assert (await x.move(room, 0.3, state="idle"))["type"] == "ack"
        try:
            upd = await y.wait(lambda f: f["type"] == "presence" and any(
                m["user_id"] == a.id and m["meta"].get("state") == "idle"
                for m in f["updated"] + f["joined"]))
        except TimeoutError:
            print([f for f in y.frames if f["type"] == "presence"])
            raise
        assert upd["room"] == room
        ack = await x.command({"type": "presence", "room": room, "meta": {"state": "active"}})
        assert ack["type"] == "ack"
        back = await y.wait(lambda f: f["type"] == "presence" and any(
            m["user_id"] == a.id and m["meta"].get("state") == "active" for m in f["updated"]))
        member = next(m for m in back["updated"] if m["user_id"] == a.id)
        assert member["meta"]["position"]["progression"] == 0.3
    shown = (await http.get(f"/api/v1/sessions/{s['id']}")).json()
    assert shown["host_position"]["progression"] == moves[-1]

    async def nobody_left() -> bool:
        got = (await http.get(f"/api/v1/sessions/{s['id']}")).json()
        return bool(got["participants"] == 0)

    await eventually(nobody_left)
    await http.post(f"/api/v1/sessions/{s['id']}/end", headers=host.headers)
    record = (await http.get(f"/api/v1/sessions/{s['id']}/record")).json()
    assert record["progress_read_together"] == 0.8 and record["pages_read_together"] == 240
    seen = {p["user_id"]: p for p in record["attendance"]}
    assert seen[host.id]["furthest"] == 0.85 and seen[a.id]["chapter"] == 1


async def test_kick_and_deleted_message(http: httpx.AsyncClient, engines: Engines,
                                        server: ServerProcess, unique: str) -> None:
    """A kicked reader leaves presence and cannot resubscribe; a deleted message disappears
    live (chat_deleted), from replay and from REST."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Kick {unique}")
    s = await live_session(http, host, book)
    room, sid = s["room"], s["id"]
    async with WS(server.ws_url, host.access_token) as h, \
            WS(server.ws_url, a.access_token) as x, WS(server.ws_url, b.access_token) as y:
        first = await h.subscribe(room)
        since = {"epoch": first["result"]["epoch"], "offset": first["result"]["offset"]}
        await x.subscribe(room)
        await y.subscribe(room)
        sent = await y.publish(room, {"type": "chat", "body": "spam spam"})
        msg_id = sent["result"]["message_id"]
        await x.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == msg_id)
        r = await http.delete(f"/api/v1/sessions/{sid}/messages/{msg_id}", headers=host.headers)
        assert r.status_code == 200
        for ws in (h, x):
            await ws.wait(lambda f: _ev("chat_deleted")(f) and f["data"]["id"] == msg_id)
        r = await http.post(f"/api/v1/sessions/{sid}/participants/{b.id}/kick",
                            headers=host.headers)
        assert r.status_code == 200
        await h.wait(lambda f: f["type"] == "presence" and b.id in f["left"])
        await y.wait(lambda f: _ev("kicked")(f) and f["data"]["user_id"] == b.id)
        again = await y.subscribe(room)
        assert again["type"] == "error" and again["code"] == "kicked"
        refused = await y.publish(room, {"type": "chat", "body": "still here?"})
        assert refused["type"] == "error"
    async with WS(server.ws_url, b.access_token) as y2:
        again = await y2.subscribe(room)
        assert again["type"] == "error" and again["code"] == "kicked"
    async with WS(server.ws_url, a.access_token) as x2:
        ack = await x2.subscribe(room, since=since)
        assert ack["result"]["recovered"] is True
        await x2.wait(lambda f: _ev("chat_deleted")(f) and f["data"]["id"] == msg_id)
        shown = {f["data"]["id"] for f in x2.events("chat")}
        gone = {f["data"]["id"] for f in x2.events("chat_deleted")}
        assert shown - gone == set()
    page = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=a.headers)).json()
    assert msg_id not in [m["id"] for m in page["items"]]
    rows = await db_exec(engines.database_url, "SELECT count(*) AS n FROM session_messages"
                         " WHERE session_id = $1 AND body = 'still here?'", sid)
    assert rows[0]["n"] == 0


async def test_blocks_and_mutes_live_and_in_history(http: httpx.AsyncClient, engines: Engines,
                                                    server: ServerProcess, unique: str) -> None:
    """Blocked users never see each other's messages (live, replay, REST); a muter stops
    seeing the muted user's while the muted user notices nothing."""
    host, a, b, c = await users(http, unique, 4)
    book = await make_book(engines.database_url, f"Blocks {unique}")
    s = await live_session(http, host, book)
    room, sid = s["room"], s["id"]
    assert (await http.post(f"/api/v1/users/{b.handle}/block",
                            headers=a.headers)).status_code == 204
    assert (await http.post(f"/api/v1/users/{a.handle}/mute",
                            headers=c.headers)).status_code == 204
    async with WS(server.ws_url, a.access_token) as x, WS(server.ws_url, b.access_token) as y, \
            WS(server.ws_url, c.access_token) as z, WS(server.ws_url, host.access_token) as h:
        first = await h.subscribe(room)
        since = {"epoch": first["result"]["epoch"], "offset": first["result"]["offset"]}
        for ws in (x, y, z):
            await ws.subscribe(room)
        from_a = (await x.publish(room, {"type": "chat", "body": "from a"}))["result"]
        from_b = (await y.publish(room, {"type": "chat", "body": "from b"}))["result"]
        from_c = (await z.publish(room, {"type": "chat", "body": "from c"}))["result"]
        ids = {"a": from_a["message_id"], "b": from_b["message_id"], "c": from_c["message_id"]}
        # the host sees all three: once c's has arrived everywhere, look at what each got
        await h.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == ids["c"])
        for ws in (x, y, z):
            await ws.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == ids["c"])
        seen = {name: {f["data"]["id"] for f in ws.events("chat")}
                for name, ws in (("a", x), ("b", y), ("c", z))}
        assert seen["a"] == {ids["a"], ids["c"]}
        assert seen["b"] == {ids["b"], ids["c"]}
        assert seen["c"] == {ids["b"], ids["c"]}
    for user, expect in ((a, {"a", "c"}), (b, {"b", "c"}), (c, {"b", "c"})):
        async with WS(server.ws_url, user.access_token) as ws:
            await ws.subscribe(room, since=since)
            await ws.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == ids["c"])
            assert {f["data"]["id"] for f in ws.events("chat")} == {ids[k] for k in expect}
        page = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=user.headers)).json()
        assert {m["id"] for m in page["items"]} == {ids[k] for k in expect}


async def test_bad_input_over_the_socket(http: httpx.AsyncClient, engines: Engines,
                                         server: ServerProcess, unique: str) -> None:
    """Positions outside 0..1, oversize and empty messages, empty annotation selectors, unknown
    commands and chat in an ended session each get an `error` frame and store nothing."""
    host, a = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"BadWS {unique}")
    s = await live_session(http, host, book)
    room, sid = s["room"], s["id"]
    async with WS(server.ws_url, a.access_token) as x, WS(server.ws_url, host.access_token) as h:
        joined = await x.subscribe(room)
        assert joined["type"] == "ack"
        assert (await h.subscribe(room))["type"] == "ack"
        for p in (1.5, -0.1, "half", None):
            err = await x.move(room, p)
            assert err["type"] == "error" and err["code"] in ("invalid_position",
                                                              "invalid_payload"), err
        err = await x.move(room, 1.5)
        assert err["code"] == "invalid_position"
        err = await x.publish(room, {"type": "chat", "body": "x" * 2001})
        assert err["type"] == "error" and err["code"] == "message_too_long"
        err = await x.publish(room, {"type": "chat", "body": ""})
        assert err["code"] == "empty_message"
        err = await x.publish(room, {"type": "annotate", "selectors": []})
        assert err["code"] == "empty_selectors"
        err = await x.publish(room, {"type": "explode"})
        assert err["type"] == "error" and err["code"] == "invalid_payload"
        ok = await x.publish(room, {"type": "typing"})
        assert ok["type"] == "ack"
        typing = await h.wait(_ev("typing"))  # the host, in the room, sees it live
        assert typing["data"]["user_id"] == a.id and "offset" not in typing
        # ... and it is not history: a socket joining from x's position replays nothing
        position = {"epoch": joined["result"]["epoch"], "offset": joined["result"]["offset"]}
        async with WS(server.ws_url, host.access_token) as late:
            again = await late.subscribe(room, since=position)
            assert again["type"] == "ack" and again["result"]["recovered"] is True
            assert again["result"]["offset"] == position["offset"]
            assert (await late.command({"type": "ping"}))["type"] == "ack"
            assert [f for f in late.frames if f["type"] == "event"] == []
        assert (await http.post(f"/api/v1/sessions/{sid}/end",
                                headers=host.headers)).status_code == 200
        err = await x.publish(room, {"type": "chat", "body": "after the end"})
        assert err["type"] == "error" and err["code"] == "session_ended"
    rows = await db_exec(
        engines.database_url,
        "SELECT (SELECT count(*) FROM session_messages WHERE session_id = $1) AS m,"
        " (SELECT count(*) FROM session_annotations WHERE session_id = $1) AS n,"
        " (SELECT progression FROM session_participants WHERE session_id = $1"
        "  AND user_id = $2) AS p", sid, a.id)
    assert (rows[0]["m"], rows[0]["n"], rows[0]["p"]) == (0, 0, None)
    async with WS(server.ws_url, a.access_token) as x:
        err = await x.subscribe("session:99999999")
        assert err["type"] == "error" and err["code"] == "session_not_found"


async def test_typing_edit_and_invite_only_room(http: httpx.AsyncClient, engines: Engines,
                                                server: ServerProcess, unique: str) -> None:
    """Typing reaches the others but never history; an edit reaches the room live and REST; an
    invite-only room refuses a socket that did not join with the code."""
    host, a, stranger = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Typing {unique}")
    s = await live_session(http, host, book, visibility="invite")
    room, sid = s["room"], s["id"]
    assert (await http.post(f"/api/v1/sessions/{sid}/join", json={
        "invite_code": s["invite_code"]}, headers=a.headers)).status_code == 200
    async with WS(server.ws_url, host.access_token) as h, WS(server.ws_url, a.access_token) as x, \
            WS(server.ws_url, stranger.access_token) as z:
        err = await z.subscribe(room)
        assert err["type"] == "error" and err["code"] == "invite_required"
        first = await h.subscribe(room)
        since = {"epoch": first["result"]["epoch"], "offset": first["result"]["offset"]}
        await x.subscribe(room)
        assert (await x.publish(room, {"type": "typing"}))["type"] == "ack"
        typing = await h.wait(_ev("typing"))
        assert typing["data"]["user_id"] == a.id and "offset" not in typing
        sent = (await x.publish(room, {"type": "chat", "body": "teh"}))["result"]
        err = await h.publish(room, {"type": "chat_edit", "message_id": sent["message_id"],
                                     "body": "hijack"})
        assert err["type"] == "error" and err["code"] == "not_author"
        ack = await x.publish(room, {"type": "chat_edit", "message_id": sent["message_id"],
                                     "body": "the"})
        assert ack["type"] == "ack"
        edited = await h.wait(_ev("chat_edited"))
        assert edited["data"]["body"] == "the" and edited["data"]["edited_at"]
    async with WS(server.ws_url, host.access_token) as h2:
        await h2.subscribe(room, since=since)
        await h2.wait(_ev("chat_edited"))
        assert h2.events("typing") == []
    page = (await http.get(f"/api/v1/sessions/{sid}/messages", headers=host.headers)).json()
    assert [m["body"] for m in page["items"]] == ["the"]


async def test_block_during_the_session(http: httpx.AsyncClient, engines: Engines,
                                        server: ServerProcess, unique: str) -> None:
    """A block made while both readers are in the room hides each one's messages from the
    other from the next position update on."""
    host, a, b = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"BlockLive {unique}")
    s = await live_session(http, host, book)
    room = s["room"]
    async with WS(server.ws_url, a.access_token) as x, WS(server.ws_url, b.access_token) as y, \
            WS(server.ws_url, host.access_token) as h:
        await x.subscribe(room)
        await y.subscribe(room)
        await h.subscribe(room)
        assert (await http.post(f"/api/v1/users/{b.handle}/block",
                                headers=a.headers)).status_code == 204
        await x.move(room, 0.3)
        await y.move(room, 0.3)
        hidden = (await y.publish(room, {"type": "chat", "body": "can you see me"}))["result"]
        mine = (await x.publish(room, {"type": "chat", "body": "after"}))["result"]
        await x.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == mine["message_id"])
        assert hidden["message_id"] not in [f["data"]["id"] for f in x.events("chat")]
        # the other way too: the blocked reader does not see the blocker's message, though
        # they see the host's next one (which the room delivers after it)
        later = (await h.publish(room, {"type": "chat", "body": "later"}))["result"]
        await y.wait(lambda f: _ev("chat")(f) and f["data"]["id"] == later["message_id"])
        assert mine["message_id"] not in [f["data"]["id"] for f in y.events("chat")]
