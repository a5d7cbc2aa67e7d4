"""The worker: idempotent job ids, failures visible to admins, and `readalong worker --burst`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx

from domain.accounts.service import create_admin
from domain.jobqueue import enqueue
from domain.notifications.service import deliver_job_id, notify
from realtime.publisher import history_key
from tests.accounts_helpers import PASSWORD, login, register
from tests.support import ROOT, free_port
from tests.worker_helpers import db_and_redis, run_worker, smtp_server, worker_settings


async def test_same_job_id_twice_delivers_once(http: httpx.AsyncClient, engines: Any,
                                               unique: str) -> None:
    """Enqueueing a delivery twice with one id, or running it again under another id, puts
    exactly one event in the recipient's user room."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, redis, recipient_id=bea.id, type="session_invitation",
                           actor_id=ana.id, target_kind="session", target_id=9,
                           payload={"title": "Moby Dick night"})
        assert nid is not None
        assert not await enqueue(redis, "deliver_notification", nid,
                                 job_id=deliver_job_id(nid, 1))
        await run_worker(worker_settings(engines))
        assert await redis.xlen(history_key(f"user:{bea.id}")) == 1
        assert await enqueue(redis, "deliver_notification", nid, job_id=f"dup:{nid}")
        assert not await enqueue(redis, "deliver_notification", nid,
                                 job_id=deliver_job_id(nid, 1))
        await run_worker(worker_settings(engines))
        assert await redis.xlen(history_key(f"user:{bea.id}")) == 1
        delivered = await db.pool.fetchval("SELECT delivered_at FROM notifications WHERE id = $1",
                                           nid)
        assert delivered is not None


