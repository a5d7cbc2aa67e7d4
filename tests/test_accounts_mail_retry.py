"""Account emails survive a brief SMTP outage: what the web process cannot send at once goes
to the worker, sealed, and arrives once the SMTP server is back (after a "try later" too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis

from domain.keys import ARQ_QUEUE
from tests.accounts_helpers import register
from tests.accounts_mail import mail_to, token_in
from tests.support import ServerProcess, eventually, free_port
from tests.worker_helpers import MailBox, run_worker, worker_settings


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()  # nothing listens there until the test starts the server


@pytest.fixture(scope="module")
def node(engines: Any, smtp_port: int, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[ServerProcess]:
    env = engines.env(READALONG_SMTP_PORT=str(smtp_port), READALONG_REGISTER_RATE="100000",
                      READALONG_ACCOUNT_MAIL_RETRY="1")  # the test environment's default is 0
    proc = ServerProcess(env, log_dir=tmp_path_factory.mktemp("mail-retry-logs")).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_reset_mail_sent_while_smtp_is_down_arrives_later(
        node: ServerProcess, engines: Any, smtp_port: int, unique: str) -> None:
    """With the SMTP server down, the verification and reset emails are queued (no link in
    clear in Redis); once it is back, the worker delivers them, retrying a "451 try later",
    and the reset link works."""
    redis = Redis.from_url(engines.redis_url)
    async with httpx.AsyncClient(base_url=node.base_url, timeout=15) as api:
        ana = await register(api, unique, prefix="mr")
        r = await api.post("/api/v1/auth/password/forgot", json={"email": ana.email})
        assert r.status_code == 202

        async def queued() -> list[bytes] | None:
            jobs = [await redis.get(f"arq:job:{j.decode()}")
                    for j in await redis.zrange(ARQ_QUEUE, 0, -1)]
            mine = [j for j in jobs if j and b"send_account_email" in j]
            return mine if len(mine) >= 2 else None

        try:
            jobs = await eventually(queued, timeout=15)
            assert not any(b"token=" in j or ana.email.encode() in j for j in jobs)
        finally:
            await redis.aclose()
        # back, but the first delivery to ana gets "451 try again"
        box = MailBox(fail_first=1, fail_to=ana.email)
        controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            await run_worker(worker_settings(engines, READALONG_SMTP_PORT=str(smtp_port)))
            [reset] = await mail_to(box, ana.email, "Reset your Readalong password")
            await mail_to(box, ana.email, "Confirm")
            assert box.refused == 1  # ana's first mail was refused once, then came again
            ok = await api.post("/api/v1/auth/password/reset",
                                json={"token": token_in(reset),
                                      "new_password": "a fresh and lengthy passphrase"})
            assert ok.status_code == 200, ok.text
            # the "password changed" notice goes out directly now that SMTP is up (nothing
            # is left in the shared queue for later tests' workers)
            await mail_to(box, ana.email, "password was changed")
        finally:
            controller.stop()
