"""Reports and the moderation queue over a real server: a member reports, organisers see the
queue and hide the message (it leaves every listing), dismiss, or ban the author."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club, open_sections_at
from tests.conftest import Engines
from tests.test_sessions_helpers import make_book


async def test_report_hide_dismiss_ban(http: httpx.AsyncClient, engines: Engines,
                                       unique: str) -> None:
    """Hiding a reported chat message removes it for everyone; a dismissed report leaves the
    message; banning a thread post's author removes the post and the member; members cannot
    see the queue."""
    owner, rude, reporter = [await register(http, unique, prefix=p) for p in ("ow", "ru", "rp")]
    book = await make_book(engines.database_url, f"Mod {unique}")
    club = await make_club(http, owner, f"mo-{unique}", book_id=book)
    cid = club["id"]
    for u in (rude, reporter):
        await join(http, cid, u)
    msgs = f"/api/v1/clubs/{cid}/messages"
    bad = (await http.post(msgs, json={"body": "rude words"}, headers=rude.headers)).json()
    fine = (await http.post(msgs, json={"body": "fine words"}, headers=rude.headers)).json()
    r1 = await http.post(f"/api/v1/clubs/{cid}/reports", json={"message_id": bad["id"],
                                                               "reason": "rude"},
                         headers=reporter.headers)
    assert r1.status_code == 201, r1.text
    r2 = (await http.post(f"/api/v1/clubs/{cid}/reports", json={"message_id": fine["id"]},
                          headers=reporter.headers)).json()
    assert (await http.get(f"/api/v1/clubs/{cid}/reports", headers=reporter.headers)
            ).status_code == 403
    q = (await http.get(f"/api/v1/clubs/{cid}/reports", headers=owner.headers)).json()
    assert [x["message_id"] for x in q] == [bad["id"], fine["id"]]
    hid = await http.post(f"/api/v1/clubs/{cid}/reports/{r1.json()['id']}/resolve",
                          json={"action": "hide"}, headers=owner.headers)
    assert hid.status_code == 200 and hid.json()["status"] == "hidden"
    await http.post(f"/api/v1/clubs/{cid}/reports/{r2['id']}/resolve",
                    json={"action": "dismiss"}, headers=owner.headers)
    left = [m["id"] for m in (await http.get(msgs, headers=reporter.headers)).json()["items"]]
    assert left == [fine["id"]]
    again = await http.post(f"/api/v1/clubs/{cid}/reports/{r2['id']}/resolve",
                            json={"action": "hide"}, headers=owner.headers)
    assert again.status_code == 409 and again.json()["code"] == "report_resolved"

    past = datetime.now(UTC) - timedelta(hours=1)
    sid = (await http.post(f"/api/v1/clubs/{cid}/schedule", headers=owner.headers, json={
        "sections": [{"title": "All", "start": 0.0, "end": 1.0,
                      "opens_at": past.isoformat()}]})).json()["items"][0]["id"]
    await open_sections_at(engines, datetime.now(UTC))
    posts = f"/api/v1/clubs/{cid}/sections/{sid}/posts"
    post = (await http.post(posts, json={"body": "worse"}, headers=rude.headers)).json()
    rep = (await http.post(f"/api/v1/clubs/{cid}/reports", json={
        "message_id": post["id"], "section_id": sid}, headers=reporter.headers)).json()
    banned = await http.post(f"/api/v1/clubs/{cid}/reports/{rep['id']}/resolve",
                             json={"action": "ban"}, headers=owner.headers)
    assert banned.status_code == 200 and banned.json()["status"] == "banned"
    assert (await http.get(posts, headers=owner.headers)).json()["items"] == []
    r = await join(http, cid, rude)
    assert r.status_code == 403 and r.json()["code"] == "banned"
