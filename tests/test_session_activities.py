"""Feed activities from co-reading sessions (hosted, joined, public notes, started/finished a
book, once per book) and the worker's schedule that starts due sessions live."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from domain.jobqueue import enqueue
from tests.accounts_helpers import register
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, live_session, make_book
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


async def _feed(http: httpx.AsyncClient, user: Any) -> list[dict[str, Any]]:
    r = await http.get("/api/v1/feed", headers=user.headers, params={"limit": 50})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _follow(http: httpx.AsyncClient, who: Any, whom: Any) -> None:
    r = await http.post(f"/api/v1/users/{whom.handle}/follow", headers=who.headers)
    assert r.status_code == 200, r.text


async def _until_recorded(engines: Engines, actor_id: int, verb: str) -> None:
    """Wait (at most 10 s) until the actor's `verb` activity is stored."""
    conn = await asyncpg.connect(engines.database_url)
    try:
        for _ in range(100):
            if await conn.fetchval("SELECT count(*) FROM activities WHERE actor_id = $1"
                                   " AND verb = $2", actor_id, verb):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"no {verb} activity of user {actor_id} within 10 s")


def _range(start: float, end: float) -> list[dict[str, Any]]:
    return [{"type": "ProgressionSelector", "start": start, "end": end}]


async def test_follower_feed_shows_session_activities_in_order(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """A follower's feed shows, newest first: hosted a session, joined it, started the book,
    shared a public note, finished the book (once per book, however often the reader moves or
    rejoins) — never a private note, never a note's text, and a deleted note leaves the feed."""
    fan = await register(http, unique, prefix="fan")
    hal = await register(http, unique, prefix="hal", display_name="Hal")
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    other = await register(http, unique, prefix="oth")
    await _follow(http, fan, hal)
    await _follow(http, fan, ana)
    book = await make_book(engines.database_url, f"Dune {unique}")
    title = f"Dune night {unique}"
    s = await live_session(http, hal, book, title=title)
    room = s["room"]
    async with WS(server.ws_url, ana.access_token) as a:
        assert (await a.subscribe(room))["type"] == "ack"
        assert (await a.move(room, 0.1))["type"] == "ack"
        assert (await a.move(room, 0.3))["type"] == "ack"
        shared = await a.publish(room, {"type": "annotate", "selectors": _range(0.3, 0.32),
                                        "note": "the spice must flow", "visibility": "public"})
        assert shared["type"] == "ack", shared
        secret = await a.publish(room, {"type": "annotate", "selectors": _range(0.3, 0.31),
                                        "note": "my secret", "visibility": "private"})
        assert secret["type"] == "ack", secret
        gone = await a.publish(room, {"type": "annotate", "selectors": _range(0.3, 0.33),
                                      "note": "second thoughts", "visibility": "public"})
        removed = await a.publish(room, {"type": "annotation_delete",
                                         "annotation_id": gone["result"]["annotation_id"]})
        assert removed["type"] == "ack", removed
        assert (await a.move(room, 0.85))["type"] == "ack"  # the last chapter: finished
        assert (await a.move(room, 0.5))["type"] == "ack"
        assert (await a.move(room, 0.99))["type"] == "ack"
    # leaving writes her pending moves (the finish among them) behind; that runs on the server
    # after the socket closed, so it could still be under way while the next socket joins
    await _until_recorded(engines, ana.id, "finished_book")
    # another session on the same book: joined again, but not started/finished again
    s2 = await live_session(http, other, book)
    async with WS(server.ws_url, ana.access_token) as a:
        assert (await a.subscribe(s2["room"]))["type"] == "ack"
        assert (await a.move(s2["room"], 0.2))["type"] == "ack"
        assert (await a.move(s2["room"], 1.0))["type"] == "ack"
    await run_worker(worker_settings(engines))

    items = await _feed(http, fan)
    mine = [i for i in items if i["actor"]["id"] in (hal.id, ana.id)]
    assert [(i["verb"], i["actor"]["id"]) for i in mine] == [
        ("joined_session", ana.id), ("finished_book", ana.id),
        ("published_annotation", ana.id), ("started_book", ana.id),
        ("joined_session", ana.id), ("hosted_session", hal.id)]
    texts = [i["text"] for i in mine]
    assert texts[1] == f"Ana finished Dune {unique}"
    assert texts[2] == f"Ana shared a note on Dune {unique}"
    assert texts[3] == f"Ana started reading Dune {unique}"
    assert texts[4] == f"Ana joined the session {title}"
    assert texts[5] == f"Hal is hosting the session {title}"
    assert mine[2]["object_id"] == str(shared["result"]["annotation_id"])
    dumped = json.dumps(items)
    assert "spice" not in dumped and "secret" not in dumped and "second thoughts" not in dumped


async def test_due_session_cron_starts_it_and_clients_get_status(
        http: httpx.AsyncClient, engines: Engines, server: ServerProcess, unique: str) -> None:
    """The worker's schedule job starts a session whose time has come: readers connected to the
    room get the `status` event, REST shows it live, joined readers are told it is starting and
    the host's followers see that they are hosting."""
    hal = await register(http, unique, prefix="hal", display_name="Hal")
    rea = await register(http, unique, prefix="rea")
    fan = await register(http, unique, prefix="fan")
    await _follow(http, fan, hal)
    book = await make_book(engines.database_url, f"Emma {unique}")
    title = f"Emma at dawn {unique}"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await http.post("/api/v1/sessions", headers=hal.headers, json={
        "book_id": book, "title": title, "scheduled_at": past})
    assert r.status_code == 201 and r.json()["status"] == "scheduled", r.text
    sid, room = r.json()["id"], r.json()["room"]
    async with WS(server.ws_url, hal.access_token) as h, WS(server.ws_url, rea.access_token) as x:
        assert (await h.subscribe(room))["type"] == "ack"
        assert (await x.subscribe(room))["type"] == "ack"
        async with db_and_redis(engines) as (_, redis):
            assert await enqueue(redis, "start_due_sessions", job_id=f"test-due-{sid}")
        await run_worker(worker_settings(engines))
        for ws in (h, x):
            ev = await ws.wait(lambda f: f["type"] == "event" and f["event"] == "status")
            assert ev["data"] == {"status": "live"} and ev["room"] == room
    shown = (await http.get(f"/api/v1/sessions/{sid}")).json()
    assert shown["status"] == "live" and shown["started_at"] is not None
    r = await http.get("/api/v1/notifications", headers=rea.headers)
    assert [i["text"] for i in r.json()["items"] if i["type"] == "session_starting"] == \
        [f"{title} is starting"]
    hosted = [i for i in await _feed(http, fan) if i["verb"] == "hosted_session"]
    assert [i["object_id"] for i in hosted] == [str(sid)]


def test_finished_means_098_or_the_last_chapter() -> None:
    """A book counts as finished at progression 0.98, or in the last chapter of a table of
    contents with two chapters or more; the milestones fire only on the crossing move."""
    from domain.sessions.books import BookInfo
    from domain.sessions.social import finished, milestones

    toc = BookInfo(id=1, title="T", chapter_starts=(0.0, 0.2, 0.4, 0.6, 0.8))
    flat = BookInfo(id=2, title="F")
    one = BookInfo(id=3, title="O", chapter_starts=(0.0,))
    assert not finished(toc, 0.79) and finished(toc, 0.8) and finished(toc, 1.0)
    assert not finished(flat, 0.97) and finished(flat, 0.98) and not finished(flat, None)
    assert not finished(one, 0.5) and finished(one, 0.99)
    assert milestones(flat, None, 0.1) == (True, False)
    assert milestones(flat, None, 0.99) == (True, True)
    assert milestones(flat, 0.5, 0.99) == (False, True)
    assert milestones(flat, 0.99, 1.0) == (False, False)
    assert milestones(toc, 0.7, 0.85) == (False, True)
