"""Review moderation and the rating aggregate: reports and the moderators' queue, hide/restore
with the aggregate following, reviewing bans, and ratings written concurrently through two
server processes adding up exactly."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from domain.accounts.service import create_admin
from domain.db import Database
from domain.reading.reviews import half_star_bucket, quarters
from tests.accounts_helpers import PASSWORD, UserSession, login, register
from tests.fixture_helpers import connected_db
from tests.reading_helpers import mine, new_book, put_state
from tests.support import ServerProcess


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


@pytest.fixture(scope="module")
def second_server(engines, tmp_path_factory) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    """A second uvicorn process on the same engines (another node)."""
    proc = ServerProcess(engines.env(READALONG_REGISTER_RATE="100000",
                                     READALONG_LOGIN_RATE="100000"),
                         log_dir=tmp_path_factory.mktemp("logs2")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def moderator(http: httpx.AsyncClient, db: Database, unique: str) -> UserSession:
    handle, email = f"mod{unique}", f"mod{unique}@example.test"
    user_id = await create_admin(db, email=email, handle=handle, password=PASSWORD)
    session = UserSession(id=user_id, handle=handle, email=email, password=PASSWORD,
                          access_token="", refresh_token="")
    session.update(await login(http, session))
    return session


async def test_report_hide_restore_and_ban(http: httpx.AsyncClient, db: Database,
                                           unique: str) -> None:
    """A reported review shows in the moderators' queue (not to readers: 403); hiding it takes
    it out of listings and the rating (its author still sees it, marked hidden) and resolves the
    report; restoring puts both back; a banned reader cannot write reviews until unbanned."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    mod = await moderator(http, db, unique)
    book = await new_book(http, unique)
    await put_state(http, alice, book["id"], status="read")
    r = await http.put(mine(book["id"], "/review"), json={"rating": 1, "body": "Buy pills"},
                       headers=alice.headers)
    rid = r.json()["id"]
    r = await http.post(f"/api/v1/reviews/{rid}/reports", json={"reason": "spam", "note": "ad"},
                        headers=bob.headers)
    assert r.status_code == 204, r.text
    r = await http.post(f"/api/v1/reviews/{rid}/reports", json={"reason": "spam"},
                        headers=bob.headers)
    assert r.status_code == 409 and r.json()["code"] == "already_reported"
    assert (await http.get("/api/v1/moderation/review-reports",
                           headers=bob.headers)).status_code == 403
    queue = (await http.get("/api/v1/moderation/review-reports", params={"limit": 100},
                            headers=mod.headers)).json()["items"]
    mine_reports = [q for q in queue if q["review_id"] == rid]
    assert len(mine_reports) == 1 and mine_reports[0]["reason"] == "spam"
    assert mine_reports[0]["note"] == "ad" and mine_reports[0]["reporter"]["handle"] == bob.handle
    r = await http.post(f"/api/v1/moderation/reviews/{rid}/hide", json={"reason": "spam"},
                        headers=bob.headers)
    assert r.status_code == 403
    r = await http.post(f"/api/v1/moderation/reviews/{rid}/hide", json={"reason": "spam"},
                        headers=mod.headers)
    assert r.status_code == 204, r.text
    assert (await http.get(f"/api/v1/reviews/{rid}", headers=bob.headers)).status_code == 404
    assert (await http.get(f"/api/v1/books/{book['id']}/reviews")).json()["items"] == []
    assert (await http.get(f"/api/v1/books/{book['id']}/rating")).json()["count"] == 0
    own = (await http.get(f"/api/v1/reviews/{rid}", headers=alice.headers)).json()
    assert own["hidden"] is True
    queue = (await http.get("/api/v1/moderation/review-reports", params={"limit": 100},
                            headers=mod.headers)).json()["items"]
    assert all(q["review_id"] != rid for q in queue)
    r = await http.post(f"/api/v1/moderation/reviews/{rid}/restore", json={"reason": "appeal"},
                        headers=mod.headers)
    assert r.status_code == 204
    assert (await http.get(f"/api/v1/books/{book['id']}/rating")).json()["count"] == 1
    assert (await http.get(f"/api/v1/reviews/{rid}", headers=bob.headers)).status_code == 200
    r = await http.put(f"/api/v1/moderation/review-bans/{alice.handle}",
                       json={"reason": "spam"}, headers=mod.headers)
    assert r.status_code == 204
    r = await http.put(mine(book["id"], "/review"), json={"rating": 2}, headers=alice.headers)
    assert r.status_code == 403 and r.json()["code"] == "review_banned"
    assert (await http.get(f"/api/v1/books/{book['id']}/rating")).json()["average"] == 1.0
    r = await http.delete(f"/api/v1/moderation/review-bans/{alice.handle}", headers=mod.headers)
    assert r.status_code == 204
    r = await http.put(mine(book["id"], "/review"), json={"rating": 2}, headers=alice.headers)
    assert r.status_code == 200


async def test_ratings_through_two_processes_add_up(http: httpx.AsyncClient,
                                                    second_server: ServerProcess,
                                                    unique: str) -> None:
    """Readers rating and re-rating one book at the same time through two server processes
    leave its count, average and histogram exactly what their final ratings give."""
    book = await new_book(http, unique)
    async with httpx.AsyncClient(base_url=second_server.base_url, timeout=30) as other:
        clients = [http, other]
        readers = [await register(http, f"{unique}{i}", prefix="q") for i in range(16)]
        for reader in readers:
            await put_state(http, reader, book["id"], status="read")
        rng = random.Random(7)
        first = [rng.choice([0.5, 1.25, 2, 3.75, 3.8, 4.5, 5]) for _ in readers]
        final = [rng.choice([1, 2.5, 3, 4.25, 5]) for _ in readers]

        async def rate(i: int, value: float) -> None:
            r = await clients[i % 2].put(mine(book["id"], "/review"), json={"rating": value},
                                         headers=readers[i].headers)
            assert r.status_code == 200, r.text

        await asyncio.gather(*(rate(i, v) for i, v in enumerate(first)))
        await asyncio.gather(*(rate(i, v) for i, v in enumerate(final)))
        got = (await other.get(f"/api/v1/books/{book['id']}/rating")).json()
    qs = [quarters(v) for v in final]
    histogram = [0] * 10
    for q in qs:
        histogram[half_star_bucket(q) - 1] += 1
    assert got["count"] == len(readers) and got["histogram"] == histogram
    assert got["average"] == round(sum(qs) / 4 / len(qs), 2)
