"""The shield table for reviews: each review kind x each path it travels x each kind of viewer.

One world per module on the shared `server`: the author A finished the book and wrote a review
with an inline spoiler span (`span`) and D wrote one flagged as a spoiler as a whole
(`flagged`); viewers are B (behind, at 0.3, follows A and D), C (finished), an anonymous
visitor, A themself, and X (finished, but blocked by A). B then likes and comments on both
reviews. Paths: `list` (a book's reviews), `one` (a single review), `feed` (B's home feed:
the `reviewed_book` activities), `notification` (the authors' stored `review_liked` /
`review_comment` notifications, whose payload is what email and web push render).
Each row: (item, path, viewer) -> "full", "redacted", "none" (not there) or "no_text" (the
item travels there without any review text).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.accounts_helpers import UserSession, register
from tests.reading_helpers import mine, new_book, progress, put_state
from tests.support import ServerProcess
from tests.worker_helpers import run_worker, worker_settings

SECRETS = {"span": "SECRET-SPAN butler", "flagged": "SECRET-FLAG heir"}


class World:
    def __init__(self) -> None:
        self.users: dict[str, UserSession] = {}
        self.ids: dict[str, int] = {}
        self.seen: dict[tuple[str, str, str], str] = {}


def _variant(item: Any, secret: str) -> str:
    if item is None:
        return "none"
    return "full" if secret in json.dumps(item) else "redacted"


@pytest_asyncio.fixture(scope="module")
async def world(engines: Any, server: ServerProcess) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as http:
        yield await _build(http, engines)


async def _build(http: httpx.AsyncClient, engines: Any) -> World:
    w = World()
    tag = f"sr{id(w) % 10**6}"
    for name in ("author", "flagger", "behind", "ahead", "blocked"):
        w.users[name] = await register(http, tag, prefix=name[:2])
    u = w.users
    book = await new_book(http, tag)
    for name in ("author", "flagger", "ahead", "blocked"):
        await put_state(http, u[name], book["id"], status="read")
    await progress(http, u["behind"], book["id"], percentage=30)
    for followee in ("author", "flagger"):
        r = await http.post(f"/api/v1/users/{u[followee].handle}/follow",
                            headers=u["behind"].headers)
        assert r.status_code == 200, r.text
    r = await http.post(f"/api/v1/users/{u['blocked'].handle}/block", headers=u["author"].headers)
    assert r.status_code in (200, 201, 204), r.text
    bodies = {"span": (u["author"], {"rating": 4.5, "body": f"Loved it. ||{SECRETS['span']}||"}),
              "flagged": (u["flagger"], {"rating": 2, "body": SECRETS["flagged"],
                                         "spoiler": True})}
    for kind, (who, body) in bodies.items():
        r = await http.put(mine(book["id"], "/review"), json=body, headers=who.headers)
        assert r.status_code == 200, r.text
        w.ids[kind] = int(r.json()["id"])
    for kind in bodies:  # B likes and comments: the authors get notified
        rid = w.ids[kind]
        assert (await http.post(f"/api/v1/reviews/{rid}/like",
                                headers=u["behind"].headers)).status_code == 200
        r = await http.post(f"/api/v1/reviews/{rid}/comments", json={"body": "Nice one"},
                            headers=u["behind"].headers)
        assert r.status_code in (200, 201), r.text
    await run_worker(worker_settings(engines))  # the feed fan-out
    viewers: dict[str, UserSession | None] = {"author": u["author"], "behind": u["behind"],
                                              "ahead": u["ahead"], "anonymous": None,
                                              "blocked": u["blocked"]}
    for vname, viewer in viewers.items():
        headers = viewer.headers if viewer else {}
        page = (await http.get(f"/api/v1/books/{book['id']}/reviews", headers=headers)).json()
        listed = {int(i["id"]): i for i in page["items"]}
        for kind, secret in SECRETS.items():
            rid = w.ids[kind]
            w.seen[(kind, "list", vname)] = _variant(listed.get(rid), secret)
            r = await http.get(f"/api/v1/reviews/{rid}", headers=headers)
            w.seen[(kind, "one", vname)] = _variant(r.json() if r.status_code == 200 else None,
                                                    secret)
    feed = (await http.get("/api/v1/feed", headers=u["behind"].headers,
                           params={"limit": 50})).json()
    for kind, who in (("span", "author"), ("flagged", "flagger")):
        acts = [a for a in feed["items"] if a["verb"] == "reviewed_book"
                and a["actor"]["id"] == u[who].id and int(a["object_id"]) == w.ids[kind]]
        w.seen[(kind, "feed", "behind")] = "none" if not acts else (
            "full" if SECRETS[kind] in json.dumps(acts) else "no_text")
        notes = (await http.get("/api/v1/notifications", headers=u[who].headers)).json()
        mine_notes = [n for n in notes["items"] if n["type"] in ("review_liked",
                                                                  "review_comment")]
        w.seen[(kind, "notification", "author")] = "none" if not mine_notes else (
            "full" if SECRETS[kind] in json.dumps(mine_notes) else "no_text")
    return w


ROWS = [
    *[(kind, path, viewer, expected)
      for kind in ("span", "flagged") for path in ("list", "one")
      for viewer, expected in (("author", "full"), ("behind", "redacted"), ("ahead", "full"),
                               ("anonymous", "redacted"))],
    ("span", "list", "blocked", "none"), ("span", "one", "blocked", "none"),
    ("flagged", "list", "blocked", "full"),  # D did not block X: X finished the book
    ("span", "feed", "behind", "no_text"), ("flagged", "feed", "behind", "no_text"),
    ("span", "notification", "author", "no_text"),
    ("flagged", "notification", "author", "no_text"),
]


@pytest.mark.parametrize(("kind", "path", "viewer", "expected"), ROWS)
async def test_shield_table_reviews(world: World, kind: str, path: str, viewer: str,
                                    expected: str) -> None:
    """What this viewer gets of this review on this path: the spoiler rule, on every path."""
    assert world.seen[(kind, path, viewer)] == expected, world.seen
