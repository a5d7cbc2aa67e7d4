"""Metrics across processes: one scrape of any web process reports the whole host."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from domain.jobqueue import enqueue
from domain.ops.metrics import ops_metrics, record_transfer_rows, transfer_running
from tests.conftest import Engines
from tests.support import ROOT, ServerProcess

#: every label a readalong_* sample may carry (bounded sets; never a user, room or book id)
ALLOWED_LABELS = {"function", "command", "component", "channel", "outcome", "kind", "code",
                  "type", "method", "path", "status_code", "app_name", "le", "pid", "use_case"}
NEW_FAMILIES = {"readalong_jobs_enqueued", "readalong_jobs_started", "readalong_jobs_succeeded",
                "readalong_jobs_failed", "readalong_jobs_retried",
                "readalong_job_duration_seconds", "readalong_job_queue_depth",
                "readalong_job_queue_oldest_age_seconds", "readalong_db_pool_connections",
                "readalong_db_pool_in_use_connections", "readalong_db_pool_waiting_acquires",
                "readalong_db_pool_max_connections", "readalong_redis_command_duration_seconds",
                "readalong_redis_reconnects", "readalong_notifications",
                "readalong_room_events", "readalong_room_deliveries",
                "readalong_worker_heartbeat_timestamp_seconds", "readalong_import_lines",
                "readalong_import_malformed_lines", "readalong_import_books",
                "readalong_db_query_duration_seconds", "readalong_data_transfers",
                "readalong_data_transfers_running", "readalong_data_transfer_rows"}


def scrape(server: ServerProcess) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    text = httpx.get(server.base_url + "/metrics", timeout=10).text
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = [(s.name, dict(s.labels), s.value) for s in fam.samples]
    return out


def requests_to(fams: dict, path: str) -> float:
    return sum(v for name, labels, v in fams.get("readalong_requests", [])
               if name == "readalong_requests_total" and labels.get("path") == path)


@pytest.fixture
def two_servers(engines: Engines, tmp_path: Path) -> Iterator[tuple[ServerProcess, ...]]:
    store = tmp_path / "metrics"
    store.mkdir()
    env = engines.env(PROMETHEUS_MULTIPROC_DIR=str(store), READALONG_METRICS_SAMPLE_INTERVAL="1")
    procs = [ServerProcess(env, log_dir=tmp_path).start() for _ in range(2)]
    try:
        yield tuple(procs)
    finally:
        for p in procs:
            p.stop()


def test_one_scrape_counts_both_processes(two_servers: tuple[ServerProcess, ...]) -> None:
    """Requests served by two uvicorn processes add up in a scrape of either one."""
    a, b = two_servers
    for _ in range(3):
        assert httpx.get(a.base_url + "/api/v1/books", timeout=10).status_code == 200
    for _ in range(5):
        assert httpx.get(b.base_url + "/api/v1/books", timeout=10).status_code == 200
    path = next(labels["path"] for _, labels, _ in scrape(a)["readalong_requests"]
                if labels.get("path", "").startswith("/api/v1/books"))
    assert requests_to(scrape(a), path) == 8
    assert requests_to(scrape(b), path) == 8
    pools = scrape(a)["readalong_db_pool_max_connections"]
    assert sum(v for _, _, v in pools) >= 2  # both processes' pools, summed over live ones
    queries = {labels["use_case"]: v for name, labels, v in
               scrape(b)["readalong_db_query_duration_seconds"] if name.endswith("_count")}
    listed = [k for k in queries if k.startswith("GET /api/v1/books")]
    assert listed and queries[listed[0]] >= 8  # the route's queries, timed in both processes


def test_worker_writes_to_the_same_store(engines: Engines,
                                         two_servers: tuple[ServerProcess, ...]) -> None:
    """A job run by the worker shows in the web scrape with its function name, and every sample
    carries only bounded labels."""
    a, _ = two_servers

    async def add_job() -> None:
        redis = Redis.from_url(engines.redis_url)
        try:
            await enqueue(redis, "housekeeping")
        finally:
            await redis.aclose()

    asyncio.run(add_job())
    queued = scrape(a)
    assert sum(v for _, _, v in queued["readalong_job_queue_depth"]) >= 1
    worker = subprocess.run([sys.executable, "-m", "server.cli", "worker", "--burst"], cwd=ROOT,
                            env=a.env, capture_output=True, timeout=120)
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    fams = scrape(a)
    started = {labels["function"]: v for name, labels, v in fams["readalong_jobs_started"]
               if name.endswith("_total")}
    assert started.get("housekeeping", 0) >= 1
    assert any(labels.get("function") == "housekeeping"
               for _, labels, _ in fams["readalong_job_duration_seconds"])
    assert any(labels.get("use_case") == "housekeeping"  # the job's queries, by its name
               for _, labels, _ in fams["readalong_db_query_duration_seconds"])
    present = set(fams)
    for family in ("readalong_jobs_succeeded", "readalong_job_queue_depth",
                   "readalong_db_pool_connections", "readalong_redis_command_duration_seconds"):
        assert family in present
    for name, samples in fams.items():
        if not name.startswith("readalong_"):
            continue
        for _, labels, _ in samples:
            assert set(labels) <= ALLOWED_LABELS, (name, labels)
            for key, value in labels.items():
                if key not in ("le", "pid", "status_code", "code"):
                    assert not re.fullmatch(r"\d+", value), (name, labels)  # no ids


def test_export_and_import_progress_show_on_their_families() -> None:
    """An import or export job run shows as running until it ends, and an import's progress
    reports add up to the rows it worked through; other jobs leave both alone."""
    def value(name: str, kind: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0
    running, rows = "readalong_data_transfers_running", "readalong_data_transfer_rows_total"
    before = value(running, "export"), value(rows, "import")
    transfer_running("build_export", 1)
    transfer_running("deliver_notification", 1)
    assert value(running, "export") == before[0] + 1
    transfer_running("build_export", -1)
    assert value(running, "export") == before[0]
    record_transfer_rows("import", 250)
    record_transfer_rows("import", 0)
    assert value(rows, "import") == before[1] + 250


def test_new_families_declared_with_bounded_labels() -> None:
    """Every new family exists and is labelled only by bounded dimensions."""
    m = ops_metrics()
    declared = {}
    for metric in vars(m).values():
        declared[metric._name] = set(metric._labelnames)
    assert set(declared) >= NEW_FAMILIES
    for name, labels in declared.items():
        assert labels <= {"function", "command", "component", "channel", "outcome", "kind",
                          "use_case"}, name
