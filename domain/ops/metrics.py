"""The metric families of jobs, the queue, the database pool, Redis, notifications and rooms.

Every label has a bounded set of values: job function names (the worker's registered list),
notification channels and outcomes (fixed lists below), room kinds (the registered prefixes).
A user id, room id or free text is never a label. In multiprocess mode (see server/metrics.py)
each process writes its values to the shared folder; gauges say how they add up across
processes (`livesum`: summed over live processes, `mostrecent`: the last value set anywhere).
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)

NOTIFY_CHANNELS = {"deliver_notification": "inbox", "send_notification_email": "email",
                   "send_notification_push": "push"}
NOTIFY_OUTCOMES = frozenset({"delivered", "already delivered", "gone", "suppressed", "sent",
                             "skipped", "digest", "deferred", "nothing to send", "failed"})
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
#: the use-case a query runs for: the REST route ("GET /api/v1/books/{book_id:int}"), the job
#: function, else "other" (set by server/app.py per request and jobs/ops.py per job run)
USE_CASE: ContextVar[str] = ContextVar("readalong_use_case", default="other")
#: the interop jobs whose runs count as data transfers (export / import progress)
TRANSFER_JOBS = {"build_export": "export", "run_import": "import"}


def _make(cls: type[M], name: str, doc: str, **kw: Any) -> M:
    """Create a family on the default registry, or reuse it (modules imported twice)."""
    try:
        return cls(name, doc, **kw)
    except ValueError:
        existing: M = REGISTRY._names_to_collectors[name]  # type: ignore[assignment]
        return existing


class OpsMetrics:
    """The families, built on first use (after server/metrics.py chose the value store)."""

    def __init__(self) -> None:
        fn = ["function"]
        self.jobs_enqueued = _make(Counter, "readalong_jobs_enqueued_total",
                                   "jobs added to the queue", labelnames=fn)
        self.jobs_started = _make(Counter, "readalong_jobs_started_total",
                                  "job runs started", labelnames=fn)
        self.jobs_succeeded = _make(Counter, "readalong_jobs_succeeded_total",
                                    "job runs that returned", labelnames=fn)
        self.jobs_failed = _make(Counter, "readalong_jobs_failed_total",
                                 "job runs that raised", labelnames=fn)
        self.jobs_retried = _make(Counter, "readalong_jobs_retried_total",
                                  "job runs that asked to be retried later", labelnames=fn)
        self.job_duration = _make(Histogram, "readalong_job_duration_seconds", "job run time",
                                  labelnames=fn, buckets=DURATION_BUCKETS)
        self.queue_depth = _make(Gauge, "readalong_job_queue_depth",
                                 "jobs waiting in the queue (due or not)",
                                 multiprocess_mode="mostrecent")
        self.queue_oldest = _make(Gauge, "readalong_job_queue_oldest_age_seconds",
                                  "how long the oldest due job has waited",
                                  multiprocess_mode="mostrecent")
        self.db_pool_size = _make(Gauge, "readalong_db_pool_connections",
                                  "open pool connections", multiprocess_mode="livesum")
        self.db_pool_in_use = _make(Gauge, "readalong_db_pool_in_use_connections",
                                    "pool connections lent out", multiprocess_mode="livesum")
        self.db_pool_waiting = _make(Gauge, "readalong_db_pool_waiting_acquires",
                                     "acquires waiting for a pool connection",
                                     multiprocess_mode="livesum")
        self.db_pool_max = _make(Gauge, "readalong_db_pool_max_connections",
                                 "pool size limit", multiprocess_mode="livesum")
        self.redis_latency = _make(Histogram, "readalong_redis_command_duration_seconds",
                                   "Redis round trip of a sampled command",
                                   labelnames=["command"], buckets=FAST_BUCKETS)
        self.redis_reconnects = _make(Counter, "readalong_redis_reconnects_total",
                                      "Redis connections re-established",
                                      labelnames=["component"])
        self.notifications = _make(Counter, "readalong_notifications_total",
                                   "notification deliveries by channel and outcome",
                                   labelnames=["channel", "outcome"])
        self.worker_heartbeat = _make(Gauge, "readalong_worker_heartbeat_timestamp_seconds",
                                      "when a worker last beat (Unix time)",
                                      multiprocess_mode="max")
        self.import_lines = _make(Counter, "readalong_import_lines_total",
                                  "dump lines read by imports", labelnames=["kind"])
        self.import_malformed = _make(Counter, "readalong_import_malformed_lines_total",
                                      "dump lines skipped as malformed", labelnames=["kind"])
        self.import_books = _make(Counter, "readalong_import_books_total",
                                  "books written by imports", labelnames=["kind"])
        self.query_duration = _make(Histogram, "readalong_db_query_duration_seconds",
                                    "PostgreSQL query time by use-case (REST route or job)",
                                    labelnames=["use_case"], buckets=QUERY_BUCKETS)
        self.transfers = _make(Counter, "readalong_data_transfers_total",
                               "account data exports and imports finished, by outcome",
                               labelnames=["kind", "outcome"])
        self.transfers_running = _make(Gauge, "readalong_data_transfers_running",
                                       "account data exports and imports being worked on now",
                                       labelnames=["kind"], multiprocess_mode="livesum")
        self.transfer_rows = _make(Counter, "readalong_data_transfer_rows_total",
                                   "rows of readers' import files worked through",
                                   labelnames=["kind"])
        self.room_events = _make(Counter, "readalong_room_events_total",
                                 "room events received by this node", labelnames=["kind"])
        self.room_deliveries = _make(Counter, "readalong_room_deliveries_total",
                                     "frames written to local members", labelnames=["kind"])


@functools.cache
def ops_metrics() -> OpsMetrics:
    """The process's one set of families."""
    return OpsMetrics()


