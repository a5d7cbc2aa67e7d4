"""Issue 10's gaps: the leaderboard events in /asyncapi.json, a session finish marking the book
read like REST does, custom-period goals, and co-reading minutes (XP and a board)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from domain.feeds import verbs
from domain.jobqueue import enqueue
from tests.accounts_helpers import register
from tests.conftest import Engines
from tests.reading_helpers import new_book, progress, put_state
from tests.support import ServerProcess, eventually
from tests.test_sessions_helpers import WS, db_exec, live_session, make_book, users
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


async def test_asyncapi_lists_leaderboard_events(http: httpx.AsyncClient,
                                                 server: ServerProcess) -> None:
    """A client author finds `top` under `leaderboard:<key>` and `leaderboard_rank` under
    `user:<id>` in the served AsyncAPI document, each with its payload fields."""
    doc = (await http.get("/asyncapi.json")).json()
    messages = doc["channels"]["rooms"]["messages"]
    assert "leaderboard_top" in messages and "user_leaderboard_rank" in messages
    assert "leaderboard:<id>" in messages["leaderboard_top"]["title"]
    assert "user:<id>" in messages["user_leaderboard_rank"]["title"]
    schemas = doc["components"]["schemas"]
    top = schemas["LeaderboardTop"]
    assert top["properties"]["event"]["enum"] == ["top"]
    assert set(schemas["TopData"]["properties"]) == {"board", "period", "items"}
    assert set(schemas["Entry"]["properties"]) == {"rank", "owner", "score"}
    assert set(schemas["RankData"]["properties"]) == {"board", "period", "rank"}
    assert schemas["LeaderboardRank"]["properties"]["event"]["enum"] == ["leaderboard_rank"]


async def test_session_finish_marks_read_once(http: httpx.AsyncClient, engines: Engines,
                                              server: ServerProcess, unique: str) -> None:
    """A reader who reaches the end of the book in a session finds it `read` on their shelves
    (one finished read, the furthest where they really are, not 1) with one `finished book`
    activity and their one-book goal reached; marking it read over REST afterwards changes
    nothing and posts nothing more."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Finale {unique}", pages=100)
    today = datetime.now(UTC).date()
    r = await http.post("/api/v1/me/reading/period-goals", headers=reader.headers, json={
        "starts_on": str(today - timedelta(days=1)), "ends_on": str(today), "books": 1})
    assert r.status_code == 201, r.text
    goal_id = r.json()["id"]
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
        assert (await ws.move(s["room"], 0.5))["type"] == "ack"
        assert (await ws.move(s["room"], 0.99))["type"] == "ack"

    async def shelved() -> dict[str, object] | None:  # finishing runs after the move's ack
        state = (await http.get(f"/api/v1/me/books/{book}", headers=reader.headers)).json()
        return state if state["status"] == "read" else None

    state = await eventually(shelved)
    # a passive finish keeps the furthest at the reader's place: a furthest of 1 would gate
    # what they write next at the very end, hidden from everyone still reading
    assert state["furthest"] == 0.99 and state["read_count"] == 1
    assert [r["outcome"] for r in state["reads"]] == ["read"]

    async def finished_posts() -> int:
        rows = await db_exec(engines.database_url, "SELECT count(*) AS n FROM activities"
                             " WHERE actor_id = $1 AND verb = $2 AND object_id = $3",
                             reader.id, verbs.FINISHED_BOOK, str(book))
        return int(rows[0]["n"])

    async def session_recorded() -> bool:  # the session's own finish record comes last
        rows = await db_exec(engines.database_url, "SELECT finished_at FROM book_readings"
                             " WHERE user_id = $1 AND book_id = $2", reader.id, book)
        return bool(rows) and rows[0]["finished_at"] is not None

    await eventually(session_recorded)
    assert await finished_posts() == 1
    goal = (await http.get(f"/api/v1/me/reading/period-goals/{goal_id}",
                           headers=reader.headers)).json()
    assert goal["books_done"] == 1 and goal["reached"] is True  # checked after the finish
    r = await http.put(f"/api/v1/me/books/{book}", headers=reader.headers,
                       json={"status": "read"})
    assert r.status_code == 200, r.text
    assert r.json()["read_count"] == 1 and len(r.json()["reads"]) == 1
    assert await finished_posts() == 1


