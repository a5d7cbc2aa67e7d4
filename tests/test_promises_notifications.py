"""README promises of notifications and feeds that had no test: email skipped once read in the
app, `in_app` off, read-all up to an id, one-click unsubscribe, follow requests and their
acceptance, the push subscription cap and a 404 removing one, muted followers skipped by the
feed fan-out, and feed pages past the Redis cap served from PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.feeds.service import feed_key, record_activity
from domain.notifications.service import notify
from tests.accounts_helpers import UserSession, register
from tests.hub_support import Client
from tests.support import ServerProcess
from tests.worker_helpers import (
    PushEndpoint,
    body_of,
    db_and_redis,
    run_worker,
    smtp_server,
    start_push_endpoint,
    worker_settings,
)

NOTIFICATIONS = "/api/v1/notifications"


async def _mention(engines: Any, recipient: int, actor: int, where: str) -> int:
    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, redis, recipient_id=recipient, type="mention", actor_id=actor,
                           target_kind="room", target_id=f"lobby:{where}",
                           payload={"where": where})
    assert nid is not None
    return nid


async def _inbox(http: httpx.AsyncClient, user: UserSession) -> dict[str, Any]:
    r = await http.get(NOTIFICATIONS, headers=user.headers, params={"limit": 50})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_email_is_skipped_when_read_in_the_app_first(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A notification read in the app before its email goes out is never emailed; an unread
    one next to it is."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    read_first = await _mention(engines, bea.id, ana.id, "the early chat")
    await _mention(engines, bea.id, ana.id, "the late chat")
    r = await http.post(f"{NOTIFICATIONS}/{read_first}/read", headers=bea.headers)
    assert r.status_code == 200 and r.json() == {"unread_count": 1}, r.text
    async with smtp_server() as (box, port):
        await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port)))
        assert [m["Subject"] for m in box.to(bea.email)] == ["Ana mentioned you in the late chat"]
    async with db_and_redis(engines) as (db, _):
        assert await db.pool.fetchval("SELECT email_state FROM notifications WHERE id = $1",
                                      read_first) == "skipped"


async def test_in_app_off_stores_it_read_and_does_not_announce_it(
        http: httpx.AsyncClient, engines: Any, server: ServerProcess, unique: str) -> None:
    """With `in_app` off for a type, its notifications are stored already read (no badge) and
    never announced on the user's room, while other types still are."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    r = await http.put(f"{NOTIFICATIONS}/preferences", headers=bea.headers,
                       json={"types": {"mention": {"in_app": False, "email": False}}})
    assert r.status_code == 200, r.text
    live = await Client.login(server.ws_url, bea.id, origin=None)
    await live.ok("subscribe", room=f"user:{bea.id}")
    quiet = await _mention(engines, bea.id, ana.id, "a quiet room")
    r = await http.post(f"/api/v1/users/{bea.handle}/follow", headers=ana.headers)
    assert r.status_code == 200, r.text  # new_follower keeps in_app on
    await run_worker(worker_settings(engines))
    loud = await live.expect(lambda f: f["type"] == "event" and f["event"] == "notification")
    assert loud["data"]["notification"]["type"] == "new_follower"
    assert (await live.command("ping"))["type"] == "ack"
    assert [f for f in live.inbox if f.get("event") == "notification"] == []
    await live.close()
    inbox = await _inbox(http, bea)
    stored = {n["id"]: n for n in inbox["items"]}
    assert stored[quiet]["read"] is True and stored[quiet]["type"] == "mention"
    assert inbox["unread_count"] == 1  # only the follower one


