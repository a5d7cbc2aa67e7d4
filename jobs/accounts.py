"""Account emails the web process could not send at once (domain/accounts/mail.py): retried
here with exponential backoff (jobs/retry.py's policy, with more tries than other jobs: a
reset link is worth ten minutes of an SMTP outage), then recorded in `failed_jobs`."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from arq import func
from arq.worker import Retry

from domain.accounts.mail import JOB, send_one, unseal
from domain.failed_jobs import record_failure
from jobs.retry import backoff, is_transient

log = logging.getLogger("readalong.worker")
TRIES = 10  # READALONG_JOB_RETRY_DELAY (2 s) doubling, capped at 300 s: about ten minutes


async def send_account_email(ctx: dict[str, Any], sealed: str) -> str:
    settings = ctx["settings"]
    job_try = int(ctx.get("job_try", 1))
    try:
        await send_one(settings, unseal(settings, sealed))
    except Exception as exc:
        if is_transient(exc) and job_try < TRIES:
            log.warning("account email try %d failed (%r); retrying", job_try, exc)
            raise Retry(defer=backoff(settings, job_try)) from exc
        log.error("account email failed for good after %d tries: %r", job_try, exc)
        await record_failure(ctx["db"], job_id=str(ctx.get("job_id", "")), function=JOB,
                             args=json.dumps(["<sealed message>"]), tries=job_try,
                             error="".join(traceback.format_exception_only(type(exc), exc))
                             .strip())
        raise
    return "sent"


FUNCTIONS = [func(send_account_email, name=JOB, max_tries=TRIES)]  # type: ignore[arg-type]
