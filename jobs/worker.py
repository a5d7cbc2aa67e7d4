"""The arq worker: its settings (functions, cron schedules, Redis) and `run_worker`.

`readalong worker` runs it on the configured (or embedded) engines; the Procfile line
`worker: arq jobs.worker.WorkerSettings` works too when DATABASE_URL and REDIS_URL are set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker

from domain.keys import ARQ_QUEUE
from domain.settings import Settings, SettingsError, load_settings
from jobs import feeds, housekeeping, notifications, reading, sessions
from jobs.context import make_hooks

log = logging.getLogger("readalong.worker")

FUNCTIONS = [
    notifications.deliver_notification,
    notifications.announce_unread,
    notifications.send_notification_email,
    notifications.send_notification_push,
    notifications.send_digest,
    notifications.digest_sweep,
    notifications.due_sweep,
    feeds.fanout_activity,
    feeds.feed_follow,
    feeds.feed_unfollow,
    feeds.feed_block,
    feeds.feed_maintenance,
    sessions.session_reminders,
    sessions.remind_session,
    sessions.start_due_sessions,
    housekeeping.housekeeping,
    reading.award_badges,
]

CRON_JOBS = [
    cron(notifications.due_sweep, name="cron:due_sweep", second=0, unique=True,  # type: ignore[arg-type]
         run_at_startup=False),
    cron(notifications.digest_sweep, name="cron:digest_sweep",  # type: ignore[arg-type]
         minute={0, 10, 20, 30, 40, 50}, second=5, unique=True),
    cron(sessions.session_reminders, name="cron:session_reminders",  # type: ignore[arg-type]
         second=30, unique=True),
    cron(sessions.start_due_sessions, name="cron:start_due_sessions",  # type: ignore[arg-type]
         second={15, 45}, unique=True),
    cron(housekeeping.housekeeping, name="cron:housekeeping", minute=41,  # type: ignore[arg-type]
         second=0, unique=True),
    cron(feeds.feed_maintenance, name="cron:feed_maintenance", minute=17,  # type: ignore[arg-type]
         second=0, unique=True),
]


def redis_settings(url: str) -> RedisSettings:
    """arq's Redis settings from a URL (redis://, rediss:// or unix:// as the embedded one)."""
    return RedisSettings.from_dsn(url)


def worker_kwargs(settings: Settings) -> dict[str, Any]:
    """Everything arq's Worker needs, bound to `settings`."""
    assert settings.redis_url, "the worker needs REDIS_URL (or the embedded engines)"
    startup, shutdown = make_hooks(settings)
    return {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": ARQ_QUEUE,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_tries": settings.job_max_tries,
        "poll_delay": settings.worker_poll_delay,
        "job_timeout": 120,
        "keep_result": 3600,  # a job id stays taken for an hour after it ran (idempotence)
        "max_jobs": 20,
    }


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> Worker:
    """An arq Worker for `settings` (tests run one in-process with `burst=True`)."""
    kwargs = worker_kwargs(settings)
    kwargs.update(burst=burst, **overrides)
    return Worker(**kwargs)


def run_worker(settings: Settings, burst: bool = False) -> int:
    """Run until SIGTERM/SIGINT (or, with `burst`, until the queue is empty); exit code."""
    async def main() -> int:
        worker = build_worker(settings, burst=burst, handle_signals=False)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = asyncio.create_task(worker.async_run())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():
            log.info("worker stopping: waiting for running jobs")
            worker.allow_pick_jobs = False
            runner.cancel()
        stopper.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            pass
        finally:
            await worker.close()
        log.info("worker stopped: %d complete, %d failed, %d retried", worker.jobs_complete,
                 worker.jobs_failed, worker.jobs_retried)
        return 0

    return asyncio.run(main())


class WorkerSettings:
    """For `arq jobs.worker.WorkerSettings`: reads the environment (REDIS_URL, DATABASE_URL)."""

    try:
        _settings = load_settings() if os.environ.get("REDIS_URL") else None
    except SettingsError:  # reported properly by whoever runs the worker
        _settings = None
    if _settings is not None:
        locals().update(worker_kwargs(_settings))
    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
