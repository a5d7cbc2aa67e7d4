"""The arq worker: its options (functions, cron schedules, Redis) built from `Settings`, and
`run_worker`.

`readalong worker` runs it on the configured (or embedded) engines (the Procfile line is
`worker: readalong worker`); `arq jobs.worker.WorkerSettings` still works when DATABASE_URL and
REDIS_URL are set (the options are built from the environment when arq asks for them, not at
import), but plain arq has none of `jobs.resilient`'s reconnects or heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import func

from domain.keys import ARQ_QUEUE
from domain.ops.store import activate_store, mark_dead
from domain.settings import Settings, load_settings
from jobs import (
    accounts,
    ai,
    clubs,
    feeds,
    housekeeping,
    interop,
    notifications,
    ops,
    reading,
    sessions,
)
from jobs.context import make_hooks
from jobs.ops import instrument_all, instrument_crons, serve_worker_metrics
from jobs.resilient import ResilientWorker

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
    sessions.end_idle_sessions,
    housekeeping.housekeeping,
    reading.award_badges,
    reading.award_badges_due,
    *ai.FUNCTIONS,
    func(interop.run_import, name=interop.IMPORT_JOB, timeout=interop.IMPORT_TIMEOUT),  # type: ignore[arg-type]
    interop.import_sweep,
    interop.build_export,
    interop.erase_account,
    interop.data_rights_sweep,
    ops.import_openlibrary,
    ops.import_catalog_csv,
    *accounts.FUNCTIONS,
    clubs.open_due_sections,
    clubs.remind_club_events,
    clubs.close_due_polls,
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
    cron(sessions.end_idle_sessions, name="cron:end_idle_sessions",  # type: ignore[arg-type]
         second=50, unique=True),
    cron(housekeeping.housekeeping, name="cron:housekeeping", minute=41,  # type: ignore[arg-type]
         second=0, unique=True),
    cron(feeds.feed_maintenance, name="cron:feed_maintenance", minute=17,  # type: ignore[arg-type]
         second=0, unique=True),
    *ai.CRON_JOBS,
    cron(interop.import_sweep, name="cron:import_sweep", second=50,  # type: ignore[arg-type]
         unique=True, run_at_startup=True),
    cron(interop.data_rights_sweep, name="cron:data_rights_sweep",  # type: ignore[arg-type]
         second=20, unique=True, run_at_startup=True),
    cron(clubs.open_due_sections, name="cron:open_due_sections",  # type: ignore[arg-type]
         second={20, 50}, unique=True),
    cron(clubs.remind_club_events, name="cron:remind_club_events",  # type: ignore[arg-type]
         second=40, unique=True),
    cron(clubs.close_due_polls, name="cron:close_due_polls",  # type: ignore[arg-type]
         second=25, unique=True),
]


def redis_settings(url: str) -> RedisSettings:
    """arq's Redis settings from a URL (redis://, rediss:// or unix:// as the embedded one)."""
    return RedisSettings.from_dsn(url)


def worker_options(settings: Settings) -> dict[str, Any]:
    """arq's worker settings (a dict, as `arq` accepts) bound to `settings`."""
    if not settings.redis_url:
        raise ValueError("the worker needs REDIS_URL (or the embedded engines)")
    startup, shutdown = make_hooks(settings)
    return {
        "functions": instrument_all(FUNCTIONS),  # counted and timed (jobs/ops.py)
        "cron_jobs": instrument_crons(CRON_JOBS),
        "redis_settings": redis_settings(settings.queue_url or settings.redis_url),
        "queue_name": ARQ_QUEUE,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_tries": settings.job_max_tries,
        "poll_delay": settings.worker_poll_delay,
        "job_timeout": 120,
        "keep_result": 3600,  # a job id stays taken for an hour after it ran (idempotence)
        "max_jobs": 20,
    }


def build_worker(settings: Settings, *, burst: bool = False, **overrides: Any) -> ResilientWorker:
    """A worker for `settings` (tests run one in-process with `burst=True`)."""
    kwargs = worker_options(settings)
    kwargs.update(burst=burst, heartbeat=settings.worker_heartbeat,
                  reconnect_max=settings.worker_reconnect_max, **overrides)
    return ResilientWorker(**kwargs)


class _JobLinesAtDebug(logging.Filter):
    """arq logs a line per job start, end and retry at INFO; they go to DEBUG here, so request
    logs stay readable (failures stay WARNING/ERROR: arq logs them at those levels)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith("%6.2fs"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_job_logs() -> None:
    """Install the per-job DEBUG filter on arq's worker logger (once)."""
    arq_log = logging.getLogger("arq.worker")
    if not any(isinstance(f, _JobLinesAtDebug) for f in arq_log.filters):
        arq_log.addFilter(_JobLinesAtDebug())


def run_worker(settings: Settings, burst: bool = False) -> int:
    """Run until SIGTERM/SIGINT (or, with `burst`, until the queue is empty); exit code."""
    quiet_job_logs()
    activate_store()  # the supervised worker writes to the web processes' store
    serve_worker_metrics(settings)

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
        mark_dead()
        log.info("worker stopped: %d complete, %d failed, %d retried", worker.jobs_complete,
                 worker.jobs_failed, worker.jobs_retried)
        return 0

    return asyncio.run(main())


def __getattr__(name: str) -> Any:
    """`arq jobs.worker.WorkerSettings`: the options, built from the environment on access."""
    if name == "WorkerSettings":
        return worker_options(load_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