async def test_failed_jobs_are_listed_for_admins_with_their_error(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """A job that runs out of retries (SMTP unreachable) shows up, with its error, in the
    admin list of failed jobs; readers may not see that list."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis):
        admin_id = await create_admin(db, email=f"adm{unique}@example.test",
                                      handle=f"adm{unique}"[:30], password=PASSWORD)
        nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                           target_kind="room", target_id="lobby:z")
    dead_port = free_port()
    worker = await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(dead_port),
                                              READALONG_JOB_MAX_TRIES="2"))
    assert worker.jobs_failed >= 1
    r = await http.post("/api/v1/auth/login", json={"email": f"adm{unique}@example.test",
                                                    "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user_id"] == admin_id
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await http.get("/api/v1/admin/jobs/failed", headers=admin,
                       params={"function": "send_notification_email"})
    assert r.status_code == 200, r.text
    [row] = [i for i in r.json()["items"] if i["job_id"] == f"email:{nid}"]
    assert row["tries"] == 2 and row["error"]
    assert "onnect" in row["error"] or "refused" in row["error"].lower()
    r = await http.get("/api/v1/admin/jobs/failed", headers=ana.headers)
    assert r.status_code == 403
    assert (await http.post(f"/api/v1/admin/jobs/failed/{row['id']}/retry",
                            headers=ana.headers)).status_code == 403
    # the admin retries it once the mail server is back: it is delivered, the record is gone
    async with smtp_server() as (box, port):
        r = await http.post(f"/api/v1/admin/jobs/failed/{row['id']}/retry", headers=admin)
        assert r.status_code == 202 and r.json()["queued"] is True, r.text
        await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(port)))
        assert len(box.to(bea.email)) == 1
    r = await http.get("/api/v1/admin/jobs/failed", headers=admin,
                       params={"function": "send_notification_email"})
    assert row["id"] not in [i["id"] for i in r.json()["items"]]
    r = await http.post(f"/api/v1/admin/jobs/failed/{row['id']}/retry", headers=admin)
    assert r.status_code == 404
    r = await http.get("/api/v1/admin/jobs/failed", headers=admin, params={"cursor": "zz"})
    assert r.status_code == 422
    await login(http, ana)


async def test_readalong_worker_burst_command_runs_queued_jobs(http: httpx.AsyncClient,
                                                               engines: Any,
                                                               unique: str) -> None:
    """`readalong worker --burst` (a separate process) runs what is queued and exits 0."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, redis, recipient_id=bea.id, type="session_starting",
                           target_kind="session", target_id=3, payload={"title": "Emma"},
                           actor_id=ana.id)
        env = engines.env(READALONG_DATA_DIR=str(engines.data_dir),
                          READALONG_SMTP_PORT=str(free_port()), READALONG_JOB_MAX_TRIES="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", "--burst", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()[-2000:]
        row = await db.pool.fetchrow("SELECT delivered_at FROM notifications WHERE id = $1", nid)
        assert row["delivered_at"] is not None


async def test_notification_stored_while_queue_unreachable_is_delivered_by_the_sweep(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """If Redis cannot take the delivery job, the notification is still stored (the request
    succeeds) and the minute sweep delivers it later."""
    from datetime import UTC, datetime, timedelta

    from redis.asyncio import Redis

    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, dead, recipient_id=bea.id, type="annotation_reply",
                           actor_id=ana.id, target_kind="annotation", target_id=5)
        await dead.aclose()
        assert nid is not None
        assert await db.pool.fetchval("SELECT delivered_at FROM notifications WHERE id = $1",
                                      nid) is None
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        await enqueue(redis, "due_sweep", later, job_id=f"test-sweep-{nid}")
        await run_worker(worker_settings(engines))
        assert await db.pool.fetchval("SELECT delivered_at FROM notifications WHERE id = $1",
                                      nid) is not None
        assert await redis.xlen(history_key(f"user:{bea.id}")) == 1


async def test_housekeeping_prunes_old_failures_and_long_read_notifications(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """Failed-job records older than 30 days, notifications read over 90 days ago and refresh
    tokens expired for over a day are deleted; recent, unread and live ones stay."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")
    async with db_and_redis(engines) as (db, redis):
        ids = [await notify(db, None, recipient_id=bea.id, type="mention", actor_id=ana.id,
                            target_kind="room", target_id=f"lobby:{n}") for n in range(3)]
        await db.pool.execute("UPDATE notifications SET read_at = now() - interval '100 days'"
                              " WHERE id = $1", ids[0])
        await db.pool.execute("UPDATE notifications SET read_at = now() - interval '10 days'"
                              " WHERE id = $1", ids[1])
        old, new = f"old-{unique}", f"new-{unique}"
        for job_id, age in ((old, "40 days"), (new, "1 day")):
            await db.pool.execute(
                "INSERT INTO failed_jobs (job_id, function, tries, error, failed_at)"
                f" VALUES ($1, 'x', 1, 'boom', now() - interval '{age}')", job_id)
        for tag, expiry in (("dead", "2 days"), ("live", "-1 day")):
            await db.pool.execute(
                "INSERT INTO refresh_tokens (user_id, family, token_hash, expires_at)"
                f" VALUES ($1, $2, $3, now() - interval '{expiry}')",
                ana.id, f"fam-{unique}", f"{tag}-{unique}")
        await enqueue(redis, "housekeeping", job_id=f"test-housekeeping-{unique}")
        await run_worker(worker_settings(engines))
        left = {r["id"] for r in await db.pool.fetch(
            "SELECT id FROM notifications WHERE id = ANY($1::bigint[])", ids)}
        assert left == {ids[1], ids[2]}
        jobs = {r["job_id"] for r in await db.pool.fetch(
            "SELECT job_id FROM failed_jobs WHERE job_id = ANY($1::text[])", [old, new])}
        assert jobs == {new}
        tokens = {r["token_hash"] for r in await db.pool.fetch(
            "SELECT token_hash FROM refresh_tokens WHERE family = $1", f"fam-{unique}")}
        assert tokens == {f"live-{unique}"}
