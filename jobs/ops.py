"""Job metrics: every registered function and cron job runs inside `instrument`, which counts
its starts, successes, failures and retries and times it (label: the function's name, a bounded
set); notification jobs' results are also counted by channel and outcome. The worker's own
`/metrics` endpoint (READALONG_WORKER_METRICS_PORT) serves the same store as the web processes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.worker import Function, Retry
from prometheus_client import start_http_server

from domain.ops.csv_import import import_csv
from domain.ops.metrics import (
    USE_CASE,
    ops_metrics,
    record_notification,
    record_transfer,
    transfer_running,
)
from domain.ops.ol_import import import_dump
from domain.ops.store import collect_registry
from domain.settings import Settings

log = logging.getLogger("readalong.worker")

JobFn = Callable[..., Awaitable[Any]]


def instrument(fn: JobFn, name: str | None = None) -> JobFn:
    """`fn` with its runs counted and timed under `name` (default: its own name)."""
    if getattr(fn, "__readalong_instrumented__", False):
        return fn
    label = name or fn.__name__

    @functools.wraps(fn)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        m = ops_metrics()
        m.jobs_started.labels(label).inc()
        start = time.perf_counter()
        token = USE_CASE.set(label)  # its queries are timed under the job's name
        transfer_running(label, 1)
        try:
            result = await fn(ctx, *args, **kwargs)
        except Retry:
            m.jobs_retried.labels(label).inc()
            raise
        except BaseException:
            m.jobs_failed.labels(label).inc()
            record_notification(label, "failed")
            record_transfer(label, "failed")
            raise
        finally:
            transfer_running(label, -1)
            USE_CASE.reset(token)
            m.job_duration.labels(label).observe(time.perf_counter() - start)
        m.jobs_succeeded.labels(label).inc()
        record_notification(label, result)
        record_transfer(label, "ok")
        return result

    run.__readalong_instrumented__ = True  # type: ignore[attr-defined]
    return run


def instrument_all(functions: list[Any]) -> list[Any]:
    """Every job instrumented: plain coroutines, and arq `Function`s (from `func(...)`, which
    carry their own name and timeout) with their coroutine wrapped under that name."""
    return [dataclasses.replace(f, coroutine=instrument(f.coroutine, f.name))
            if isinstance(f, Function) else instrument(f) for f in functions]


def instrument_crons(crons: list[Any]) -> list[Any]:
    """Cron jobs with instrumented coroutines (labelled by the cron's name)."""
    return [dataclasses.replace(c, coroutine=instrument(c.coroutine, c.name)) for c in crons]


def note_beat() -> None:
    ops_metrics().worker_heartbeat.set(time.time())


def serve_worker_metrics(settings: Settings) -> bool:
    """The worker's own scrape endpoint on 127.0.0.1:<port> when the setting asks for one."""
    if settings.worker_metrics_port <= 0:
        return False
    start_http_server(settings.worker_metrics_port, addr="127.0.0.1",
                      registry=collect_registry())
    log.info("worker metrics on 127.0.0.1:%d/metrics", settings.worker_metrics_port)
    return True


async def import_openlibrary(ctx: dict[str, Any], path: str, run_id: int) -> dict[str, int]:
    """Import an Open Library dump file (domain/ops/ol_import.py); progress on `import_runs`."""
    run = await import_dump(ctx["db"], Path(path), run_id)
    return {"lines": run.lines, "books": run.books, "authors": run.authors,
            "malformed": run.malformed}


async def import_catalog_csv(ctx: dict[str, Any], path: str, run_id: int) -> dict[str, int]:
    """Import a CSV of ISBN/title/authors (domain/ops/csv_import.py); progress on
    `import_runs`."""
    run = await import_csv(ctx["db"], Path(path), run_id)
    return {"lines": run.lines, "books": run.books, "authors": run.authors,
            "malformed": run.malformed}
