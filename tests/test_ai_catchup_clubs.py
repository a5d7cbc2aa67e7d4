"""Catch-up summaries of club chat and club section threads: gated by each member's own
progress in the club's book (the shield's one rule), and "since your last visit"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, read_to
from tests.test_sessions_helpers import db_exec, make_book
from tests.worker_helpers import run_worker, worker_settings

SAFE = ["The keeper's letters to his sister are lovely. I want more of them.",
        "The storm in part two felt very real. The waves were terrifying!",
        "His sister sounds funny and warm. I like her a lot."]
SECRETS = ["Part two ends when ZQXSECRET the tower falls into the sea.",
           "Later ZQXTWIST reveals the letters were forged."]


def _no_secret(anything: Any) -> None:
    assert "ZQX" not in json.dumps(anything), "a word from beyond the member's position leaked"


async def _post(url: str, table: str, col: str, place: int, author: int, body: str,
                gate: float) -> int:
    rows = await db_exec(url, f"INSERT INTO {table} ({col}, author_id, body, gate) "
                         "VALUES ($1, $2, $3, $4) RETURNING id", place, author, body, gate)
    return int(rows[0]["id"])


async def _summary(http: httpx.AsyncClient, engines: Any, path: str, who: Any,
                   **body: Any) -> dict[str, Any]:
    r = await http.post(path, json=body, headers=who.headers)
    if r.status_code == 202:
        await run_worker(worker_settings(engines))
        params = {"since": body["since"]} if "since" in body else {}
        r = await http.get(path, params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_thread_and_club_chat_summaries_follow_each_members_progress(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A member at 0.3 gets a summary of the section thread and of club chat without the posts
    gated beyond 0.3; a member at 0.9 gets them; an outsider of the private club is refused,
    and a section of another club is 404."""
    owner = await register(http, unique, prefix="co")
    behind = await register(http, unique, prefix="cb")
    ahead = await register(http, unique, prefix="ca")
    outsider = await register(http, unique, prefix="cx")
    book = await make_book(engines.database_url, f"Club catchup {unique}")
    club = await make_club(http, owner, f"cu-{unique}", book_id=book, visibility="private")
    cid = club["id"]
    for member, at in ((behind, 0.3), (ahead, 0.9)):
        assert (await join(http, cid, member)).status_code == 200
        await read_to(http, member, book, at)
    opens = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "Part two", "start": 0.2, "end": 0.4, "opens_at": opens}]})
    assert r.status_code in (200, 201), r.text
    section = r.json()["items"][0]["id"]
    url = engines.database_url
    for i, body in enumerate(SAFE):
        await _post(url, "club_thread_messages", "section_id", section, ahead.id, body, 0.2)
        await _post(url, "club_messages", "club_id", cid, ahead.id, body, 0.05 * (i + 1))
    await _post(url, "club_thread_messages", "section_id", section, ahead.id, SECRETS[0], 0.4)
    await _post(url, "club_messages", "club_id", cid, ahead.id, SECRETS[1], 0.8)

    thread = f"/api/v1/clubs/{cid}/sections/{section}/catch-up"
    got = await _summary(http, engines, thread, behind)
    _no_secret(got)
    assert got["kind"] == "club_thread" and got["place_id"] == section
    assert got["messages"] == len(SAFE) and got["withheld"] == 1 and got["sentences"]
    assert all(s["author_id"] == ahead.id for s in got["sentences"])
    chat = await _summary(http, engines, f"/api/v1/clubs/{cid}/catch-up", behind)
    _no_secret(chat)
    assert chat["kind"] == "club" and chat["messages"] == len(SAFE) and chat["withheld"] == 1
    full = await _summary(http, engines, thread, ahead)
    assert full["messages"] == len(SAFE) + 1 and full["withheld"] == 0

    r = await http.post(thread, json={}, headers=outsider.headers)
    assert r.status_code in (403, 404), r.text
    other = await make_club(http, owner, f"cv-{unique}", book_id=book)
    r = await http.post(f"/api/v1/clubs/{other['id']}/sections/{section}/catch-up", json={},
                        headers=behind.headers)
    assert r.status_code == 404 and r.json()["code"] == "section_not_found"


async def test_since_my_last_visit(http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """The first catch-up covers everything; after I say I have seen it (leaving), the next one
    covers only what was written since; asking twice in one visit keeps the same start."""
    owner = await register(http, unique, prefix="vo")
    member = await register(http, unique, prefix="vm")
    book = await make_book(engines.database_url, f"Visit catchup {unique}")
    club = await make_club(http, owner, f"vi-{unique}", book_id=book)
    cid = club["id"]
    assert (await join(http, cid, member)).status_code == 200
    path = f"/api/v1/clubs/{cid}/catch-up"
    for body in SAFE:
        await _post(engines.database_url, "club_messages", "club_id", cid, owner.id, body, 0.0)
    first = await _summary(http, engines, path, member)
    assert first["since_id"] == 0 and first["messages"] == len(SAFE)
    again = await http.post(path, json={}, headers=member.headers)
    assert again.status_code == 200 and again.json()["since_id"] == 0
    r = await http.post(f"{path}/seen", json={}, headers=member.headers)
    assert r.status_code == 200 and r.json()["seen_id"] == first["until_id"]
    new = await _post(engines.database_url, "club_messages", "club_id", cid, owner.id,
                      "Meanwhile the lighthouse got a new lamp. Everyone cheered loudly.", 0.0)
    later = await _summary(http, engines, path, member)
    assert later["since_id"] == first["until_id"] and later["until_id"] == new
    assert later["messages"] == 1 and "lamp" in later["text"]
    r = await http.post(f"{path}/seen", json={"last_seen": -1}, headers=member.headers)
    assert r.status_code == 400
