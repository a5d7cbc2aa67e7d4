"""The shield in REST listings: annotations by session and by book, private ones, opting out,
and stable cursor paging."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Engines
from tests.test_sessions_helpers import live_session, make_book, users


def _ann(start: float, end: float, note: str, visibility: str = "public") -> dict:
    return {"visibility": visibility, "note": note, "selectors": [
        {"type": "TextQuoteSelector", "exact": f"passage {note}", "prefix": "", "suffix": ""},
        {"type": "ProgressionSelector", "start": start, "end": end}]}


async def test_annotation_listings_through_the_shield(http: httpx.AsyncClient, engines: Engines,
                                                      unique: str) -> None:
    """Annotations ahead of a reader are listed redacted by session and by book, private ones
    only to their author, `shield=false` opts out, and cursor pages cover everything once."""
    host, reader = await users(http, unique, 2)
    book = await make_book(engines.database_url, f"AnnRest {unique}")
    s = await live_session(http, host, book)
    sid = s["id"]
    await http.post(f"/api/v1/sessions/{sid}/join", json={}, headers=reader.headers)
    made = []
    for i, (start, end) in enumerate([(0.0, 0.0), (0.3, 0.35), (0.6, 0.7), (0.9, 1.0)]):
        r = await http.post(f"/api/v1/sessions/{sid}/annotations", json=_ann(start, end, f"n{i}"),
                            headers=host.headers)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    secret = await http.post(f"/api/v1/sessions/{sid}/annotations",
                             json=_ann(0.1, 0.2, "private thought", "private"),
                             headers=host.headers)
    assert secret.status_code == 201
    page = (await http.get(f"/api/v1/sessions/{sid}/annotations",
                           headers=reader.headers)).json()
    assert [a["id"] for a in page["items"]] == made
    assert [a["note"] for a in page["items"]] == ["n0", None, None, None]
    assert "passage n3" not in json.dumps(page) and "private thought" not in json.dumps(page)
    own = (await http.get(f"/api/v1/sessions/{sid}/annotations", headers=host.headers)).json()
    assert "private thought" in [a["note"] for a in own["items"]]
    seen: list[int] = []
    cursor = None
    while True:
        q = f"/api/v1/annotations?book_id={book}&limit=1" + (f"&cursor={cursor}" if cursor else "")
        got = (await http.get(q, headers=reader.headers)).json()
        seen += [a["id"] for a in got["items"]]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    free = (await http.get(f"/api/v1/annotations?book_id={book}&shield=false",
                           headers=reader.headers)).json()
    assert [a["note"] for a in free["items"]] == ["n0", "n1", "n2", "n3"]
    r = await http.get(f"/api/v1/annotations?book_id={book}&cursor=zzz")
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
    url = f"/api/v1/sessions/{sid}/annotations/{made[1]}"
    assert (await http.delete(url, headers=reader.headers)).status_code == 403
    assert (await http.delete(url, headers=host.headers)).status_code == 200
    assert (await http.delete(url, headers=host.headers)).status_code == 404
    left = (await http.get(f"/api/v1/annotations?book_id={book}", headers=reader.headers)).json()
    assert [a["id"] for a in left["items"]] == [made[0], made[2], made[3]]
