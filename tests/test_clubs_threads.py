"""Section threads over a real server and real sockets: replies (one level, never gated below
what they answer, the post's author notified through the shield), edits and reactions on
posts by REST and by the socket (the same use-cases), and restoring hidden content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.accounts_helpers import UserSession, register
from tests.clubs_helpers import join, make_club, open_sections_at, read_to
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, make_book


async def _club_with_open_section(http: httpx.AsyncClient, engines: Engines, unique: str,
                                  tag: str) -> tuple[dict[str, Any], int, list[UserSession]]:
    """A club whose one section (0.2-0.4) is open; the owner at 0.0, A at 0.3, B at 0.5."""
    owner, a, b = [await register(http, unique, prefix=p) for p in (f"{tag}o", f"{tag}a",
                                                                    f"{tag}b")]
    book = await make_book(engines.database_url, f"Thread {tag} {unique}")
    club = await make_club(http, owner, f"th{tag}-{unique}", book_id=book)
    for u, p in ((a, 0.3), (b, 0.5)):
        assert (await join(http, club["id"], u)).status_code == 200
        await read_to(http, u, book, p)
    past = datetime.now(UTC) - timedelta(hours=1)
    r = await http.post(f"/api/v1/clubs/{club['id']}/schedule", headers=owner.headers, json={
        "sections": [{"title": "Two", "start": 0.2, "end": 0.4, "opens_at": past.isoformat()}]})
    sid = r.json()["items"][0]["id"]
    await open_sections_at(engines, datetime.now(UTC))
    return club, sid, [owner, a, b]


async def test_replies_edits_and_reactions(http: httpx.AsyncClient, server: ServerProcess,
                                           engines: Engines, unique: str) -> None:
    """B's socket reply to A's post is gated at B's 0.5 and reaches A redacted (live, REST and
    the reply notice); a reply to a reply hangs under the same post; A edits the post over
    REST (B may not); reactions on the post by REST and socket count per reader; club chat
    takes no replies."""
    club, sid, (owner, a, b) = await _club_with_open_section(http, engines, unique, "r")
    cid, thread = club["id"], f"club_thread:{sid}"
    posts = f"/api/v1/clubs/{cid}/sections/{sid}/posts"
    post = (await http.post(posts, json={"body": "POST by A"}, headers=a.headers)).json()
    assert post["gate"] == 0.4 and post["parent_id"] is None
    async with WS(server.ws_url, a.access_token) as wa, \
            WS(server.ws_url, b.access_token) as wb:
        for ws in (wa, wb):
            assert (await ws.subscribe(thread))["type"] == "ack"
        ack = await wb.publish(thread, {"type": "chat", "body": "REPLY by B",
                                        "parent_id": post["id"]})
        assert ack["type"] == "ack" and ack["result"]["gate"] == 0.5, ack
        rid = ack["result"]["message_id"]
        seen = await wa.wait(lambda f: f.get("event") == "chat" and f["data"]["id"] == rid)
        assert seen["data"]["redacted"] is True and seen["data"]["body"] is None
        assert seen["data"]["parent_id"] == post["id"]
        deeper = await http.post(posts, json={"body": "A again", "parent_id": rid},
                                 headers=a.headers)
        assert deeper.status_code == 201, deeper.text
        assert deeper.json()["parent_id"] == post["id"] and deeper.json()["gate"] == 0.5
        edited = await http.patch(f"{posts}/{post['id']}", json={"body": "POST by A, fixed"},
                                  headers=a.headers)
        assert edited.status_code == 200 and edited.json()["body"] == "POST by A, fixed"
        assert edited.json()["gate"] == 0.4
        await wb.wait(lambda f: f.get("event") == "chat_edited"
                      and f["data"]["id"] == post["id"])
        other = await http.patch(f"{posts}/{post['id']}", json={"body": "mine now"},
                                 headers=b.headers)
        assert other.status_code == 403 and other.json()["code"] == "not_author"
        r1 = await http.post(f"{posts}/{post['id']}/reactions", json={"emoji": "👍"},
                             headers=b.headers)
        assert r1.status_code == 201 and r1.json()["gate"] == 0.5, r1.text
        r2 = await wa.publish(thread, {"type": "react", "emoji": "👍", "message_id": post["id"]})
        assert r2["type"] == "ack" and r2["result"]["count"] == 1, r2  # B's is beyond A
        async with WS(server.ws_url, owner.access_token) as wo:
            assert (await wo.subscribe(club["room"]))["type"] == "ack"
            no = await wo.publish(club["room"], {"type": "chat", "body": "x",
                                                 "parent_id": post["id"]})
            assert no["type"] == "error" and no["code"] == "no_replies", no
    listing = f"/api/v1/clubs/{cid}/sections/{sid}/reactions"
    for who, counts in ((b, [2, 2]), (a, [None, 1])):
        items = (await http.get(listing, headers=who.headers)).json()["items"]
        assert [i["count"] for i in items] == counts
        assert {i["locator"] for i in items} == {f"message:{post['id']}"}
    missing = await http.post(f"{posts}/999999/reactions", json={"emoji": "👍"},
                              headers=b.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "message_not_found"
    bad = await http.post(f"{posts}/{post['id']}/reactions", json={"emoji": "x"},
                          headers=b.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_emoji"
    notes = (await http.get("/api/v1/notifications", headers=a.headers)).json()["items"]
    reply = [n for n in notes if n["type"] == "message_reply"]
    assert len(reply) == 1 and reply[0]["payload"]["redacted"] is True
    assert "REPLY by B" not in str(reply)
    page = (await http.get(posts, headers=b.headers)).json()["items"]
    assert [(p["body"], p["parent_id"]) for p in page] == [
        ("POST by A, fixed", None), ("REPLY by B", post["id"]), ("A again", post["id"])]


async def test_restore_hidden_content(http: httpx.AsyncClient, server: ServerProcess,
                                      engines: Engines, unique: str) -> None:
    """Organisers restore a hidden thread post with a note: it comes back live and in REST;
    a member may not restore, an open report cannot be restored, a note is required."""
    club, sid, (owner, a, b) = await _club_with_open_section(http, engines, unique, "h")
    cid, thread = club["id"], f"club_thread:{sid}"
    posts = f"/api/v1/clubs/{cid}/sections/{sid}/posts"
    post = (await http.post(posts, json={"body": "HIDE me"}, headers=b.headers)).json()
    rep = (await http.post(f"/api/v1/clubs/{cid}/reports", headers=a.headers,
                           json={"message_id": post["id"], "section_id": sid})).json()
    url = f"/api/v1/clubs/{cid}/reports/{rep['id']}/resolve"
    early = await http.post(url, json={"action": "restore", "note": "x"}, headers=owner.headers)
    assert early.status_code == 409 and early.json()["code"] == "report_resolved"
    assert (await http.post(url, json={"action": "hide"}, headers=owner.headers)
            ).status_code == 200
    assert (await http.get(posts, headers=owner.headers)).json()["items"] == []
    member = await http.post(url, json={"action": "restore", "note": "x"}, headers=a.headers)
    assert member.status_code == 403
    bare = await http.post(url, json={"action": "restore"}, headers=owner.headers)
    assert bare.status_code == 422 and bare.json()["code"] == "note_required"
    async with WS(server.ws_url, b.access_token) as wb:
        assert (await wb.subscribe(thread))["type"] == "ack"
        back = await http.post(url, json={"action": "restore", "note": "context, not spoiler"},
                               headers=owner.headers)
        assert back.status_code == 200, back.text
        assert back.json()["status"] == "restored" and back.json()["resolved_by"] == owner.id
        got = await wb.wait(lambda f: f.get("event") == "chat" and f["data"]["id"] == post["id"])
        assert got["data"]["body"] == "HIDE me"
    assert [p["id"] for p in (await http.get(posts, headers=b.headers)).json()["items"]] == \
        [post["id"]]
    done = (await http.get(f"/api/v1/clubs/{cid}/reports", params={"status": "restored"},
                           headers=owner.headers)).json()
    assert [d["note"] for d in done] == ["context, not spoiler"]

    bad = [await http.get(f"/api/v1/clubs/{cid}/reports", params={"status": "bogus"},
                          headers=owner.headers),
           await http.post(f"{posts}/{post['id']}/reactions", json={}, headers=b.headers),
           await http.patch(f"{posts}/{post['id']}", json={"body": 5}, headers=b.headers),
           await http.patch(f"{posts}/999999", json={"body": "x"}, headers=b.headers),
           await http.post(posts, json={"body": "x", "parent_id": 0}, headers=b.headers),
           await http.post(posts, json={"body": "x", "parent_id": 999999}, headers=b.headers),
           await http.post(f"/api/v1/clubs/{cid}/polls", headers=owner.headers, json={
               "question": "?", "options": [{"label": "a"}, {"label": "b"}],
               "results": "bogus"}),
           await http.post(f"/api/v1/clubs/{cid}/reports/999999/resolve",
                           json={"action": "restore", "note": "x"}, headers=owner.headers)]
    assert [r.status_code for r in bad] == [400, 400, 400, 404, 422, 404, 400, 404], \
        [r.text for r in bad]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in bad)
