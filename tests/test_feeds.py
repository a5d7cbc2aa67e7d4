"""Home feeds: fan-out by the worker, order and paging, rebuild from Postgres, unfollow/block
removal, visibility of followers-only and private profiles, and read-time merge of big authors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec

from domain.feeds.service import BIG_AUTHORS, feed_key, home_feed, record_activity
from tests.accounts_helpers import register
from tests.hub_support import Client
from tests.support import ServerProcess
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


async def _feed(http: httpx.AsyncClient, user: Any, **params: Any) -> dict[str, Any]:
    r = await http.get("/api/v1/feed", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _all(http: httpx.AsyncClient, user: Any, limit: int = 2) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = await _feed(http, user, limit=limit, **({"cursor": cursor} if cursor else {}))
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


async def _follow(http: httpx.AsyncClient, who: Any, whom: Any) -> str:
    r = await http.post(f"/api/v1/users/{whom.handle}/follow", headers=who.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


async def _act(engines: Any, actor: Any, verb: str, title: str) -> int:
    async with db_and_redis(engines) as (db, redis):
        return await record_activity(db, redis, actor_id=actor.id, verb=verb, object_kind="book",
                                     object_id=title, payload={"title": title})


async def test_feed_shows_followed_activity_in_order_live_and_rebuilt(
        http: httpx.AsyncClient, server: ServerProcess, engines: Any, unique: str) -> None:
    """A follower's feed lists followed readers' activities newest first (paged), each is
    announced live on their user room (not replayed on reconnect), a later follow backfills,
    and a lost Redis feed is rebuilt from Postgres with the same items."""
    fan = await register(http, unique, prefix="fan", display_name="Fan")
    bo = await register(http, unique, prefix="bo", display_name="Bo")
    cy = await register(http, unique, prefix="cy", display_name="Cy")
    di = await register(http, unique, prefix="di", display_name="Di")
    await _follow(http, fan, bo)
    await _follow(http, fan, cy)
    settings = worker_settings(engines)
    await run_worker(settings)
    assert (await _feed(http, fan))["items"] == []  # builds the (empty) feed
    live = await Client.login(server.ws_url, fan.id, origin=None)
    first = await live.ok("subscribe", room=f"user:{fan.id}")
    ids = [await _act(engines, bo, "started_book", "Dune"),
           await _act(engines, cy, "finished_book", "Emma"),
           await _act(engines, bo, "finished_book", "Dune")]
    d1 = await _act(engines, di, "started_book", "Ulysses")  # not followed (yet)
    await run_worker(settings)
    announced = [(await live.expect(lambda f: f["type"] == "event" and f["event"] == "feed"))
                 ["data"]["activity_id"] for _ in ids]
    assert sorted(announced) == sorted(ids)
    await live.close()
    # announcements are live only: a reconnect replays none (the feed below has them)
    back = await Client.login(server.ws_url, fan.id, origin=None)
    again = await back.ok("subscribe", room=f"user:{fan.id}",
                          since={"epoch": first["epoch"], "offset": first["offset"]})
    assert again["recovered"] is True and again["offset"] == first["offset"]
    await back.close()
    page = await _feed(http, fan, limit=2)
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    assert page["items"][0]["text"] == "Bo finished Dune"
    assert page["items"][0]["actor"]["handle"] == bo.handle
    assert await _all(http, fan) == ids[::-1]

    await _follow(http, fan, di)  # backfill by a job
    await run_worker(settings)
    expected = sorted([*ids, d1], reverse=True)
    assert await _all(http, fan) == expected
    async with db_and_redis(engines) as (_, redis):
        assert d1 in {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)}
        await redis.delete(feed_key(fan.id))
    assert await _all(http, fan) == expected
    assert await _all(http, fan, limit=3) == expected
    # Fan's own follow of Di is an activity in Fan's followers' feeds, not in Fan's own
    assert all(i["actor"]["id"] != fan.id for i in (await _feed(http, fan, limit=50))["items"])


async def test_unfollow_and_block_remove_items(http: httpx.AsyncClient, engines: Any,
                                               unique: str) -> None:
    """Unfollowing or blocking an author removes their activities from the feed (by a job)."""
    fan = await register(http, unique, prefix="fan")
    bo = await register(http, unique, prefix="bo")
    cy = await register(http, unique, prefix="cy")
    await _follow(http, fan, bo)
    await _follow(http, fan, cy)
    await _follow(http, cy, fan)
    settings = worker_settings(engines)
    await run_worker(settings)
    await _feed(http, fan)
    await _feed(http, cy)
    b = await _act(engines, bo, "started_book", "Dune")
    c = await _act(engines, cy, "started_book", "Emma")
    f = await _act(engines, fan, "started_book", "Kim")
    await run_worker(settings)
    async with db_and_redis(engines) as (db, _):  # Cy's follow of Fan is an activity too
        followed = await db.pool.fetchval("SELECT id FROM activities WHERE actor_id = $1"
                                          " AND verb = 'followed'", cy.id)
    assert await _all(http, fan) == [c, b, followed]
    assert f in await _all(http, cy)
    assert (await http.delete(f"/api/v1/users/{bo.handle}/follow",
                              headers=fan.headers)).status_code == 204
    await run_worker(settings)
    async with db_and_redis(engines) as (_, redis):
        members = {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)}
    assert b not in members and c in members
    assert await _all(http, fan) == [c, followed]
    # Cy blocks Fan: each leaves the other's feed
    assert (await http.post(f"/api/v1/users/{fan.handle}/block",
                            headers=cy.headers)).status_code == 204
    await run_worker(settings)
    async with db_and_redis(engines) as (_, redis):
        members = {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)}
        theirs = {int(m) for m in await redis.zrange(feed_key(cy.id), 0, -1)}
    assert c not in members and f not in theirs
    assert await _all(http, fan) == []
    assert f not in await _all(http, cy)


async def test_private_profiles_activity_never_reaches_non_followers(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A followers-only reader's activity reaches approved followers only; once private, it
    reaches nobody."""
    pia = await register(http, unique, prefix="pia", display_name="Pia")
    fol = await register(http, unique, prefix="fol")
    ask = await register(http, unique, prefix="ask")
    out = await register(http, unique, prefix="out")
    r = await http.patch("/api/v1/me", headers=pia.headers, json={"visibility": "followers"})
    assert r.status_code == 200, r.text
    assert await _follow(http, fol, pia) == "requested"
    assert await _follow(http, ask, pia) == "requested"
    r = await http.post(f"/api/v1/me/follow-requests/{fol.handle}", headers=pia.headers)
    assert r.status_code == 200, r.text
    settings = worker_settings(engines)
    await run_worker(settings)
    for reader in (fol, ask, out):
        await _feed(http, reader)
    a1 = await _act(engines, pia, "started_book", "Secret Book")
    await run_worker(settings)
    assert await _all(http, fol) == [a1]
    assert await _all(http, ask) == [] and await _all(http, out) == []
    async with db_and_redis(engines) as (_, redis):
        for reader in (ask, out):
            assert a1 not in {int(m) for m in await redis.zrange(feed_key(reader.id), 0, -1)}
    r = await http.patch("/api/v1/me", headers=pia.headers, json={"visibility": "private"})
    assert r.status_code == 200
    a2 = await _act(engines, pia, "finished_book", "Secret Book")
    await run_worker(settings)
    assert await _all(http, fol) == []
    async with db_and_redis(engines) as (_, redis):
        assert a2 not in {int(m) for m in await redis.zrange(feed_key(fol.id), 0, -1)}
        await redis.delete(feed_key(fol.id))
    assert await _all(http, fol) == []


