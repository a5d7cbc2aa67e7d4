"""Reviews over REST on a real server: the safe Markdown subset against hostile input, quarter
stars, spoiler redaction by furthest progression on every read path, edits, likes, comments,
notifications, rate limits and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from domain.errors import Invalid
from domain.reading import markup
from domain.reading.reviews import half_star_bucket, quarters
from tests.accounts_helpers import UserSession, register
from tests.fixture_helpers import connected_db
from tests.reading_helpers import mine, new_book, progress, put_state


@pytest_asyncio.fixture(scope="module")
async def db(engines) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    async with connected_db(engines.database_url) as database:
        yield database


async def review(http: httpx.AsyncClient, user: UserSession, book_id: int,
                 **fields: object) -> dict[str, object]:
    r = await http.put(mine(book_id, "/review"), json=fields, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_sanitiser_keeps_hostile_input_inert() -> None:
    """Script tags, event handlers, raw HTML, javascript:/data: links and quote breakouts come
    out as escaped text; only http(s) links become anchors."""
    hostile = ('<script>alert(1)</script> <img src=x onerror="alert(1)"> '
               '<a href="javascript:alert(1)">x</a> [click](javascript:alert(1)) '
               '[data](data:text/html;base64,PHNjcmlwdD4=) '
               '[q](https://ok.example/" onmouseover="x) '
               '**<b onclick=1>bold</b>** [fine](https://ok.example/a_b_?x=1&y=2)')
    out = markup.render(hostile).html
    assert "<script" not in out and "<img" not in out and "<b " not in out
    assert "javascript:alert" in out and 'href="javascript' not in out  # text, never a link
    assert 'href="data:' not in out and "onmouseover=\"" not in out and "onerror=\"" not in out
    assert out.count("<a ") == 1
    assert ('<a href="https://ok.example/a_b_?x=1&amp;y=2" rel="nofollow ugc noopener">fine</a>'
            in out)
    assert "<strong>&lt;b onclick=1&gt;bold&lt;/b&gt;</strong>" in out
    with pytest.raises(Invalid):
        markup.check_body("nul\x00byte")


def test_spoiler_spans_toggle_and_never_nest() -> None:
    """`||` toggles a span: nested-looking markers make two spans, an unmatched last one is
    text, and the redacted variant keeps none of the hidden words."""
    rendered = markup.render("Start ||the **butler** ||did|| it|| end ||dangling")
    assert rendered.has_spoilers
    assert rendered.html == ('<p>Start <span class="spoiler">the <strong>butler</strong> </span>'
                             'did<span class="spoiler"> it</span> end ||dangling</p>')
    assert "butler" not in rendered.redacted_html and " it<" not in rendered.redacted_html
    assert rendered.redacted_html.count("[spoiler]") == 2
    plain = markup.render("a *b*\n\nc")
    assert plain.html == "<p>a <em>b</em></p><p>c</p>" and not plain.has_spoilers


def test_quarter_stars_round_half_up() -> None:
    """Ratings keep quarter stars, rounded half up; histogram buckets are half stars."""
    assert [quarters(v) for v in (0.5, 3.75, 3.8, 3.875, 4.1, 5.0)] == [2, 15, 15, 16, 16, 20]
    assert [half_star_bucket(q) for q in (2, 3, 15, 20)] == [1, 2, 8, 10]


async def test_spoiler_review_redacted_for_readers_behind(http: httpx.AsyncClient,
                                                          unique: str) -> None:
    """A review with spoiler spans, written after finishing, is redacted for a reader at 30 %
    and for anonymous visitors on the list and single paths, shown in full to a reader who
    finished, and in full to the reader behind once their furthest progression passes it; a
    review flagged as a whole hides its body but not its rating."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    carol = await register(http, unique, prefix="c")
    dave = await register(http, unique, prefix="d")
    book = await new_book(http, unique)
    for user in (alice, carol, dave):
        await put_state(http, user, book["id"], status="read")
    await progress(http, bob, book["id"], percentage=30)
    mine_review = await review(http, alice, book["id"], rating=4.5,
                               body="Loved it. ||The butler did it.||")
    assert mine_review["body"] == "Loved it. ||The butler did it.||"  # the author's source
    flagged = await review(http, dave, book["id"], rating=2, body="The ending...", spoiler=True)

    async def as_seen(user: UserSession | None) -> dict[int, dict[str, object]]:
        headers = user.headers if user else {}
        page = (await http.get(f"/api/v1/books/{book['id']}/reviews", headers=headers)).json()
        one = (await http.get(f"/api/v1/reviews/{mine_review['id']}", headers=headers)).json()
        items = {int(r["id"]): r for r in page["items"]}
        assert items[int(mine_review["id"])] == one  # the same variant on both paths
        return items

    for viewer in (bob, None):
        seen = await as_seen(viewer)
        mine_seen, dave_seen = seen[int(mine_review["id"])], seen[int(flagged["id"])]
        assert mine_seen["redacted"] is True and mine_seen["body"] is None
        assert "butler" not in str(mine_seen["body_html"]) and "Loved it." in str(
            mine_seen["body_html"])
        assert dave_seen["redacted"] is True and dave_seen["body_html"] is None
        assert dave_seen["rating"] == 2.0
    seen = await as_seen(carol)
    assert seen[int(mine_review["id"])]["redacted"] is False
    assert "The butler did it." in str(seen[int(mine_review["id"])]["body_html"])
    await progress(http, bob, book["id"], progression=1.0)
    seen = await as_seen(bob)
    assert not seen[int(mine_review["id"])]["redacted"]
    assert seen[int(flagged["id"])]["body_html"] == "<p>The ending...</p>"


