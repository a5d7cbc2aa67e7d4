"""Club events and polls over real servers: RSVP counts and capacity, iCalendar feeds that the
`icalendar` package parses (stable UID, SEQUENCE rising, a cancellation), private feed tokens,
reminders from a burst worker, and polls voted concurrently on two processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from arq.connections import create_pool
from icalendar import Calendar

from jobs.worker import redis_settings
from tests.accounts_helpers import register
from tests.clubs_helpers import join, make_club
from tests.conftest import Engines
from tests.support import ServerProcess
from tests.test_sessions_helpers import WS, make_book
from tests.worker_helpers import run_worker, worker_settings

START = datetime(2031, 3, 1, 18, 0, tzinfo=UTC)


def _vevents(body: bytes) -> list[object]:
    cal = Calendar.from_ical(body)
    assert str(cal["PRODID"]) == "-//Readalong//Clubs//EN" and str(cal["VERSION"]) == "2.0"
    return list(cal.walk("VEVENT"))


async def test_rsvp_and_calendar(http: httpx.AsyncClient, engines: Engines,
                                 unique: str) -> None:
    """RSVP counts follow answers within the capacity; the .ics parses, keeps its UID while
    SEQUENCE rises on an edit and the cancellation, which says STATUS:CANCELLED; attendees are
    told; a private club's feed needs a member's token."""
    owner, a, b = [await register(http, unique, prefix=p) for p in ("ow", "ea", "eb")]
    club = await make_club(http, owner, f"ev-{unique}", visibility="private")
    cid = club["id"]
    for u in (a, b):
        await join(http, cid, u)
    r = await http.post(f"/api/v1/clubs/{cid}/events", headers=owner.headers, json={
        "title": "Chapter 1 chat", "kind": "discussion", "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=1)).isoformat(), "capacity": 1,
        "location": "Library, room 2"})
    assert r.status_code == 201, r.text
    ev = r.json()
    eid = ev["id"]
    assert (await http.put(f"/api/v1/clubs/{cid}/events/{eid}/rsvp", json={"answer": "going"},
                           headers=a.headers)).json()["going"] == 1
    full = await http.put(f"/api/v1/clubs/{cid}/events/{eid}/rsvp", json={"answer": "going"},
                          headers=b.headers)
    assert full.status_code == 409 and full.json()["code"] == "event_full"
    got = (await http.put(f"/api/v1/clubs/{cid}/events/{eid}/rsvp", json={"answer": "maybe"},
                          headers=b.headers)).json()
    assert (got["going"], got["maybe"], got["no"], got["my_answer"]) == (1, 1, 0, "maybe")
    names = [x["answer"] for x in (await http.get(
        f"/api/v1/clubs/{cid}/events/{eid}/attendees", headers=owner.headers)).json()]
    assert names == ["going", "maybe"]

    outsider = await http.get(f"/api/v1/clubs/{cid}/calendar.ics")
    assert outsider.status_code in (403, 404)
    tok = (await http.post(f"/api/v1/clubs/{cid}/calendar/token", headers=a.headers)).json()
    feed = await http.get(f"/api/v1/clubs/{cid}/calendar.ics", params={"token": tok["token"]})
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    (first,) = _vevents(feed.content)
    uid = str(first["UID"])  # type: ignore[index]
    assert int(first["SEQUENCE"]) == 0 and first["DTSTAMP"] and first["DTSTART"].dt == START  # type: ignore[index]
    assert str(first["LOCATION"]) == "Library, room 2"  # type: ignore[index]
    r = await http.patch(f"/api/v1/clubs/{cid}/events/{eid}", headers=owner.headers,
                         json={"starts_at": (START + timedelta(minutes=30)).isoformat()})
    assert r.status_code == 200 and r.json()["sequence"] == 1
    r = await http.post(f"/api/v1/clubs/{cid}/events/{eid}/cancel", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    one = await http.get(f"/api/v1/clubs/{cid}/events/{eid}/event.ics", headers=b.headers)
    (last,) = _vevents(one.content)
    assert str(last["UID"]) == uid and int(last["SEQUENCE"]) == 2  # type: ignore[index]
    assert str(last["STATUS"]) == "CANCELLED"  # type: ignore[index]
    mine = await http.get("/api/v1/me/clubs/calendar.ics", headers=b.headers)
    assert [str(e["UID"]) for e in _vevents(mine.content)] == [uid]  # type: ignore[index]
    notes = (await http.get("/api/v1/notifications", headers=b.headers)).json()["items"]
    changes = sorted(n["payload"]["change"] for n in notes if n["type"] == "club_event_changed")
    assert changes == ["cancelled", "changed"]


async def test_reminders_once_per_lead(http: httpx.AsyncClient, engines: Engines,
                                       unique: str) -> None:
    """The worker reminds those going 24 h before and 1 h before (a controlled clock), each
    once even when run twice, and never those who said no."""
    owner, a, n = [await register(http, unique, prefix=p) for p in ("ow", "ra", "rn")]
    club = await make_club(http, owner, f"rem-{unique}")
    cid = club["id"]
    for u in (a, n):
        await join(http, cid, u)
    at = START + timedelta(days=30)
    eid = (await http.post(f"/api/v1/clubs/{cid}/events", headers=owner.headers, json={
        "title": "Meetup", "kind": "meetup", "starts_at": at.isoformat(),
        "ends_at": (at + timedelta(hours=2)).isoformat()})).json()["id"]
    await http.put(f"/api/v1/clubs/{cid}/events/{eid}/rsvp", json={"answer": "going"},
                   headers=a.headers)
    await http.put(f"/api/v1/clubs/{cid}/events/{eid}/rsvp", json={"answer": "no"},
                   headers=n.headers)
    pool = await create_pool(redis_settings(engines.redis_url))
    try:
        for clock in (at - timedelta(hours=20), at - timedelta(hours=20),
                      at - timedelta(minutes=30)):
            await pool.enqueue_job("remind_club_events", clock.isoformat())
            await run_worker(worker_settings(engines))
    finally:
        await pool.aclose()
    notes = (await http.get("/api/v1/notifications", headers=a.headers)).json()["items"]
    leads = sorted(x["payload"]["lead"] for x in notes if x["type"] == "club_event_reminder"
                   and x["payload"]["event_id"] == eid)
    assert leads == ["1h", "24h"]
    none = (await http.get("/api/v1/notifications", headers=n.headers)).json()["items"]
    assert not [x for x in none if x["type"] == "club_event_reminder"]


async def test_poll_concurrent_votes_two_processes(two_nodes: list[ServerProcess],
                                                   engines: Engines, unique: str) -> None:
    """An `after_vote` poll's results stay hidden until a member votes; the same member voting
    on both processes at once keeps one ballot, two members voting at once both count; the
    live room hears the voter count, never per-option numbers; a closed poll refuses votes and
    shows results."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as ha, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as hb:
        owner, m1, m2 = [await register(ha, unique, prefix=p) for p in ("ow", "p1", "p2")]
        book = await make_book(engines.database_url, f"Next {unique}")
        club = await make_club(ha, owner, f"poll-{unique}")
        cid = club["id"]
        for u in (m1, m2):
            await join(ha, cid, u)
        r = await ha.post(f"/api/v1/clubs/{cid}/polls", headers=owner.headers, json={
            "question": "Next book?", "options": [{"book_id": book}, {"label": "Something"}],
            "results": "after_vote"})
        assert r.status_code == 201, r.text
        poll = r.json()
        pid, (o1, o2) = poll["id"], [o["id"] for o in poll["options"]]
        assert poll["options"][0]["label"] == f"Next {unique}"
        assert all(o["votes"] is None for o in poll["options"])
        async with WS(b_node.ws_url, owner.access_token) as ws:
            assert (await ws.subscribe(club["room"]))["type"] == "ack"
            same = await asyncio.gather(
                ha.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", json={"option_ids": [o1]},
                       headers=m1.headers),
                hb.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", json={"option_ids": [o2]},
                       headers=m1.headers),
                hb.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", json={"option_ids": [o2]},
                       headers=m2.headers))
            assert [r.status_code for r in same] == [200, 200, 200]
            await ws.wait(lambda f: f.get("event") == "poll_voted"
                          and f["data"]["voters"] == 2)
            assert all(f["data"]["counts"] is None for f in ws.events("poll_voted"))
        got = (await ha.get(f"/api/v1/clubs/{cid}/polls/{pid}", headers=m2.headers)).json()
        assert got["voters"] == 2 and sum(o["votes"] for o in got["options"]) == 2
        hidden = (await ha.get(f"/api/v1/clubs/{cid}/polls/{pid}", headers=owner.headers)).json()
        assert hidden["results_visible"] is False and hidden["options"][0]["votes"] is None
        bad = await ha.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote",
                           json={"option_ids": [o1, o2]}, headers=m2.headers)
        assert bad.status_code == 422 and bad.json()["code"] == "single_choice"
        closed = (await ha.post(f"/api/v1/clubs/{cid}/polls", headers=owner.headers, json={
            "question": "Old?", "options": [{"label": "a"}, {"label": "b"}],
            "closes_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()})).json()
        late = await ha.put(f"/api/v1/clubs/{cid}/polls/{closed['id']}/vote",
                            json={"option_ids": [closed["options"][0]["id"]]},
                            headers=m1.headers)
        assert late.status_code == 409 and late.json()["code"] == "poll_closed"
        assert (await ha.get(f"/api/v1/clubs/{cid}/polls/{closed['id']}",
                             headers=m1.headers)).json()["results_visible"] is True


async def test_live_named_poll_closed_by_the_worker(two_nodes: list[ServerProcess],
                                                   engines: Engines, unique: str) -> None:
    """A `live`, not anonymous, multiple-choice poll shows its counts and who chose what to
    every member at once and live on the club room (votes on either process); the worker
    closes it at its closing time once: members are told, the room gets the final results,
    later votes are refused and the results are kept."""
    a_node, b_node = two_nodes
    async with httpx.AsyncClient(base_url=a_node.base_url, timeout=15) as ha, \
            httpx.AsyncClient(base_url=b_node.base_url, timeout=15) as hb:
        owner, m1, m2 = [await register(ha, unique, prefix=p) for p in ("lo", "l1", "l2")]
        club = await make_club(ha, owner, f"live-{unique}")
        cid = club["id"]
        for u in (m1, m2):
            await join(ha, cid, u)
        closes = datetime.now(UTC) + timedelta(days=2)
        async with WS(b_node.ws_url, m2.access_token) as ws:
            assert (await ws.subscribe(club["room"]))["type"] == "ack"
            r = await ha.post(f"/api/v1/clubs/{cid}/polls", headers=owner.headers, json={
                "question": "Snacks?", "options": [{"label": "tea"}, {"label": "cake"}],
                "multiple": True, "anonymous": False, "closes_at": closes.isoformat()})
            assert r.status_code == 201, r.text
            pid, (tea, cake) = r.json()["id"], [o["id"] for o in r.json()["options"]]
            await ws.wait(lambda f: f.get("event") == "poll_opened"
                          and f["data"]["poll_id"] == pid)
            assert (await ha.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", headers=m1.headers,
                                 json={"option_ids": [tea, cake]})).status_code == 200
            assert (await hb.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", headers=m2.headers,
                                 json={"option_ids": [cake]})).status_code == 200
            live = await ws.wait(lambda f: f.get("event") == "poll_voted"
                                 and f["data"]["voters"] == 2)
            assert {c["option_id"]: c["votes"] for c in live["data"]["counts"]} == \
                {tea: 1, cake: 2}
            seen = (await hb.get(f"/api/v1/clubs/{cid}/polls/{pid}",
                                 headers=owner.headers)).json()  # never voted: still sees
            assert [o["votes"] for o in seen["options"]] == [1, 2]
            assert seen["options"][1]["voter_ids"] == [m1.id, m2.id]
            pool = await create_pool(redis_settings(engines.redis_url))
            try:
                for _ in range(2):  # twice: closed (and announced) once
                    await pool.enqueue_job("close_due_polls",
                                           (closes + timedelta(minutes=1)).isoformat())
            finally:
                await pool.aclose()
            await run_worker(worker_settings(engines))
            final = await ws.wait(lambda f: f.get("event") == "poll_closed"
                                  and f["data"]["poll_id"] == pid)
            assert final["data"]["closed"] is True and final["data"]["voters"] == 2
        late = await ha.put(f"/api/v1/clubs/{cid}/polls/{pid}/vote", headers=m1.headers,
                            json={"option_ids": [tea]})
        assert late.status_code == 409 and late.json()["code"] == "poll_closed"
        kept = (await ha.get(f"/api/v1/clubs/{cid}/polls/{pid}", headers=m1.headers)).json()
        assert kept["closed"] is True and [o["votes"] for o in kept["options"]] == [1, 2]
        notes = (await ha.get("/api/v1/notifications", headers=m1.headers)).json()["items"]
        assert len([n for n in notes if n["type"] == "club_poll_closed"]) == 1
        again = await ha.post(f"/api/v1/clubs/{cid}/polls/{pid}/close", headers=owner.headers)
        assert again.status_code == 409 and again.json()["code"] == "poll_closed"


async def test_coreading_event_links_an_invite_only_session(http: httpx.AsyncClient,
                                                            engines: Engines,
                                                            unique: str) -> None:
    """A co-reading event gets a session on the club's book, scheduled at the event's start,
    that members were invited to (a notification) and outsiders cannot see; a member who
    joins later is invited too, and loses the invitation when banned."""
    owner, m, outsider = [await register(http, unique, prefix=p) for p in ("ow", "cm", "co")]
    book = await make_book(engines.database_url, f"Co {unique}")
    club = await make_club(http, owner, f"co-{unique}", book_id=book)
    cid = club["id"]
    await join(http, cid, m)
    r = await http.post(f"/api/v1/clubs/{cid}/events", headers=owner.headers, json={
        "title": "Read together", "kind": "coreading", "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    assert sid is not None
    got = await http.get(f"/api/v1/sessions/{sid}", headers=m.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["book_id"] == book and body["visibility"] == "invite"
    assert body["scheduled_at"].startswith("2031-03-01T18:00")
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=outsider.headers)
            ).status_code == 404
    notes = (await http.get("/api/v1/notifications", headers=m.headers)).json()["items"]
    assert any(n["type"] == "session_invitation" for n in notes)
    assert (await join(http, cid, outsider)).status_code == 200  # joins after the event
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=outsider.headers)
            ).status_code == 200
    late = (await http.get("/api/v1/notifications", headers=outsider.headers)).json()["items"]
    assert any(n["type"] == "session_invitation" for n in late)
    assert (await http.post(f"/api/v1/clubs/{cid}/bans", json={"user_id": outsider.id},
                            headers=owner.headers)).status_code in (200, 201, 204)
    assert (await http.get(f"/api/v1/sessions/{sid}", headers=outsider.headers)
            ).status_code == 404
