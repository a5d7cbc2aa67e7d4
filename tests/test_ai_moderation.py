"""Moderation assist: spam and abuse are flagged for moderators, nothing is ever removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from domain.ai.moderation import THRESHOLD, score
from domain.jobqueue import enqueue
from tests.catalog_helpers import auth
from tests.clubs_helpers import make_club
from tests.test_sessions_helpers import db_exec, live_session, make_book, users
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


def test_the_heuristic_flags_spam_and_abuse_not_ordinary_chat() -> None:
    """Spam links and phrases, insults and shouting score over the threshold; book talk and a
    single link do not."""
    bad = ["BUY NOW cheap pills http://x.test http://y.test",
           "you are an idiot and a loser",
           "FREE MONEY!!!!!!!!!! click here www.spam.test",
           "@a @b @c @d @e @f join my crypto giveaway"]
    good = ["I loved the storm chapter, the waves felt so real.",
            "Here is the map of Ithaca I mentioned: https://maps.example.test/ithaca",
            "Chapter 3 made me cry. Did anyone else feel that?"]
    for text in bad:
        assert score(text)[0] >= THRESHOLD, text
    for text in good:
        assert score(text)[0] < THRESHOLD, text
    assert "abusive language" in score("what a moron")[1]


async def test_the_worker_flags_for_the_queue_and_deletes_nothing(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """After the sweep, the spam message is in the moderators' flag list with its reasons, the
    ordinary one is not, both messages are still there; readers get 403."""
    host, _ = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Mod {unique}")
    sid = (await live_session(http, host, book))["id"]
    rows = await db_exec(engines.database_url,
                         "INSERT INTO session_messages (session_id, author_id, body, gate) "
                         "VALUES ($1, $2, $3, 0), ($1, $2, $4, 0) RETURNING id", sid, host.id,
                         "What a lovely first chapter.",
                         f"BUY NOW {unique} http://spam.test http://spam2.test")
    good_id, spam_id = rows[0]["id"], rows[1]["id"]
    async with db_and_redis(engines) as (_, redis):
        await enqueue(redis, "ai_moderation")
        await run_worker(worker_settings(engines))
    r = await http.get("/api/v1/moderation/ai-flags", headers=auth("moderator"))
    assert r.status_code == 200, r.text
    mine = {f["target_id"]: f for f in r.json() if f["kind"] == "message"}
    assert spam_id in mine and good_id not in mine
    assert {"links", "spam phrase"} <= set(mine[spam_id]["reasons"])
    left = await db_exec(engines.database_url, "SELECT count(*) AS n FROM session_messages "
                         "WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL",
                         [good_id, spam_id])
    assert left[0]["n"] == 2
    assert (await http.get("/api/v1/moderation/ai-flags",
                           headers=host.headers)).status_code == 403


async def test_club_chat_and_thread_posts_are_scored_too(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """Spam in a club's chat and in a section thread reaches the flag list with its kind."""
    owner, _ = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"Mod club {unique}")
    club = await make_club(http, owner, f"mod-{unique}", book_id=book)
    opens = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = await http.post(f"/api/v1/clubs/{club['id']}/schedule", headers=owner.headers, json={
        "sections": [{"title": "One", "start": 0.0, "end": 0.5, "opens_at": opens}]})
    section = r.json()["items"][0]["id"]
    spam = f"BUY NOW {unique} http://spam.test http://spam2.test"
    chat = await db_exec(engines.database_url, "INSERT INTO club_messages (club_id, author_id, "
                         "body, gate) VALUES ($1, $2, $3, 0) RETURNING id", club["id"],
                         owner.id, spam)
    post = await db_exec(engines.database_url, "INSERT INTO club_thread_messages (section_id, "
                         "author_id, body, gate) VALUES ($1, $2, $3, 0) RETURNING id", section,
                         owner.id, spam)
    async with db_and_redis(engines) as (_, redis):
        await enqueue(redis, "ai_moderation")
        await run_worker(worker_settings(engines))
    got = {(f["kind"], f["target_id"]) for f in (await http.get(
        "/api/v1/moderation/ai-flags", params={"limit": 100},
        headers=auth("moderator"))).json()}
    assert ("club_message", chat[0]["id"]) in got and ("club_post", post[0]["id"]) in got