async def test_read_all_up_to_an_id_leaves_newer_ones_unread(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """`read-all {up_to_id}` marks that notification and older ones read, not newer ones;
    without a body it marks all."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    ids = [await _mention(engines, bea.id, ana.id, f"room {i}") for i in range(3)]
    r = await http.post(f"{NOTIFICATIONS}/read-all", headers=bea.headers,
                        json={"up_to_id": ids[1]})
    assert r.status_code == 200 and r.json() == {"unread_count": 1}, r.text
    read = {n["id"]: n["read"] for n in (await _inbox(http, bea))["items"]}
    assert read == {ids[0]: True, ids[1]: True, ids[2]: False}
    r = await http.post(f"{NOTIFICATIONS}/read-all", headers=bea.headers)
    assert r.status_code == 200 and r.json() == {"unread_count": 0}, r.text


async def test_one_click_unsubscribe_is_a_post_without_login(
        http: httpx.AsyncClient, engines: Any, server: ServerProcess, unique: str) -> None:
    """An email carries RFC 8058 headers; POSTing `List-Unsubscribe=One-Click` to its link, with
    no login, switches that type's email off (no page to click through) and no more come."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    async with smtp_server() as (box, port):
        settings = worker_settings(engines, READALONG_SMTP_PORT=str(port),
                                   READALONG_PUBLIC_URL=server.base_url)
        await _mention(engines, bea.id, ana.id, "chat")
        await run_worker(settings)
        [msg] = box.to(bea.email)
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        match = re.fullmatch(r"<(\S+)>", msg["List-Unsubscribe"])
        assert match is not None
        async with httpx.AsyncClient(timeout=10) as anonymous:
            r = await anonymous.post(match.group(1), data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 200, r.text
            assert r.json() == {"user_id": bea.id, "type": "mention", "email": False}
        prefs = (await http.get(f"{NOTIFICATIONS}/preferences", headers=bea.headers)).json()
        assert prefs["types"]["mention"]["email"] is False
        assert prefs["types"]["follow_request"]["email"] is True  # only that type
        await _mention(engines, bea.id, ana.id, "chat again")
        await run_worker(settings)
        assert len(box.to(bea.email)) == 1
        assert "Unsubscribe" in body_of(msg, "plain")


async def test_follow_request_and_its_acceptance_notify_both_sides(
        http: httpx.AsyncClient, unique: str) -> None:
    """Following a followers-only profile notifies its owner with `follow_request`; approving
    it notifies the requester with `follow_accepted`."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea", display_name="Bea")
    r = await http.patch("/api/v1/me", headers=bea.headers, json={"visibility": "followers"})
    assert r.status_code == 200, r.text
    r = await http.post(f"/api/v1/users/{bea.handle}/follow", headers=ana.headers)
    assert r.status_code == 200 and r.json()["state"] == "requested", r.text
    [asked] = (await _inbox(http, bea))["items"]
    assert (asked["type"], asked["text"]) == ("follow_request", "Ana asked to follow you")
    assert [a["id"] for a in asked["actors"]] == [ana.id]
    assert (await _inbox(http, ana))["items"] == []
    r = await http.post(f"/api/v1/me/follow-requests/{ana.handle}", headers=bea.headers)
    assert r.status_code in (200, 204), r.text
    [accepted] = (await _inbox(http, ana))["items"]
    assert (accepted["type"], accepted["text"]) == (
        "follow_accepted", "Bea accepted your follow request")
    relation = (await http.get(f"/api/v1/users/{bea.handle}", headers=ana.headers)).json()
    assert relation["relation"]["following"] is True


async def test_push_subscriptions_are_capped_at_20_and_a_404_removes_one(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A user may keep 20 push subscriptions (re-sending one of them is fine, a 21st is 422
    `too_many_subscriptions`); a push service answering 404 gets its subscription deleted."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    missing = PushEndpoint(status=404)
    httpd = start_push_endpoint(missing)
    try:
        first = missing.subscription
        r = await http.post("/api/v1/push/subscriptions", headers=bea.headers, json=first)
        assert r.status_code == 201, r.text
        dead_id = r.json()["id"]
        for i in range(19):  # 19 more, on a port nothing listens on (never pushed to)
            sub = {**first, "endpoint": f"http://127.0.0.1:9/push/{unique}/{i}"}
            r = await http.post("/api/v1/push/subscriptions", headers=bea.headers, json=sub)
            assert r.status_code == 201, (i, r.text)
        r = await http.post("/api/v1/push/subscriptions", headers=bea.headers,
                            json={**first, "endpoint": f"http://127.0.0.1:9/push/{unique}/x"})
        assert r.status_code == 422 and r.json()["code"] == "too_many_subscriptions", r.text
        r = await http.post("/api/v1/push/subscriptions", headers=bea.headers, json=first)
        assert r.status_code == 201, r.text  # the same endpoint again: still one of the 20
        listed = (await http.get("/api/v1/push/subscriptions", headers=bea.headers)).json()
        assert len(listed) == 20
        # keep only the 404 one, then push to it
        for s in listed:
            if s["id"] != dead_id:
                r = await http.delete(f"/api/v1/push/subscriptions/{s['id']}",
                                      headers=bea.headers)
                assert r.status_code == 204, r.text
        async with db_and_redis(engines) as (db, redis):
            await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                         target_kind="room", target_id="lobby:gone")
        await run_worker(worker_settings(engines))
        assert len(missing.headers) == 1
        assert (await http.get("/api/v1/push/subscriptions", headers=bea.headers)).json() == []
    finally:
        httpd.shutdown()


async def _activity(engines: Any, actor: UserSession, title: str) -> int:
    async with db_and_redis(engines) as (db, redis):
        return await record_activity(db, redis, actor_id=actor.id, verb="started_book",
                                     object_kind="book", object_id=title,
                                     payload={"title": title})


async def _feed_ids(http: httpx.AsyncClient, user: UserSession, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(100):
        r = await http.get("/api/v1/feed", headers=user.headers,
                           params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids
    raise AssertionError("feed pages did not end")


async def test_feed_fanout_skips_followers_who_muted_the_author(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """An activity is fanned out to the author's followers except those who muted the author."""
    author = await register(http, unique, prefix="au")
    fan = await register(http, unique, prefix="fan")
    muter = await register(http, unique, prefix="mu")
    for follower in (fan, muter):
        r = await http.post(f"/api/v1/users/{author.handle}/follow", headers=follower.headers)
        assert r.status_code == 200, r.text
    settings = worker_settings(engines)
    await run_worker(settings)
    for follower in (fan, muter):
        assert await _feed_ids(http, follower, 10) == []  # both feeds exist in Redis now
    r = await http.post(f"/api/v1/users/{author.handle}/mute", headers=muter.headers)
    assert r.status_code == 204, r.text
    await run_worker(settings)
    act = await _activity(engines, author, "Middlemarch")
    await run_worker(settings)
    async with db_and_redis(engines) as (_, redis):
        fans = {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)}
        muters = {int(m) for m in await redis.zrange(feed_key(muter.id), 0, -1)}
    assert act in fans and act not in muters
    assert await _feed_ids(http, fan, 10) == [act]
    assert await _feed_ids(http, muter, 10) == []


@pytest.fixture(scope="module")
def small_feeds(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A server whose Redis feeds keep only 4 items."""
    proc = ServerProcess(engines.env(READALONG_FEED_SIZE="4", READALONG_REGISTER_RATE="100000",
                                     READALONG_LOGIN_RATE="100000"),
                         log_dir=tmp_path_factory.mktemp("smallfeeds")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_feed_pages_past_the_redis_cap_come_from_postgres(
        small_feeds: ServerProcess, engines: Any, unique: str) -> None:
    """With READALONG_FEED_SIZE=4, Redis keeps the newest 4 ids of a feed, yet paging on
    returns all 9 activities, newest first, with none repeated or missing."""
    settings = worker_settings(engines, READALONG_FEED_SIZE="4")
    async with httpx.AsyncClient(base_url=small_feeds.base_url, timeout=15) as http:
        author = await register(http, unique, prefix="au")
        fan = await register(http, unique, prefix="fan")
        r = await http.post(f"/api/v1/users/{author.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text
        await run_worker(settings)
        assert await _feed_ids(http, fan, 3) == []
        made = [await _activity(engines, author, f"Volume {i}") for i in range(9)]
        await run_worker(settings)
        async with db_and_redis(engines) as (_, redis):
            kept = [int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1) if m != b"0"]
        assert sorted(kept) == sorted(made)[-4:]
        for limit in (3, 4, 5, 20):
            assert await _feed_ids(http, fan, limit) == made[::-1], limit