async def test_big_authors_are_merged_at_read_time(http: httpx.AsyncClient, engines: Any,
                                                   unique: str) -> None:
    """An author with more followers than the fan-out threshold is not written into feeds but
    still shows up in each follower's feed, merged in order at read time."""
    star = await register(http, unique, prefix="star", display_name="Star")
    small = await register(http, unique, prefix="small", display_name="Small")
    fans = [await register(http, unique, prefix=f"f{i}") for i in range(3)]
    for f in fans:
        await _follow(http, f, star)
    await _follow(http, fans[0], small)
    settings = worker_settings(engines, READALONG_FEED_FANOUT_MAX="2")
    await run_worker(settings)
    for f in fans:
        await _feed(http, f)
    s1 = await _act(engines, star, "started_book", "Big Book")
    m1 = await _act(engines, small, "started_book", "Small Book")
    s2 = await _act(engines, star, "finished_book", "Big Book")
    await run_worker(settings)
    async with db_and_redis(engines) as (_, redis):
        assert str(star.id).encode() in await redis.smembers(BIG_AUTHORS)
        members = {int(m) for m in await redis.zrange(feed_key(fans[0].id), 0, -1)}
        assert m1 in members and s1 not in members and s2 not in members
    assert await _all(http, fans[0]) == [s2, m1, s1]
    assert await _all(http, fans[1]) == [s2, s1]
    async with db_and_redis(engines) as (_, redis):
        await redis.srem(BIG_AUTHORS, str(star.id))


