"""The `task` wrapper: transient failures retry with exponential backoff; final failures are
recorded in Postgres (`failed_jobs`) with their error so admins can see them."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import redis.exceptions
from arq.worker import Retry

from domain.failed_jobs import record_failure

log = logging.getLogger("readalong.worker")
MAX_DELAY = 300.0


class TransientError(Exception):
    """Raise this for a failure worth retrying later (remote 5xx, timeouts, 4xx SMTP replies)."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500 or exc.code < 0
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return any(400 <= r.code < 500 for r in exc.recipients)
    # WatchError: a watched key changed, or the connection dropped under a WATCH (redis-py
    # raises it for both): the job runs again
    return isinstance(exc, (OSError, asyncio.TimeoutError, aiosmtplib.SMTPConnectError,
                            aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                            httpx.TransportError, redis.exceptions.ConnectionError,
                            redis.exceptions.TimeoutError, redis.exceptions.WatchError,
                            asyncpg.PostgresConnectionError,
                            asyncpg.exceptions.InterfaceError))


def backoff(settings: Any, job_try: int) -> float:
    return float(min(settings.job_retry_delay * (2 ** max(job_try - 1, 0)), MAX_DELAY))


Task = Callable[..., Awaitable[Any]]


def task(fn: Task) -> Task:
    """Wrap an arq job function with retry-with-backoff and failure recording."""

    @functools.wraps(fn)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(ctx, *args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            settings = ctx["settings"]
            job_try = int(ctx.get("job_try", 1))
            if is_transient(exc) and job_try < settings.job_max_tries:
                delay = backoff(settings, job_try)
                log.warning("job %s %s try %d failed (%r); retrying in %.2fs", fn.__name__,
                            ctx.get("job_id"), job_try, exc, delay)
                raise Retry(defer=delay) from exc
            log.error("job %s %s failed for good after %d tries: %r", fn.__name__,
                      ctx.get("job_id"), job_try, exc)
            try:
                await record_failure(
                    ctx["db"], job_id=str(ctx.get("job_id", "")), function=fn.__name__,
                    args=json.dumps(list(args), default=str), tries=job_try,
                    error="".join(traceback.format_exception_only(type(exc), exc)).strip())
            except Exception:
                log.exception("could not record the failure of %s", fn.__name__)
            raise

    return run