def room_kind(name: str, known: Any) -> str:
    """The bounded `kind` label of a room name: its registered prefix, else `other`."""
    prefix = name.split(":", 1)[0]
    return prefix if prefix in known else "other"


@functools.cache
def room_counters(kind: str) -> tuple[Any, Any]:
    """(events, deliveries) children of one room kind, looked up once (the fan-out is hot)."""
    m = ops_metrics()
    return m.room_events.labels(kind), m.room_deliveries.labels(kind)


def count_reconnect(component: str) -> None:
    """One more re-established Redis connection of `component` (hub, worker)."""
    ops_metrics().redis_reconnects.labels(component).inc()


def record_notification(function: str, outcome: object) -> None:
    """Count a notification job's result under its channel (other functions are ignored)."""
    channel = NOTIFY_CHANNELS.get(function)
    if channel is None:
        return
    label = outcome if isinstance(outcome, str) and outcome in NOTIFY_OUTCOMES else "other"
    ops_metrics().notifications.labels(channel, label).inc()


def record_query(record: Any) -> None:
    """asyncpg query logger (domain/db.py): one query's time under the current use-case."""
    ops_metrics().query_duration.labels(USE_CASE.get()).observe(record.elapsed)


def transfer_running(function: str, delta: int) -> None:
    """An export or import job run started (+1) or ended (-1); other functions are ignored."""
    kind = TRANSFER_JOBS.get(function)
    if kind is not None:
        ops_metrics().transfers_running.labels(kind).inc(delta)


def record_transfer_rows(kind: str, rows: int) -> None:
    """`rows` more rows of a reader's import file were worked through (progress)."""
    if rows > 0:
        ops_metrics().transfer_rows.labels(kind).inc(rows)


def record_transfer(function: str, outcome: str) -> None:
    """An export or import job finished (`ok`, `failed`); other functions are ignored."""
    kind = TRANSFER_JOBS.get(function)
    if kind is not None:
        ops_metrics().transfers.labels(kind, outcome).inc()