async def test_pages_past_the_capped_feed_and_past_hidden_authors(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """Walking a feed page by page lists every followed activity once, newest first, also past
    the end of the capped Redis feed (older pages come from Postgres) and when a muted author's
    items, still in Redis, fill several windows of candidates before a visible one; a feed
    rebuilt while the author is muted leaves their items out."""
    fan = await register(http, unique, prefix="fan")
    bo = await register(http, unique, prefix="bo")
    cy = await register(http, unique, prefix="cy")
    await _follow(http, fan, bo)
    await _follow(http, fan, cy)
    mine = [await _act(engines, cy, "started_book", f"Old {i}") for i in range(2)]
    theirs = [await _act(engines, bo, "started_book", f"Loud {i}") for i in range(12)]
    settings = msgspec.structs.replace(worker_settings(engines), feed_size=3)
    async with db_and_redis(engines) as (db, redis):
        await redis.delete(feed_key(fan.id))

        async def walk(limit: int) -> list[int]:
            ids: list[int] = []
            cursor = None
            for _ in range(50):
                page = await home_feed(db, redis, settings, fan.id, cursor=cursor, limit=limit)
                ids += [i.id for i in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    return ids
            raise AssertionError("the walk did not end")

        everything = sorted(mine + theirs, reverse=True)
        assert await walk(2) == everything
        assert await redis.zcard(feed_key(fan.id)) == 4  # capped: 3 ids and the marker
        assert await walk(5) == everything
        # a feed of the whole size, then bo muted: bo's 12 newest fill the first windows
        await redis.delete(feed_key(fan.id))
        full = msgspec.structs.replace(settings, feed_size=500)
        assert len((await home_feed(db, redis, full, fan.id, limit=20)).items) == 14
        r = await http.post(f"/api/v1/users/{bo.handle}/mute", headers=fan.headers)
        assert r.status_code == 204  # (its clean-up job is not run: bo's ids stay in Redis)
        assert {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)} >= set(theirs)
        page = await home_feed(db, redis, full, fan.id, limit=2)
        assert [i.id for i in page.items] == mine[::-1] and page.next_cursor is None
        assert [i.text for i in page.items] == [f"User {cy.handle} started reading Old {i}"
                                                for i in (1, 0)]
        # rebuilt from Postgres while bo is muted: bo's ids do not even enter the Redis feed
        await redis.delete(feed_key(fan.id))
        page = await home_feed(db, redis, settings, fan.id, limit=5)
        assert [i.id for i in page.items] == mine[::-1] and page.next_cursor is None
        assert not {int(m) for m in await redis.zrange(feed_key(fan.id), 0, -1)} & set(theirs)


async def test_bad_feed_requests_are_refused(http: httpx.AsyncClient, unique: str) -> None:
    """A bad cursor or limit gets 422; no token gets 401."""
    fan = await register(http, unique, prefix="fan")
    for params in ({"cursor": "x1"}, {"limit": 0}, {"limit": 1000}):
        r = await http.get("/api/v1/feed", headers=fan.headers, params=params)
        assert r.status_code == 422, r.text
    assert (await http.get("/api/v1/feed")).status_code == 401


async def test_first_reads_at_once_and_a_cold_feed_the_fanout_wrote(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """Two first reads of a feed at once (two tabs) both answer the whole page, and a cold
    feed the fan-out already wrote into (no marker yet) is completed from Postgres, not
    replaced: every followed activity is listed once, newest first."""
    fan = await register(http, unique, prefix="fan")
    bo = await register(http, unique, prefix="bo")
    await _follow(http, fan, bo)
    older = [await _act(engines, bo, "started_book", f"Old {i}") for i in range(3)]
    settings = worker_settings(engines)
    await run_worker(settings)
    async with db_and_redis(engines) as (db, redis):
        await redis.delete(feed_key(fan.id))
        newer = await _act(engines, bo, "finished_book", "Old 2")
        await run_worker(settings)  # the fan-out writes into the cold feed: ids, no marker
        assert await redis.zscore(feed_key(fan.id), "0") is None
        assert await redis.zrange(feed_key(fan.id), 0, -1) == [str(newer).encode()]
        pages = await asyncio.gather(*(home_feed(db, redis, settings, fan.id, limit=10)
                                       for _ in range(2)))
        expected = [newer, *older[::-1]]
        assert [[i.id for i in p.items] for p in pages] == [expected, expected]
        assert await redis.zscore(feed_key(fan.id), "0") == 0
        assert await redis.zcard(feed_key(fan.id)) == 5  # four ids and the marker
    assert await _all(http, fan) == expected
