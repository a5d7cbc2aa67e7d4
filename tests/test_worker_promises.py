"""README promises around the worker and Redis that had no test: registration refuses with 503
while Redis is down (and works once it is back), and the worker keeps its per-job lines at
DEBUG while failures still show."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from domain.notifications.service import notify
from tests.accounts_helpers import PASSWORD, register
from tests.fixture_helpers import own_stack
from tests.support import ROOT, eventually, free_port
from tests.worker_helpers import db_and_redis


def test_register_answers_503_when_redis_is_down(tmp_path: Path, pg_template: Path) -> None:
    """With Redis stopped, registering answers 503 `auth_unavailable` as problem details and
    creates no account; with Redis back, the same registration succeeds."""
    with own_stack(tmp_path, pg_template) as (engines, db_url, proc):
        body = {"email": "nora@example.test", "handle": "nora", "display_name": "Nora",
                "password": PASSWORD}

        async def scenario(base_url: str) -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
                engines.redis.stop()
                r = await http.post("/api/v1/auth/register", json=body)
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["code"] == "auth_unavailable"
                conn = await asyncpg.connect(db_url)
                try:
                    assert await conn.fetchval("SELECT count(*) FROM users WHERE email = $1",
                                               body["email"]) == 0
                finally:
                    await conn.close()
                engines.redis.start()

                async def registered() -> bool:
                    r = await http.post("/api/v1/auth/register", json=body)
                    assert r.status_code in (201, 503), r.text
                    return r.status_code == 201

                await eventually(registered, timeout=20, interval=0.2)

        asyncio.run(scenario(proc.base_url))


async def test_worker_job_lines_are_debug_and_failures_still_show(
        http: httpx.AsyncClient, engines: Any, unique: str) -> None:
    """`readalong worker --burst` at INFO runs a delivery without a line for it (per-job lines
    are DEBUG), while an email that fails for good is logged at ERROR with its job id; at
    DEBUG the per-job lines are there."""
    ana = await register(http, unique, prefix="ana")
    bea = await register(http, unique, prefix="bea")

    async def run_burst(level: str) -> str:
        env = engines.env(READALONG_DATA_DIR=str(engines.data_dir), READALONG_LOG_LEVEL=level,
                          READALONG_SMTP_PORT=str(free_port()), READALONG_JOB_MAX_TRIES="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", "--burst", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()[-2000:]
        return err.decode(errors="replace")

    async with db_and_redis(engines) as (db, redis):
        nid = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                           target_kind="room", target_id=f"lobby:{unique}")
        out = await run_burst("INFO")
        assert await db.pool.fetchval("SELECT delivered_at FROM notifications WHERE id = $1",
                                      nid) is not None
        assert f"notif:{nid}:1" not in out, out[-2000:]  # delivered, and not a line about it
        errors = [line for line in out.splitlines() if f"email:{nid}" in line]
        assert errors and all(" ERROR " in line for line in errors), out[-2000:]

        nid2 = await notify(db, redis, recipient_id=bea.id, type="mention", actor_id=ana.id,
                            target_kind="room", target_id=f"lobby:{unique}:2")
        out = await run_burst("DEBUG")
        assert any(f"notif:{nid2}:1" in line and " DEBUG " in line
                   for line in out.splitlines()), out[-2000:]