async def test_edits_are_kept_and_each_read_has_its_own_review(
        http: httpx.AsyncClient, db: Database, unique: str) -> None:
    """Editing a review keeps its id, sets edited_at and keeps the old text; a re-read gets a
    review of its own, and both ratings count in the book's aggregate."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    await put_state(http, reader, book["id"], status="read")
    first = await review(http, reader, book["id"], rating=3, body="Fine.")
    edited = await review(http, reader, book["id"], rating=3.5, body="Better on reflection.")
    assert edited["id"] == first["id"] and edited["edited_at"] and edited["rating"] == 3.5
    old = await db.pool.fetch("SELECT body, rating_quarters FROM review_edits"
                              " WHERE review_id = $1", first["id"])
    assert [(r["body"], r["rating_quarters"]) for r in old] == [("Fine.", 12)]
    await put_state(http, reader, book["id"], status="reading")
    second = await review(http, reader, book["id"], rating=5)
    assert second["id"] != first["id"] and second["read_number"] == 2
    rating = (await http.get(f"/api/v1/books/{book['id']}/rating")).json()
    assert rating["count"] == 2 and rating["average"] == 4.25
    assert rating["histogram"][6] == 1 and rating["histogram"][9] == 1
    r = await http.delete(f"/api/v1/reviews/{second['id']}", headers=reader.headers)
    assert r.status_code == 204
    rating = (await http.get(f"/api/v1/books/{book['id']}/rating")).json()
    assert rating["count"] == 1 and rating["average"] == 3.5


async def test_likes_and_comments_notify_the_author(http: httpx.AsyncClient,
                                                    unique: str) -> None:
    """A like (idempotent) and a comment are counted on the review and notify its author; the
    review's author may delete a comment; unliking takes the like back."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    book = await new_book(http, unique)
    await put_state(http, alice, book["id"], status="read")
    rid = (await review(http, alice, book["id"], rating=4, body="Good"))["id"]
    for _ in range(2):
        r = await http.post(f"/api/v1/reviews/{rid}/like", headers=bob.headers)
        assert r.status_code == 200 and r.json() == {"liked": True, "likes": 1}
    r = await http.post(f"/api/v1/reviews/{rid}/comments", headers=bob.headers,
                        json={"body": "Agreed <b>x</b> ||no spans||"})
    assert r.status_code == 201, r.text
    comment = r.json()
    assert "&lt;b&gt;" in comment["body_html"] and "spoiler" not in comment["body_html"]
    got = (await http.get(f"/api/v1/reviews/{rid}", headers=bob.headers)).json()
    assert got["likes"] == 1 and got["liked"] and got["comments"] == 1
    kinds = [n["type"] for n in (await http.get("/api/v1/notifications",
                                                headers=alice.headers)).json()["items"]]
    assert "review_liked" in kinds and "review_comment" in kinds
    listed = (await http.get(f"/api/v1/reviews/{rid}/comments")).json()["items"]
    assert [c["id"] for c in listed] == [comment["id"]]
    r = await http.delete(f"/api/v1/reviews/{rid}/comments/{comment['id']}",
                          headers=alice.headers)
    assert r.status_code == 204
    assert (await http.get(f"/api/v1/reviews/{rid}")).json()["comments"] == 0
    r = await http.delete(f"/api/v1/reviews/{rid}/like", headers=bob.headers)
    assert r.json() == {"liked": False, "likes": 0}


async def test_review_input_is_checked(http: httpx.AsyncClient, unique: str) -> None:
    """Ratings outside 0.5-5, empty or oversized reviews, a review without a read, unknown ids
    and bad report reasons get problem details; nothing is stored."""
    reader = await register(http, unique, prefix="r")
    book = await new_book(http, unique)
    h = reader.headers
    r = await http.put(mine(book["id"], "/review"), json={"rating": 4}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "review_needs_read"
    await put_state(http, reader, book["id"], status="read")
    for body, status, code in [({"rating": 0.3}, 400, "validation_failed"),
                               ({"rating": 5.5}, 400, "validation_failed"),
                               ({}, 422, "review_empty"),
                               ({"body": "x" * 20_001}, 422, "review_too_long"),
                               ({"body": "ok", "stars": 3}, 400, "validation_failed")]:
        r = await http.put(mine(book["id"], "/review"), json=body, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert (await http.get(f"/api/v1/books/{book['id']}/reviews")).json()["items"] == []
    for path in (f"/api/v1/reviews/{2**40}", f"/api/v1/reviews/{2**63}",
                 f"/api/v1/books/{2**63}/rating", f"/api/v1/books/{2**63}/reviews"):
        assert (await http.get(path)).status_code == 404, path
    rid = (await review(http, reader, book["id"], rating=4))["id"]
    other = await register(http, unique, prefix="o")
    r = await http.post(f"/api/v1/reviews/{rid}/reports", json={"reason": "meh"},
                        headers=other.headers)
    assert r.status_code == 400


async def test_review_writes_are_rate_limited(http: httpx.AsyncClient, unique: str) -> None:
    """Past the per-reader write limit (30 per hour by default) a reader gets 429 with
    Retry-After."""
    alice = await register(http, unique, prefix="a")
    bob = await register(http, unique, prefix="b")
    book = await new_book(http, unique)
    await put_state(http, alice, book["id"], status="read")
    rid = (await review(http, alice, book["id"], rating=4))["id"]
    codes = [(await http.post(f"/api/v1/reviews/{rid}/like", headers=bob.headers)).status_code
             for _ in range(31)]
    assert codes[:30] == [200] * 30 and codes[30] == 429
    r = await http.post(f"/api/v1/reviews/{rid}/like", headers=bob.headers)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
