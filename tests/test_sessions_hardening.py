"""Co-reading sessions under issue 19: unknown and out-of-range ids in host powers and creation,
positions kept across a rejoin, and sessions everyone left ending by themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from domain.accounts.tokens import issue_access_token
from domain.ids import MAX_ID
from domain.jobqueue import enqueue
from domain.settings import DEFAULT_SECRET_KEY, SettingsError, load_settings
from jobs.worker import CRON_JOBS
from tests.conftest import Engines
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


def _ev(name: str) -> Any:
    return lambda f: f["type"] == "event" and f["event"] == name


def _field_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


async def test_host_powers_on_an_unknown_user_all_answer_404(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """Kick, mute and unmute of a user id that names nobody give the same 404 problem details
    (`not_participant`, naming the user) instead of a 500; kicking a real user who never joined
    still bars them from joining."""
    host, later = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Unknown {unique}")
    s = await live_session(http, host, book)
    url = f"/api/v1/sessions/{s['id']}/participants"
    nobody = 987654321
    answers = []
    for method, path in (("POST", f"{url}/{nobody}/kick"), ("POST", f"{url}/{nobody}/mute"),
                         ("DELETE", f"{url}/{nobody}/mute")):
        r = await http.request(method, path, headers=host.headers)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert str(nobody) in body["detail"]
        answers.append((body["code"], body["detail"], _field_of(body)))
    assert answers == [("not_participant", f"user {nobody} is not in this session",
                        {"user_id"})] * 3
    assert (await http.post(f"{url}/{later.id}/kick", headers=host.headers)).status_code == 200
    r = await http.post(f"/api/v1/sessions/{s['id']}/join", json={}, headers=later.headers)
    assert r.status_code == 403 and r.json()["code"] == "kicked"


async def test_ids_out_of_range_in_bodies_answer_422_naming_the_field(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """`book_id` in a new session, `user_id` in a hand-over and `user_ids` in invitations
    outside 1..2**63-1 answer 422 with the field (never a 500), and store nothing."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Ranges {unique}")
    for bad in (MAX_ID + 1, 0, -5):
        r = await http.post("/api/v1/sessions", headers=host.headers,
                            json={"book_id": bad, "title": "x"})
        assert r.status_code == 422, r.text
        assert _field_of(r.json()) == {"book_id"}
    rows = await db_exec(engines.database_url,
                         "SELECT count(*) AS n FROM reading_sessions WHERE host_id = $1", host.id)
    assert rows[0]["n"] == 0
    s = await live_session(http, host, book)
    url = f"/api/v1/sessions/{s['id']}"
    assert (await http.post(f"{url}/join", json={}, headers=reader.headers)).status_code == 200
    for bad in (MAX_ID + 1, 0):
        r = await http.post(f"{url}/host", json={"user_id": bad}, headers=host.headers)
        assert r.status_code == 422, r.text
        assert _field_of(r.json()) == {"user_id"}
        r = await http.post(f"{url}/invitations", json={"user_ids": [reader.id, bad]},
                            headers=host.headers)
        assert r.status_code == 422, r.text
        assert [f.split("[")[0] for f in _field_of(r.json())] == ["user_ids"]
    assert (await http.get(url, headers=host.headers)).json()["host_id"] == host.id


