"""The worker is watched: `serve --with-worker` restarts a worker that dies, and `/health/ready`
names the worker (from its heartbeat in Redis) without failing the web process's readiness."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redis.asyncio import Redis

from domain.keys import WORKER_HEARTBEAT
from jobs.supervisor import WorkerSupervisor
from tests.fixture_helpers import copy_pg_folder, follow_is_delivered
from tests.support import ROOT, ServerProcess, eventually, free_port
from tests.worker_helpers import spawn_worker


def _workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if child.cmdline()[-3:] == ["-m", "server.cli", "worker"]:
                workers.append(child)
        except psutil.Error:  # gone (or a zombie) meanwhile
            pass
    return workers


def _serve(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("READALONG_")}
    env.update({"READALONG_DATA_DIR": str(tmp), "PORT": str(port),
                "READALONG_LOG_LEVEL": "WARNING", "READALONG_ARGON2_TIME_COST": "1",
                "READALONG_ARGON2_MEMORY_KIB": "8192", "READALONG_WORKER_HEARTBEAT": "0.5"})
    with open(tmp / "serve.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--with-worker"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


async def _worker_check(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/health/ready")
    assert r.status_code == 200, r.text
    (check,) = [c for c in r.json()["checks"] if c["name"] == "worker"]
    return {"status": r.json()["status"], **check}


async def test_serve_restarts_a_killed_worker(tmp_path: Path, pg_template: Path) -> None:
    """SIGKILL the worker of `serve --with-worker`: the server logs it and starts a new one,
    which reports in `/health/ready` and delivers a follow made afterwards."""
    port = free_port()
    copy_pg_folder(pg_template, tmp_path)  # the data folder's PostgreSQL, migrated to head
    proc = _serve(tmp_path, port)
    log = tmp_path / "serve.log"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async def worker_ok() -> bool:
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    return bool((await _worker_check(http))["ok"])
                except httpx.HTTPError:
                    return False

            await eventually(worker_ok, timeout=90, interval=0.2)
            (first,) = _workers_of(proc.pid)
            first.send_signal(signal.SIGKILL)

            async def replaced() -> list[psutil.Process]:
                return [w for w in _workers_of(proc.pid) if w.pid != first.pid]

            (second,) = await eventually(replaced, timeout=30)
            text = log.read_text(errors="replace")
            assert f"worker (pid {first.pid}) died (signal SIGKILL)" in text, text[-3000:]
            assert f"worker restarted (pid {second.pid}" in text
            await follow_is_delivered(http, tmp_path, "sup")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
        _, alive = psutil.wait_procs([second], timeout=15)
        assert not alive, "the restarted worker outlived the server"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def test_ready_reports_the_worker_without_failing(http: httpx.AsyncClient,
                                                        server: ServerProcess, engines: Any,
                                                        tmp_path: Path) -> None:
    """With no worker, `/health/ready` stays 200 with `degraded: worker` and says why; a running
    worker shows as ok with its last heartbeat; once it is killed its heartbeat expires and
    the check fails again, while readiness stays 200."""
    redis = Redis.from_url(engines.redis_url)
    await redis.delete(WORKER_HEARTBEAT)  # none left by an in-process worker of another test
    worker = None
    try:
        check = await _worker_check(http)
        assert check["status"] == "degraded: worker" and check["ok"] is False
        assert check["required"] is False and "no worker heartbeat" in check["error"]

        worker = spawn_worker(engines.env(READALONG_WORKER_HEARTBEAT="0.5",
                                          READALONG_DATA_DIR=str(engines.data_dir)),
                              tmp_path / "worker.log")

        async def beating() -> dict[str, Any] | None:
            check = await _worker_check(http)
            return check if check["ok"] else None

        check = await eventually(beating, timeout=60, interval=0.2)
        assert check["status"] == "ok" and check["detail"].startswith("last heartbeat")
        assert f":{worker.pid}" in check["detail"]

        worker.send_signal(signal.SIGKILL)  # no clean stop: only the TTL ends the heartbeat
        await asyncio.to_thread(worker.wait, 10)

        async def expired() -> dict[str, Any] | None:
            check = await _worker_check(http)
            return None if check["ok"] else check

        check = await eventually(expired, timeout=10, interval=0.2)
        assert check["status"] == "degraded: worker"
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        await redis.aclose()


def test_supervisor_backoff_is_bounded_and_a_clean_exit_is_left_alone(
        caplog: pytest.LogCaptureFixture) -> None:
    """A worker that keeps crashing is restarted with a doubling delay that stops at the cap,
    each time with a log line; one that exits with code 0 is not restarted."""
    caplog.set_level(logging.WARNING, logger="readalong.supervisor")
    crashing = WorkerSupervisor([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ),
                                first_delay=0.1, restart_max=0.4).start()
    try:
        deadline = time.monotonic() + 30
        while crashing.restarts < 5:
            assert time.monotonic() < deadline, "not restarted five times within 30 s"
            time.sleep(0.05)
    finally:
        crashing.stop()
    delays = [float(m.rsplit(" in ", 1)[1].rstrip("s")) for m in caplog.messages
              if "died (code 3)" in m]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4] and max(delays) == 0.4, caplog.messages
    assert sum("worker restarted" in m for m in caplog.messages) >= 5

    caplog.clear()
    clean = WorkerSupervisor([sys.executable, "-c", "pass"], dict(os.environ),
                             first_delay=0.05).start()
    clean._thread.join(30)
    assert not clean._thread.is_alive() and clean.restarts == 0
    assert any("stopped cleanly (code 0); not restarting" in m for m in caplog.messages)
    clean.stop()
