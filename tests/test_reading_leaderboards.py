"""Leaderboards: operators, reset buckets, ties (subscore, then owner id), around-me and owner
queries, the pages-per-hour cap, a rebuild from PostgreSQL after the Redis keys are deleted
giving the same ranks, and the live top-N push from a real progress update."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from redis.asyncio import Redis

from domain.db import Database
from domain.keys import HISTORY_PART, room_key
from domain.reading import boards, leaderboards
from domain.reading.boards import BOARDS
from tests.accounts_helpers import UserSession, register
from tests.clubs_helpers import join, make_club
from tests.fixture_helpers import connected_db
from tests.hub_support import Client
from tests.reading_helpers import new_book, progress, put_state
from tests.support import ServerProcess


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


@pytest_asyncio.fixture
async def redis(engines) -> AsyncIterator[Redis]:  # type: ignore[no-untyped-def]
    client = Redis.from_url(engines.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def test_operators_buckets_and_packing() -> None:
    """set/best/incr/decr follow Nakama (decr clamps at 0); weeks start on Monday UTC, months
    on the 1st and years on 1 January, each its own bucket; packed scores order by score, then
    earlier subscore."""
    assert [boards.apply(op, 10, 4) for op in ("set", "best", "incr", "decr")] == [4, 10, 14, 6]
    assert boards.apply("decr", 3, 5) == 0 and boards.apply("best", None, 7) == 7
    sunday = datetime(2026, 3, 8, 23, 59, tzinfo=UTC)
    monday = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert boards.period_end("weekly", sunday) == int(monday.timestamp())
    assert boards.period_end("weekly", monday) == int((monday + timedelta(days=7)).timestamp())
    assert boards.previous_period_end("weekly", monday) == int(monday.timestamp())
    assert boards.period_end("monthly", datetime(2026, 12, 31, tzinfo=UTC)) == int(
        datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    assert boards.period_end("never", sunday) == 0
    new_year = datetime(2027, 1, 1, tzinfo=UTC)
    assert boards.period_end("yearly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == int(
        new_year.timestamp())
    assert boards.previous_period_end("yearly", new_year) == int(new_year.timestamp())
    assert boards.subscore("yearly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) > 0
    early = boards.packed(100, boards.subscore("weekly", monday + timedelta(hours=1)))
    late = boards.packed(100, boards.subscore("weekly", monday + timedelta(hours=2)))
    assert boards.packed(101, 0) > early > late
    assert boards.unpack(early)[0] == 100 and boards.owner(boards.member(42)) == 42
    assert boards.member(5) > boards.member(6)  # ZREVRANGE puts the lower id first on ties


async def _credit(db: Database, user_id: int, pages: int, at: datetime) -> list[Any]:
    async with db.pool.acquire() as conn, conn.transaction():
        return await leaderboards.credit(conn, user_id, pages=pages, books=0, at=at)


async def test_ties_around_me_rebuild_and_hourly_cap(http: httpx.AsyncClient, db: Database,
                                                     redis: Redis, unique: str) -> None:
    """In a past week, equal scores rank by who got there first, then the lower owner id;
    around-me and owner queries agree with the top; after the Redis keys are deleted the board
    is rebuilt from PostgreSQL with the same ranks; pages past the hourly cap are not scored."""
    users = [await register(http, f"{unique}{i}", prefix="l") for i in range(4)]
    a, b, c, d = sorted(users, key=lambda u: u.id)
    week = datetime(2031, 6, 2, 9, 0, tzinfo=UTC)  # a Monday
    for user, pages, minutes in ((c, 120, 10), (a, 120, 10), (b, 120, 5), (d, 50, 0)):
        scores = await _credit(db, user.id, pages, week + timedelta(minutes=minutes))
        await leaderboards.sync(redis, scores)
    period = boards.period_end("weekly", week)
    url = "/api/v1/leaderboards/pages-week"

    async def ranks() -> list[tuple[int, int, int]]:
        page = (await http.get(url, params={"period": period, "limit": 2})).json()
        rest = (await http.get(url, params={"period": period, "cursor": page["next_cursor"]})
                ).json()
        assert rest["next_cursor"] is None
        return [(e["rank"], e["owner"]["id"], e["score"]) for e in page["items"] + rest["items"]]

    expected = [(1, b.id, 120), (2, a.id, 120), (3, c.id, 120), (4, d.id, 50)]
    assert await ranks() == expected
    around = (await http.get(url + "/around-me", params={"period": period, "limit": 3},
                             headers=a.headers)).json()
    assert [(e["rank"], e["owner"]["id"]) for e in around["items"]] == [
        (1, b.id), (2, a.id), (3, c.id)]
    owners = (await http.get(url + "/owners", params={"period": period,
                                                      "id": [d.id, b.id, 10**12]})).json()
    assert [(e["rank"], e["owner"]["id"]) for e in owners["items"]] == [(1, b.id), (4, d.id)]
    await redis.delete(leaderboards.zkey("pages-week", period),
                       leaderboards.zkey("pages-week", period) + ":built")
    assert await ranks() == expected  # rebuilt from PostgreSQL on read
    capped = await _credit(db, d.id, 900, week + timedelta(minutes=1))  # 50 + 900 in one hour
    assert {s.board: s.score for s in capped}["pages-week"] == boards.PAGES_PER_HOUR
    later = await _credit(db, d.id, 30, week + timedelta(hours=1, minutes=1))  # the next hour
    assert {s.board: s.score for s in later}["pages-week"] == boards.PAGES_PER_HOUR + 30


async def test_bad_leaderboard_requests(http: httpx.AsyncClient, unique: str) -> None:
    """Unknown and internal boards answer 404, a bad cursor 422, around-me needs a login, a bad
    owner id 400; the list shows each public board's operator, reset and buckets."""
    assert (await http.get("/api/v1/leaderboards/nope")).status_code == 404
    r = await http.get("/api/v1/leaderboards/pages-hour")
    assert r.status_code == 404 and r.json()["code"] == "leaderboard_not_found"
    r = await http.get("/api/v1/leaderboards/pages-week", params={"cursor": "%%%"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
    assert (await http.get("/api/v1/leaderboards/pages-week/around-me")).status_code == 401
    r = await http.get("/api/v1/leaderboards/pages-week/owners", params={"id": 0})
    assert r.status_code == 422  # an id out of range in a query (the shared id contract)
    listed = {b["key"]: b for b in (await http.get("/api/v1/leaderboards")).json()}
    assert set(listed) == {k for k, b in BOARDS.items() if b.public}
    assert listed["pages-week"]["operator"] == "incr" and listed["pages-all"]["period"] == 0
    assert listed["books-month"]["previous_period"] < listed["books-month"]["period"]


async def _top_with(client: Client, room: str, user: UserSession, score: int) -> dict[str, Any]:
    def match(f: dict[str, Any]) -> bool:
        return (f["type"] == "event" and f["room"] == room and any(
            e["owner"] and e["owner"]["id"] == user.id and e["score"] == score
            for e in f["data"]["items"]))
    return await client.expect(match, timeout=10)


async def test_progress_update_pushes_live_top_and_own_rank(
        http: httpx.AsyncClient, server: ServerProcess, redis: Redis, unique: str) -> None:
    """A progress update scores the club board of the reader's club (a fresh board: only
    members since joining) through the real path; watchers of `leaderboard:club-pages-month:<id>`
    get the new top-N and the reader gets their rank on their user room, live only (never
    replayed nor stored in Redis: the rank is state REST serves); a private book scores
    nothing; friends scope lists me and whom I follow."""
    reader = await register(http, unique, prefix="p")
    friend = await register(http, unique, prefix="f")
    club = await make_club(http, friend, f"lb-{unique}")
    assert (await join(http, club["id"], reader)).status_code == 200
    board = f"club-pages-month:{club['id']}"
    book = await new_book(http, unique, page_count=400)
    watcher = await Client.login(server.ws_url, friend.id, origin=None)
    mine = await Client.login(server.ws_url, reader.id, origin=None)
    try:
        await watcher.ok("subscribe", room=f"leaderboard:{board}")
        before = await mine.ok("subscribe", room=f"user:{reader.id}")
        await progress(http, reader, book["id"], page=400)  # the whole book
        frame = await _top_with(watcher, f"leaderboard:{board}", reader, 400)
        assert frame["data"]["board"] == board
        assert [e["rank"] for e in frame["data"]["items"]] == [1]  # the friend read nothing
        rank = await mine.expect(lambda f: f["type"] == "event"
                                 and f.get("event") == "leaderboard_rank"
                                 and f["data"]["board"] == board, timeout=10)
        assert rank["data"]["rank"] == 1
        # live only: not numbered, not stored (a reconnect's replay has no rank events, and
        # a reader's user room keeps no history in Redis for them)
        assert "offset" not in rank and "epoch" not in rank
        await mine.ok("unsubscribe", room=f"user:{reader.id}")
        again = await mine.ok("subscribe", room=f"user:{reader.id}",
                              since={"epoch": before["epoch"], "offset": before["offset"]})
        assert again["recovered"] and again["offset"] == before["offset"]
        assert not await redis.exists(room_key(f"user:{reader.id}", HISTORY_PART))
    finally:
        await watcher.close()
        await mine.close()
    await put_state(http, reader, book["id"], status="read")
    secret = await new_book(http, unique + "s")
    await put_state(http, reader, secret["id"], status="reading", private=True)
    await progress(http, reader, secret["id"], page=100)
    r = await http.post(f"/api/v1/users/{reader.handle}/follow", headers=friend.headers)
    assert r.status_code == 200
    friends = (await http.get("/api/v1/leaderboards/pages-week/friends",
                              headers=friend.headers)).json()["items"]
    mine_entry = [e for e in friends if e["owner"]["id"] == reader.id]
    assert mine_entry and mine_entry[0]["score"] == 400  # the private book's pages not scored
    books = (await http.get("/api/v1/leaderboards/books-month/friends",
                            headers=friend.headers)).json()["items"]
    assert [e["score"] for e in books if e["owner"]["id"] == reader.id] == [1]
    top = (await http.get(f"/api/v1/leaderboards/{board}")).json()["items"]
    assert [(e["rank"], e["owner"]["id"], e["score"]) for e in top] == [(1, reader.id, 400)]


async def test_club_boards_rank_members_and_keep_secret_clubs_secret(
        http: httpx.AsyncClient, server: ServerProcess, unique: str) -> None:
    """A club board ranks only its members' pages since they joined (not what they read
    before); a private club's board is a 404 for outsiders over REST and an error frame on
    the socket, while members read it; a club board without its club is a clear 422."""
    owner = await register(http, unique, prefix="co")
    member = await register(http, unique, prefix="cm")
    outsider = await register(http, unique, prefix="cx")
    book = await new_book(http, unique, page_count=300)
    await progress(http, member, book["id"], page=100)  # before joining: not the club's
    club = await make_club(http, owner, f"lbs-{unique}", visibility="private")
    assert (await join(http, club["id"], member)).status_code == 200
    await progress(http, member, book["id"], page=250)
    board = f"/api/v1/leaderboards/club-pages-month:{club['id']}"
    items = (await http.get(board, headers=member.headers)).json()["items"]
    assert [(e["owner"]["id"], e["score"]) for e in items] == [(member.id, 150)]
    around = (await http.get(board + "/around-me", headers=member.headers)).json()["items"]
    assert [e["rank"] for e in around] == [1]
    for who in (outsider.headers, {}):
        r = await http.get(board, headers=who)
        assert r.status_code == 404 and r.json()["code"] == "leaderboard_not_found"
    r = await http.get("/api/v1/leaderboards/club-pages-month")
    assert r.status_code == 422 and r.json()["code"] == "club_board_needs_club"
    r = await http.get("/api/v1/leaderboards/pages-week:1")
    assert r.status_code == 404
    spy = await Client.login(server.ws_url, outsider.id, origin=None)
    try:
        frame = await spy.command("subscribe",
                                  room=f"leaderboard:club-pages-month:{club['id']}")
        assert frame["type"] == "error"
    finally:
        await spy.close()


async def test_hidden_profiles_keep_their_rank_but_not_their_name(
        http: httpx.AsyncClient, db: Database, redis: Redis, unique: str) -> None:
    """A reader with a private profile ranks on the board without a name for others, is left
    out when asked for by id, and sees their own entry with their name."""
    shy = await register(http, unique, prefix="s")
    other = await register(http, unique, prefix="o")
    r = await http.patch("/api/v1/me", json={"visibility": "private"}, headers=shy.headers)
    assert r.status_code == 200
    week = datetime(2031, 9, 1, 9, 0, tzinfo=UTC)  # a Monday
    for user, pages in ((shy, 200), (other, 100)):
        await leaderboards.sync(redis, await _credit(db, user.id, pages, week))
    period = boards.period_end("weekly", week)
    url = "/api/v1/leaderboards/pages-week"
    items = (await http.get(url, params={"period": period}, headers=other.headers)).json()["items"]
    assert [(e["rank"], e["owner"] and e["owner"]["id"], e["score"]) for e in items] == [
        (1, None, 200), (2, other.id, 100)]
    asked = (await http.get(url + "/owners", params={"period": period,
                                                     "id": [shy.id, other.id]})).json()
    assert [e["owner"]["id"] for e in asked["items"]] == [other.id]
    own = (await http.get(url + "/around-me", params={"period": period},
                          headers=shy.headers)).json()["items"]
    assert own[0]["owner"]["id"] == shy.id and own[0]["rank"] == 1


async def test_a_batch_of_credits_scores_like_one_credit_after_another(
        http: httpx.AsyncClient, db: Database, redis: Redis, unique: str) -> None:
    """The write-behind credits a whole batch at once: a reader credited twice in it (two books)
    gets both within the hourly cap, in the board they read, exactly as two credits in a row."""
    batch = [await register(http, f"{unique}b{i}", prefix="l") for i in range(2)]
    single = [await register(http, f"{unique}s{i}", prefix="l") for i in range(2)]
    at = datetime(2031, 7, 7, 9, 0, tzinfo=UTC)  # a Monday
    changes = [(batch[0].id, 120, 0), (batch[1].id, 40, 0), (batch[0].id, 900, 0)]
    async with db.pool.acquire() as conn, conn.transaction():
        scored = await leaderboards.credit_many(conn, changes, at)
    for pages_scores in scored:
        await leaderboards.sync(redis, pages_scores)
    for user, pages in ((single[0], 120), (single[1], 40), (single[0], 900)):
        await leaderboards.sync(redis, await _credit(db, user.id, pages, at))
    period = boards.period_end("weekly", at)
    page = (await http.get("/api/v1/leaderboards/pages-week/owners", params={
        "period": period, "id": [u.id for u in batch + single]})).json()
    score = {e["owner"]["id"]: e["score"] for e in page["items"]}
    assert score[batch[0].id] == score[single[0].id] == boards.PAGES_PER_HOUR
    assert score[batch[1].id] == score[single[1].id] == 40
    assert [s.score for s in scored[0] if s.board == "pages-week"] == [120]
