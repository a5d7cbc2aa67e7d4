"""Email notifications through a real local SMTP server: preferences, quiet hours, the daily
digest, the unsubscribe link, and retries that still deliver exactly once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from domain.jobqueue import enqueue
from domain.notifications.service import notify
from tests.accounts_helpers import register
from tests.support import ServerProcess
from tests.worker_helpers import body_of, db_and_redis, run_worker, smtp_server, worker_settings


async def _mention(engines: Any, recipient: int, actor: int, where: str) -> int:
    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, redis, recipient_id=recipient, type="mention", actor_id=actor,
                           target_kind="room", target_id=f"lobby:{where}",
                           payload={"where": where})
    assert nid is not None
    return nid


async def _prefs(http: httpx.AsyncClient, user: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = await http.put("/api/v1/notifications/preferences", headers=user.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_type_switched_off_for_email_sends_no_email(http: httpx.AsyncClient, engines: Any,
                                                          unique: str) -> None:
    """A mention emails a reader who keeps email on, and not one who switched it off."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    on = await register(http, unique, prefix="on")
    off = await register(http, unique, prefix="off")
    prefs = await _prefs(http, off, {"types": {"mention": {"email": False}}})
    assert prefs["types"]["mention"] == {"in_app": True, "email": False, "push": True}
    async with smtp_server() as (box, port):
        await _mention(engines, on.id, ana.id, "the Lighthouse")
        await _mention(engines, off.id, ana.id, "the Lighthouse")
        await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port)))
        [msg] = box.to(on.email)
        assert msg["Subject"] == "Ana mentioned you in the Lighthouse"
        assert "Ana mentioned you in the Lighthouse" in body_of(msg, "plain")
        assert "Ana mentioned you in the Lighthouse" in body_of(msg, "html")
        assert msg["List-Unsubscribe"].startswith("<http")
        assert box.to(off.email) == []
    # the in-app side still works for the reader who turned email off
    r = await http.get("/api/v1/notifications/unread-count", headers=off.headers)
    assert r.json() == {"unread_count": 1}


async def test_quiet_hours_defer_email_until_they_end(http: httpx.AsyncClient, engines: Any,
                                                      unique: str) -> None:
    """During quiet hours (in the reader's time zone) the email waits; it is sent once they end."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    zone = "Asia/Tokyo"
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    await _prefs(http, bea, {"timezone": zone, "quiet_start": start.strftime("%H:%M"),
                             "quiet_end": end.strftime("%H:%M")})
    settings_env: dict[str, str] = {}
    async with smtp_server() as (box, port):
        settings_env["READALONG_SMTP_PORT"] = str(port)
        nid = await _mention(engines, bea.id, ana.id, "chat")
        await run_worker(worker_settings(engines, **settings_env))
        assert box.to(bea.email) == []
        async with db_and_redis(engines) as (db, redis):
            row = await db.pool.fetchrow("SELECT email_state, email_due_at FROM notifications"
                                         " WHERE id = $1", nid)
            assert row["email_state"] == "deferred"
            due = row["email_due_at"].astimezone(ZoneInfo(zone))
            assert due.strftime("%H:%M") == end.strftime("%H:%M") and due > local
            # the sweep before the end sends nothing; the one after the end sends it
            await enqueue(redis, "due_sweep", (due - timedelta(minutes=5)).isoformat(),
                          job_id=f"test-sweep-early-{nid}")
            await run_worker(worker_settings(engines, **settings_env))
            assert box.to(bea.email) == []
            await enqueue(redis, "due_sweep", (due + timedelta(minutes=1)).isoformat(),
                          job_id=f"test-sweep-late-{nid}")
        await run_worker(worker_settings(engines, **settings_env))
        [msg] = box.to(bea.email)
        assert msg["Subject"] == "Ana mentioned you in chat"


async def test_digest_gathers_the_days_notifications_into_one_email(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """With the daily digest on, a day's notifications arrive as one email, once."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    await _prefs(http, bea, {"digest": True, "digest_hour": 0, "timezone": "Europe/Lisbon"})
    async with smtp_server() as (box, port):
        settings = worker_settings(engines, READALONG_SMTP_PORT=str(port))
        for where in ("chat one", "chat two", "chat three"):
            await _mention(engines, bea.id, ana.id, where)
        await run_worker(settings)
        assert box.to(bea.email) == []
        now = datetime.now(UTC).isoformat()
        async with db_and_redis(engines) as (_, redis):
            await enqueue(redis, "digest_sweep", now, job_id=f"test-digest-{unique}")
        await run_worker(settings)
        [msg] = box.to(bea.email)
        assert msg["Subject"] == "Your Readalong digest: 3 notifications"
        text = body_of(msg, "plain")
        for where in ("chat one", "chat two", "chat three"):
            assert f"Ana mentioned you in {where}" in text
        # a second sweep the same day sends nothing more
        async with db_and_redis(engines) as (_, redis):
            await enqueue(redis, "digest_sweep", now, job_id=f"test-digest2-{unique}")
        await run_worker(settings)
        assert len(box.to(bea.email)) == 1


