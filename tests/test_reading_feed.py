"""Feed activities of the reading life: started, finished, reviewed and rated reach followers'
home feeds after the commit (through the worker's fan-out), never for a book marked private,
and never with review text."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts_helpers import register
from tests.reading_helpers import mine, new_book, progress, put_state
from tests.worker_helpers import run_worker, worker_settings


async def test_followers_see_reading_activities_but_not_private_books(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A follower's feed shows "started", "finished", "reviewed" and "rated" for open books,
    nothing for a private one, and no review body."""
    alice = await register(http, unique, prefix="a", display_name="Alice")
    bob = await register(http, unique, prefix="b")
    r = await http.post(f"/api/v1/users/{alice.handle}/follow", headers=bob.headers)
    assert r.status_code == 200, r.text
    open_book = await new_book(http, unique, title=f"Open {unique}")
    rated_book = await new_book(http, unique + "r", title=f"Rated {unique}")
    secret = await new_book(http, unique + "s", title=f"Secret {unique}")
    await progress(http, alice, open_book["id"], page=10)
    await put_state(http, alice, open_book["id"], status="read")
    r = await http.put(mine(open_book["id"], "/review"), headers=alice.headers,
                       json={"rating": 4.5, "body": "||The twist||"})
    assert r.status_code == 200, r.text
    await put_state(http, alice, rated_book["id"], status="read")
    r = await http.put(mine(rated_book["id"], "/review"), headers=alice.headers,
                       json={"rating": 3})
    assert r.status_code == 200, r.text
    await put_state(http, alice, secret["id"], status="reading", private=True)
    await put_state(http, alice, secret["id"], status="read")
    await run_worker(worker_settings(engines))
    r = await http.get("/api/v1/feed", headers=bob.headers, params={"limit": 50})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    seen = [(i["verb"], i["payload"].get("title")) for i in items]
    assert seen == [("rated_book", rated_book["title"]), ("finished_book", rated_book["title"]),
                    ("reviewed_book", open_book["title"]), ("finished_book", open_book["title"]),
                    ("started_book", open_book["title"])]
    assert all(secret["title"] not in i["text"] for i in items)
    assert "twist" not in r.text and "Alice rated" in items[0]["text"]