async def test_last_chapter_session_finish_then_rest_read_posts_once(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader who reaches the last chapter in a session (the session's finish line) has the
    book `read` with one `finished book` activity, and marking it read over REST or moving on
    to the end keeps one read and one activity."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Coda {unique}")  # five chapters
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
        assert (await ws.move(s["room"], 0.85))["type"] == "ack"
        assert (await ws.move(s["room"], 1.0))["type"] == "ack"

    async def recorded() -> bool:
        rows = await db_exec(engines.database_url, "SELECT finished_at FROM book_readings"
                             " WHERE user_id = $1 AND book_id = $2", reader.id, book)
        return bool(rows) and rows[0]["finished_at"] is not None

    await eventually(recorded)
    r = await http.put(f"/api/v1/me/books/{book}", headers=reader.headers,
                       json={"status": "read"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "read" and r.json()["read_count"] == 1
    rows = await db_exec(engines.database_url, "SELECT count(*) AS n FROM activities"
                         " WHERE actor_id = $1 AND verb = $2 AND object_id = $3",
                         reader.id, verbs.FINISHED_BOOK, str(book))
    assert rows[0]["n"] == 1


async def test_period_goal_progress_pace_and_reached_once(
        http: httpx.AsyncClient, engines: Engines, unique: str) -> None:
    """A reader sets a 20-day goal of 2 books and 100 pages: 150 pages read shows "1 book
    behind schedule"; finishing two books marks it reached with one notification; bad periods
    get a clear 422 and another reader's goal is a 404."""
    reader = await register(http, unique, prefix="pg")
    other = await register(http, unique, prefix="po")
    today = datetime.now(UTC).date()
    body = {"name": "Spring sprint", "starts_on": str(today - timedelta(days=9)),
            "ends_on": str(today + timedelta(days=10)), "books": 2, "pages": 100}
    r = await http.post("/api/v1/me/reading/period-goals", json=body, headers=reader.headers)
    assert r.status_code == 201, r.text
    goal = r.json()
    assert (goal["books_done"], goal["pages_done"], goal["reached"]) == (0, 0, False)
    one, two = await new_book(http, unique + "a"), await new_book(http, unique + "b")
    await progress(http, reader, one["id"], page=150)
    got = (await http.get(f"/api/v1/me/reading/period-goals/{goal['id']}",
                          headers=reader.headers)).json()
    assert (got["pages_done"], got["pages_ahead"], got["books_ahead"]) == (150, 100, -1)
    assert got["pace"] == "1 book behind schedule, 100 pages ahead of schedule"
    for book in (one, two):
        await put_state(http, reader, book["id"], status="read")
    listed = (await http.get("/api/v1/me/reading/period-goals", headers=reader.headers)).json()
    assert [(g["id"], g["books_done"], g["reached"], g["pace"]) for g in listed] == [
        (goal["id"], 2, True, "goal reached")]
    await put_state(http, reader, one["id"], status="reading")
    await put_state(http, reader, one["id"], status="read")  # a re-read: reached stays once
    rows = await db_exec(engines.database_url, "SELECT payload FROM notifications WHERE"
                         " recipient_id = $1 AND type = 'goal_reached' AND target_kind ="
                         " 'period_goal'", reader.id)
    assert len(rows) == 1 and "Spring sprint" in rows[0]["payload"]
    bad = await http.post("/api/v1/me/reading/period-goals", headers=reader.headers,
                          json={**body, "ends_on": str(today - timedelta(days=20))})
    assert bad.status_code == 422 and "ends_on" in bad.text
    assert (await http.get(f"/api/v1/me/reading/period-goals/{goal['id']}",
                           headers=other.headers)).status_code == 404
    assert (await http.delete(f"/api/v1/me/reading/period-goals/{goal['id']}",
                              headers=reader.headers)).status_code == 204


async def _backdate(engines: Engines, session_id: int, user_id: int, minutes: int) -> None:
    """The attendance record as if the reader had been present for `minutes` already."""
    await db_exec(engines.database_url, "UPDATE session_participants SET present_since ="
                  " now() - make_interval(mins => $3) WHERE session_id = $1 AND user_id = $2"
                  " AND present_since IS NOT NULL", session_id, user_id, minutes)


async def test_coreading_minutes_earn_xp_and_board_once(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader who spent 30 minutes in a session gets 30 co-reading XP and 30 minutes on the
    `coreading-minutes-month` board when they leave; the session's end credits nothing again,
    and 30 minutes claimed in a second session over the same wall-clock time count nothing."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Together {unique}")
    one, two = await live_session(http, host, book), await live_session(http, host, book)

    async def minutes() -> int | None:
        r = await http.get("/api/v1/leaderboards/coreading-minutes-month/owners",
                           params={"id": reader.id}, headers=reader.headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return int(items[0]["score"]) if items else None

    async def xp_today() -> int:
        r = await http.get("/api/v1/me/reading/xp", headers=reader.headers)
        return int(r.json()["today"]["coreading"])

    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(one["room"]))["type"] == "ack"
        await _backdate(engines, one["id"], reader.id, 30)
    assert await eventually(lambda: _equal(minutes, 30)) and await xp_today() == 30
    r = await http.post(f"/api/v1/sessions/{one['id']}/end", headers=host.headers)
    assert r.status_code == 200, r.text
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(two["room"]))["type"] == "ack"
        await _backdate(engines, two["id"], reader.id, 30)
        r = await http.post(f"/api/v1/sessions/{two['id']}/end", headers=host.headers)
        assert r.status_code == 200, r.text
    rows = await db_exec(engines.database_url, "SELECT session_id, seconds FROM"
                         " coreading_credits WHERE user_id = $1 ORDER BY session_id", reader.id)
    assert [(x["session_id"], x["seconds"] // 60) for x in rows] == [(one["id"], 30),
                                                                      (two["id"], 30)]
    assert await minutes() == 30 and await xp_today() == 30


async def _equal(check: object, value: int) -> bool:
    return bool(await check() == value)  # type: ignore[operator]


async def test_idle_end_credits_attendance_a_lost_node_left_open(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A reader whose node died mid-session (their attendance span left open) still gets their
    30 co-reading minutes on the board when the worker ends the empty session."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Lost {unique}")
    s = await live_session(http, host, book)
    async with WS(server.ws_url, reader.access_token) as ws:
        assert (await ws.subscribe(s["room"]))["type"] == "ack"
    # as a lost node leaves it: still "connected" in the database, present for 30 minutes
    await db_exec(engines.database_url, "UPDATE session_participants p SET connections = 1,"
                  " present_since = r.started_at - interval '30 minutes', last_seen_at ="
                  " r.started_at - interval '1 minute' FROM reading_sessions r WHERE r.id ="
                  " p.session_id AND p.session_id = $1 AND p.user_id = $2", s["id"], reader.id)
    async with db_and_redis(engines) as (_, redis):
        short = worker_settings(engines, READALONG_SESSION_IDLE_END_MINUTES="0.002")

        async def ended() -> bool:
            assert await enqueue(redis, "end_idle_sessions")
            await run_worker(short)
            got = (await http.get(f"/api/v1/sessions/{s['id']}")).json()
            return bool(got["status"] == "ended")

        await eventually(ended, timeout=20.0)
    r = await http.get("/api/v1/leaderboards/coreading-minutes-month/owners",
                       params={"id": reader.id}, headers=reader.headers)
    assert [i["score"] for i in r.json()["items"]] == [30]