async def test_unsubscribe_link_works_without_login(http: httpx.AsyncClient, engines: Any,
                                                    server: ServerProcess, unique: str) -> None:
    """The link in an email switches that email type off with no login; a forged one does not."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    async with smtp_server() as (box, port):
        settings = worker_settings(engines, READALONG_SMTP_PORT=str(port),
                                   READALONG_PUBLIC_URL=server.base_url)
        await _mention(engines, bea.id, ana.id, "chat")
        await run_worker(settings)
        [msg] = box.to(bea.email)
        link = re.search(r"Unsubscribe from .*?: (\S+)", body_of(msg, "plain"))
        assert link is not None
        url = link.group(1)
        assert url.startswith(server.base_url) and msg["List-Unsubscribe"] == f"<{url}>"
        async with httpx.AsyncClient(timeout=10) as anonymous:
            forged = await anonymous.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
            assert forged.status_code == 422
            r = await anonymous.get(url)
            assert r.status_code == 200 and "Done" in r.text
        r = await http.get("/api/v1/notifications/preferences", headers=bea.headers)
        assert r.json()["types"]["mention"]["email"] is False
        await _mention(engines, bea.id, ana.id, "chat again")
        await run_worker(settings)
        assert len(box.to(bea.email)) == 1


async def test_smtp_failing_twice_then_succeeding_delivers_exactly_once(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """An email job whose SMTP server refuses twice (451) is retried and arrives exactly once."""
    ana = await register(http, unique, prefix="ana", display_name="Ana")
    bea = await register(http, unique, prefix="bea")
    async with smtp_server(fail_first=2) as (box, port):
        nid = await _mention(engines, bea.id, ana.id, "chat")
        worker = await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port)))
        assert box.attempts == 3 and len(box.to(bea.email)) == 1
        assert worker.jobs_retried >= 2
        # running the same job again (same id, or a fresh id) sends nothing more
        async with db_and_redis(engines) as (db, redis):
            assert not await enqueue(redis, "send_notification_email", nid, job_id=f"email:{nid}")
            assert await enqueue(redis, "send_notification_email", nid, job_id=f"again:{nid}")
            failed = await db.pool.fetchval("SELECT count(*) FROM failed_jobs WHERE job_id = $1",
                                            f"email:{nid}")
            assert failed == 0
        await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port)))
        assert len(box.to(bea.email)) == 1


async def test_bad_preferences_are_refused_and_change_nothing(http: httpx.AsyncClient,
                                                              unique: str) -> None:
    """Unknown time zones, types or channels and malformed times get 422 and store nothing."""
    bea = await register(http, unique, prefix="bea")
    before = (await http.get("/api/v1/notifications/preferences", headers=bea.headers)).json()
    for body, field, code in (
            ({"timezone": "Mars/Olympus"}, "timezone", "invalid_timezone"),
            ({"quiet_start": "25:00"}, "quiet_start", "invalid_time"),
            ({"quiet_end": "7h30"}, "quiet_end", "invalid_time"),
            ({"digest_hour": 24}, "digest_hour", "invalid_digest_hour"),
            ({"timezone": "Asia/Tokyo", "types": {"nope": {"email": False}}}, "type",
             "unknown_notification_type"),
            ({"timezone": "Asia/Tokyo", "types": {"mention": {"pigeon": True}}}, "types.mention",
             "invalid_channel")):
        r = await http.put("/api/v1/notifications/preferences", headers=bea.headers, json=body)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        assert [e["field"] for e in problem["errors"]] == [field], (body, problem)
        assert problem["code"] == code, (body, problem)
    r = await http.put("/api/v1/notifications/preferences", headers=bea.headers,
                       json={"colour": "blue"})
    assert r.status_code == 400 and "colour" in r.text, r.text
    after = (await http.get("/api/v1/notifications/preferences", headers=bea.headers)).json()
    assert after == before


async def test_smtp_login_is_used(http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """With SMTP credentials set, the worker logs in to a server that requires it and the
    mail arrives."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with smtp_server(login=("mailer", "s3cret")) as (box, port):
        nid = await _mention(engines, bea.id, ana.id, "chat one")
        await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port),
                                         READALONG_SMTP_USERNAME="mailer",
                                         READALONG_SMTP_PASSWORD="s3cret"))
        assert len(box.to(bea.email)) == 1
    async with db_and_redis(engines) as (db, _):
        assert await db.pool.fetchval("SELECT email_state FROM notifications WHERE id = $1",
                                      nid) == "sent"
