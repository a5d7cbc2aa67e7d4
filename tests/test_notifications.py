"""Notifications: live on the user's room with the unread count, REST inbox, grouping, blocks."""

from __future__ import annotations

from typing import Any

import httpx

from domain.notifications.service import notify
from tests.accounts_helpers import register
from tests.hub_support import Client
from tests.support import ServerProcess
from tests.worker_helpers import db_and_redis, run_worker, worker_settings


async def _inbox(http: httpx.AsyncClient, user: Any, **params: Any) -> dict[str, Any]:
    r = await http.get("/api/v1/notifications", headers=user.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_follow_notifies_live_with_unread_count_and_offline_via_rest_and_recovery(
        http: httpx.AsyncClient, server: ServerProcess, engines: Any, unique: str) -> None:
    """A follow reaches the followee's open socket at once with the unread count; a client that
    was offline finds it over REST and by resubscribing to its user room with its last offset."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea", display_name="Bea")
    cid = await register(http, unique, prefix="cid", display_name="Cid")
    room = f"user:{bea.id}"
    live = await Client.login(server.ws_url, bea.id, origin=None)
    await live.ok("subscribe", room=room)

    r = await http.post(f"/api/v1/users/{bea.handle}/follow", headers=ana.headers)
    assert r.status_code == 200 and r.json()["state"] == "following"
    await run_worker(worker_settings(engines))
    event = await live.expect(lambda f: f["type"] == "event" and f["room"] == room
                              and f["event"] == "notification")
    assert event["data"]["unread_count"] == 1
    note = event["data"]["notification"]
    assert note["type"] == "new_follower" and note["text"] == "Ana started following you"
    assert note["actors"][0]["handle"] == ana.handle
    assert note["read"] is False and note["seen"] is False
    # reading it on another device updates this client's badge
    r = await http.post("/api/v1/notifications/seen", headers=bea.headers)
    assert r.status_code == 200 and r.json() == {"unread_count": 1}
    r = await http.post("/api/v1/notifications/read-all", headers=bea.headers)
    assert r.json() == {"unread_count": 0}
    await run_worker(worker_settings(engines))
    badge = await live.expect(lambda f: f["type"] == "event" and f["event"] == "unread")
    assert badge["data"] == {"unread_count": 0}
    last = {"epoch": badge["epoch"], "offset": badge["offset"]}
    await live.close()

    # offline now: Cid follows too, then Bea comes back
    r = await http.post(f"/api/v1/users/{bea.handle}/follow", headers=cid.headers)
    assert r.status_code == 200
    await run_worker(worker_settings(engines))
    inbox = await _inbox(http, bea)
    assert inbox["unread_count"] == 1
    # the first one was read, so Cid's follow starts a new entry (grouping joins unread ones)
    new, old = inbox["items"]
    assert new["text"] == "Cid started following you" and new["read"] is False
    assert old["id"] == note["id"] and old["read"] is True

    back = await Client.login(server.ws_url, bea.id, origin=None)
    ack = await back.ok("subscribe", room=room,
                        since=last)
    assert ack["recovered"] is True
    missed = await back.expect(lambda f: f["type"] == "event" and f["room"] == room)
    assert missed["event"] == "notification"
    assert missed["data"]["notification"]["text"] == "Cid started following you"
    assert missed["data"]["unread_count"] == 1
    await back.close()


async def test_read_state_unread_count_and_delete(http: httpx.AsyncClient, engines: Any,
                                                  unique: str) -> None:
    """Mark one read, mark all read and delete change the inbox and the unread count."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis):
        ids = [await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                            target_kind="room", target_id=f"lobby:{n}",
                            payload={"where": f"lobby {n}"}) for n in range(3)]
    assert all(ids)
    r = await http.get("/api/v1/notifications/unread-count", headers=bea.headers)
    assert r.json() == {"unread_count": 3}
    r = await http.post(f"/api/v1/notifications/{ids[0]}/read", headers=bea.headers)
    assert r.status_code == 200 and r.json() == {"unread_count": 2}
    page = await _inbox(http, bea, limit=2)
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]] and page["next_cursor"]
    rest = await _inbox(http, bea, limit=2, cursor=page["next_cursor"])
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["items"][0]["read"] is True
    assert rest["next_cursor"] is None
    r = await http.post("/api/v1/notifications/read-all", headers=bea.headers)
    assert r.json() == {"unread_count": 0}
    r = await http.delete(f"/api/v1/notifications/{ids[1]}", headers=bea.headers)
    assert r.status_code == 204
    assert [i["id"] for i in (await _inbox(http, bea))["items"]] == [ids[2], ids[0]]
    # someone else's notification is not found, not deleted
    r = await http.delete(f"/api/v1/notifications/{ids[2]}", headers=ana.headers)
    assert r.status_code == 404
    r = await http.get("/api/v1/notifications", headers=bea.headers, params={"cursor": "!!"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"
    r = await http.get("/api/v1/notifications")
    assert r.status_code == 401
    r = await http.get("/api/v1/notifications/types", headers=bea.headers)
    assert {"new_follower", "mention", "annotation_reaction", "session_starting",
            "session_invitation", "annotation_reply"} <= {t["name"] for t in r.json()}


async def test_grouping_collapses_repeated_reactions(http: httpx.AsyncClient, engines: Any,
                                                     unique: str) -> None:
    """Four reactions to one note make one entry: "Ana and 3 others reacted to your note"."""
    owner = await register(http, unique, prefix="own")
    names = ["Dee", "Eve", "Fay", "Ana"]
    actors = [await register(http, unique, prefix=n.lower(), display_name=n) for n in names]
    async with db_and_redis(engines) as (db, redis):
        ids = {await notify(db, redis, recipient_id=owner.id, type="annotation_reaction",
                            actor_id=a.id, target_kind="annotation", target_id=42)
               for a in actors}
        other = await notify(db, redis, recipient_id=owner.id, type="annotation_reaction",
                             actor_id=actors[0].id, target_kind="annotation", target_id=43)
    assert len(ids) == 1 and other not in ids
    items = (await _inbox(http, owner))["items"]
    assert len(items) == 2
    top = next(i for i in items if i["id"] in ids)
    assert top["text"] == "Ana and 3 others reacted to your note"
    assert top["event_count"] == 4 and top["actor_count"] == 4
    assert top["target"] == {"kind": "annotation", "id": "42"}


async def test_blocks_and_mutes_suppress_notifications(http: httpx.AsyncClient, engines: Any,
                                                       unique: str) -> None:
    """A user you blocked, who blocked you, or whom you muted never notifies you."""
    me = await register(http, unique, prefix="me")
    blocked = await register(http, unique, prefix="blk")
    blocker = await register(http, unique, prefix="bkr")
    muted = await register(http, unique, prefix="mut")
    friend = await register(http, unique, prefix="frd")
    assert (await http.post(f"/api/v1/users/{blocked.handle}/block",
                            headers=me.headers)).status_code == 204
    assert (await http.post(f"/api/v1/users/{me.handle}/block",
                            headers=blocker.headers)).status_code == 204
    assert (await http.post(f"/api/v1/users/{muted.handle}/mute",
                            headers=me.headers)).status_code == 204
    async with db_and_redis(engines) as (db, redis):
        for actor in (blocked, blocker, muted):
            assert await notify(db, redis, recipient_id=me.id, type="mention", actor_id=actor.id,
                                target_kind="room", target_id="lobby:x") is None
        assert await notify(db, redis, recipient_id=me.id, type="mention", actor_id=friend.id,
                            target_kind="room", target_id="lobby:x") is not None
    items = (await _inbox(http, me))["items"]
    assert [i["actors"][0]["id"] for i in items] == [friend.id]
    # blocking someone later hides what they already caused, live and in the inbox
    assert (await http.post(f"/api/v1/users/{friend.handle}/block",
                            headers=me.headers)).status_code == 204
    assert (await _inbox(http, me)) == {"items": [], "unread_count": 0, "next_cursor": None}
    assert (await http.delete(f"/api/v1/users/{friend.handle}/block",
                              headers=me.headers)).status_code == 204
    # a blocked user cannot even follow (so no follower notification either)
    r = await http.post(f"/api/v1/users/{me.handle}/follow", headers=blocked.headers)
    assert r.status_code == 404
    await run_worker(worker_settings(engines))
    assert (await _inbox(http, me))["unread_count"] == 1


async def test_session_starting_reminds_participants_once(http: httpx.AsyncClient, engines: Any,
                                                          unique: str) -> None:
    """Readers who joined a scheduled session get one "<title> is starting" notification when
    it is about to start; the host and non-participants get none."""
    from datetime import UTC, datetime, timedelta

    from domain.jobqueue import enqueue
    from tests.test_sessions_helpers import make_book

    host = await register(http, unique, prefix="hst", display_name="Host")
    reader = await register(http, unique, prefix="rdr")
    other = await register(http, unique, prefix="oth")
    book = await make_book(engines.database_url, f"Emma {unique}")
    start = datetime.now(UTC) + timedelta(hours=2)
    r = await http.post("/api/v1/sessions", headers=host.headers, json={
        "book_id": book, "title": f"Emma night {unique}", "scheduled_at": start.isoformat()})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await http.post(f"/api/v1/sessions/{sid}/join", headers=reader.headers, json={})
    assert r.status_code == 200, r.text
    async with db_and_redis(engines) as (_, redis):
        for n, at in enumerate((start - timedelta(minutes=5), start - timedelta(minutes=4))):
            await enqueue(redis, "session_reminders", at.isoformat(),
                          job_id=f"test-remind-{sid}-{n}")
            await enqueue(redis, "remind_session", sid, job_id=f"test-remind-direct-{sid}-{n}")
    await run_worker(worker_settings(engines))
    [note] = (await _inbox(http, reader))["items"]
    assert note["type"] == "session_starting" and note["text"] == f"Emma night {unique} is starting"
    assert note["target"] == {"kind": "session", "id": str(sid)}
    assert (await _inbox(http, host))["items"] == []
    assert (await _inbox(http, other))["items"] == []