async def test_a_rejoining_reader_keeps_their_position(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader at 0.4 who disconnects and comes back (a reload) reappears at 0.4 for the room
    and gets 0.4 back in their own subscribe ack; a newcomer's snapshot shows 0.4 too."""
    host, reader, late = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Rejoin {unique}")
    s = await live_session(http, host, book)
    room = s["room"]

    def member(frame: dict[str, Any], *keys: str) -> dict[str, Any] | None:
        found = [m for k in keys for m in frame.get(k, []) if m["user_id"] == reader.id]
        return found[-1] if found else None

    def at(frame: dict[str, Any], progression: float) -> bool:
        """A presence diff showing the reader at `progression` (joins and updates coalesce)."""
        m = member(frame, "joined", "updated") if frame["type"] == "presence" else None
        return m is not None and m["meta"].get("position", {}).get("progression") == progression

    async with WS(server.ws_url, host.access_token) as h:
        assert (await h.subscribe(room))["type"] == "ack"
        async with WS(server.ws_url, reader.access_token) as x:
            assert (await x.subscribe(room))["type"] == "ack"
            assert (await x.move(room, 0.4, locator="epubcfi(/6/10)"))["type"] == "ack"
            await h.wait(lambda f: at(f, 0.4))
        await h.wait(lambda f: f["type"] == "presence" and reader.id in f["left"])
        seen = len(h.frames)
        async with WS(server.ws_url, reader.access_token) as x2:
            ack = await x2.subscribe(room)
            assert ack["type"] == "ack"
            mine = next(m for m in ack["result"]["presence"] if m["user_id"] == reader.id)
            assert mine["meta"]["position"]["progression"] == 0.4
            assert mine["meta"]["position"]["locator"] == "epubcfi(/6/10)"
            back = await h.wait(lambda f: f["type"] == "presence" and h.frames.index(f) >= seen
                                and member(f, "joined") is not None)
            shown = member(back, "joined")
            assert shown is not None and shown["meta"]["position"]["progression"] == 0.4
            async with WS(server.ws_url, late.access_token) as z:
                snap = (await z.subscribe(room))["result"]["presence"]
                other = next(m for m in snap if m["user_id"] == reader.id)
                assert other["meta"]["position"]["progression"] == 0.4
            # and a move after the rejoin goes on from there
            assert (await x2.move(room, 0.45))["type"] == "ack"
            await h.wait(lambda f: at(f, 0.45))


async def test_a_session_everyone_left_ends_by_itself(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """With a short idle time, the worker's idle-end job ends a live session nobody is in (the
    room gets `status: ended`, the record keeps attendance and a duration ending when the last
    reader left, chat is refused), while a session with a reader present stays live, and so
    does the empty one under a long idle time or with the idle end switched off."""
    assert "cron:end_idle_sessions" in {c.name for c in CRON_JOBS}
    host, reader, stayer = await users(http, unique, 3)
    book = await make_book(engines.database_url, f"Idle {unique}")
    empty = await live_session(http, host, book)
    busy = await live_session(http, host, book)
    async with WS(server.ws_url, host.access_token) as h, \
            WS(server.ws_url, reader.access_token) as x:
        first = await h.subscribe(empty["room"])
        since = {"epoch": first["result"]["epoch"], "offset": first["result"]["offset"]}
        assert (await x.subscribe(empty["room"]))["type"] == "ack"
        assert (await x.move(empty["room"], 0.3))["type"] == "ack"
    async with WS(server.ws_url, stayer.access_token) as y:
        assert (await y.subscribe(busy["room"]))["type"] == "ack"

        async def nobody_in_empty() -> bool:
            got = (await http.get(f"/api/v1/sessions/{empty['id']}")).json()
            open_ = await db_exec(engines.database_url, "SELECT count(*) AS n FROM"
                                  " session_participants WHERE session_id = $1"
                                  " AND connections > 0", empty["id"])
            return bool(got["participants"] == 0 and open_[0]["n"] == 0)

        await eventually(nobody_in_empty)  # gone from presence, and both leaves recorded
        left = await db_exec(engines.database_url, "SELECT max(last_seen_at) AS t FROM"
                             " session_participants WHERE session_id = $1", empty["id"])
        assert left[0]["t"] is not None

        async with db_and_redis(engines) as (_, redis):
            # switched off (0), or a long idle time: nothing ends
            for minutes in ("0", "60"):
                assert await enqueue(redis, "end_idle_sessions")
                await run_worker(worker_settings(engines,
                                                 READALONG_SESSION_IDLE_END_MINUTES=minutes))
                got = (await http.get(f"/api/v1/sessions/{empty['id']}")).json()
                assert got["status"] == "live", minutes

            short = worker_settings(engines, READALONG_SESSION_IDLE_END_MINUTES="0.002")

            async def ended() -> bool:
                assert await enqueue(redis, "end_idle_sessions")
                await run_worker(short)
                got = (await http.get(f"/api/v1/sessions/{empty['id']}")).json()
                return bool(got["status"] == "ended")

            await eventually(ended, timeout=20.0)
        assert (await http.get(f"/api/v1/sessions/{busy['id']}")).json()["status"] == "live"
    rec = (await http.get(f"/api/v1/sessions/{empty['id']}/record",
                          headers=host.headers)).json()
    ended_at = datetime.fromisoformat(rec["session"]["ended_at"])
    started_at = datetime.fromisoformat(rec["session"]["started_at"])
    assert ended_at == left[0]["t"]  # when the last reader left, not when the job ran
    assert rec["duration_seconds"] == int((ended_at - started_at).total_seconds())
    seen = {a["user_id"]: a for a in rec["attendance"]}
    assert seen[reader.id]["furthest"] == 0.3 and seen[reader.id]["present"] is False
    assert not any(a["present"] for a in rec["attendance"])
    r = await http.post(f"/api/v1/sessions/{empty['id']}/messages", json={"body": "late"},
                        headers=reader.headers)
    assert r.status_code == 409 and r.json()["code"] == "session_ended"
    async with WS(server.ws_url, host.access_token) as h2:
        ack = await h2.subscribe(empty["room"], since=since)
        assert ack["result"]["recovered"] is True
        await h2.wait(lambda f: _ev("status")(f) and f["data"]["status"] == "ended")


def test_the_idle_end_setting_is_checked() -> None:
    """`READALONG_SESSION_IDLE_END_MINUTES` takes minutes (fractions too) and refuses a
    negative or non-numeric value with a message naming it."""
    assert load_settings({"READALONG_SESSION_IDLE_END_MINUTES": "2.5"}
                         ).session_idle_end_minutes == 2.5
    assert load_settings({}).session_idle_end_minutes == 30.0
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(SettingsError, match="READALONG_SESSION_IDLE_END_MINUTES"):
            load_settings({"READALONG_SESSION_IDLE_END_MINUTES": bad})


async def test_a_moderator_lists_every_session(http: httpx.AsyncClient, engines: Engines,
                                               unique: str) -> None:
    """A site moderator's live and upcoming lists answer 200 and include an invite-only session
    they were never invited to (staff see every session), never a 500."""
    host, mod = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Staff {unique}")
    s = await live_session(http, host, book, visibility="invite")
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": "later", "visibility": "invite",
        "scheduled_at": "2031-01-01T20:00:00Z"})
    later = r.json()["id"]
    await db_exec(engines.database_url, "UPDATE users SET role = 'moderator' WHERE id = $1",
                  mod.id)
    token, _ = issue_access_token(DEFAULT_SECRET_KEY, mod.id, "moderator", 300)
    staff = {"Authorization": f"Bearer {token}"}
    for which, sid in (("live", s["id"]), ("upcoming", later)):
        r = await http.get(f"/api/v1/sessions?list={which}&limit=100", headers=staff)
        assert r.status_code == 200, r.text
        assert sid in [i["id"] for i in r.json()["items"]]
