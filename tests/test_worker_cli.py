"""`readalong serve --with-worker` (what `make run` runs): the worker runs beside the server on
the embedded engines, delivers notifications, and stops with the server on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.fixture_helpers import copy_pg_folder, follow_is_delivered
from tests.support import ROOT, free_port


def _descendants(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return list(psutil.Process(proc.pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _workers_of(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    workers = []
    for child in _descendants(proc):
        try:
            if "worker" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:  # a short-lived child (e.g. initdb) already gone
            continue
    return workers


def _engines_of(proc: subprocess.Popen[bytes]) -> dict[str, list[psutil.Process]]:
    """The embedded engines' processes under `proc`: the postmaster (and its backends) and
    valkey-server."""
    found: dict[str, list[psutil.Process]] = {"postgres": [], "valkey-server": []}
    for child in _descendants(proc):
        try:
            name = child.name()
        except psutil.NoSuchProcess:
            continue
        for engine in found:
            if name.startswith(engine):
                found[engine].append(child)
    return found


async def test_serve_with_worker_delivers_and_stops_cleanly(tmp_path: Path, pg_template: Path
                                                            ) -> None:
    """A follow made against `serve --with-worker` is delivered by its worker (no other worker
    runs on these engines); Ctrl-C stops server, worker and engines (tests/test_cli.py starts
    `serve` on an empty data folder; this one on a copy of the migrated one)."""
    copy_pg_folder(pg_template, tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("READALONG_")}
    env.update({"READALONG_DATA_DIR": str(tmp_path), "PORT": str(port),
                "READALONG_LOG_LEVEL": "WARNING", "READALONG_ARGON2_TIME_COST": "1",
                "READALONG_ARGON2_MEMORY_KIB": "8192"})
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--with-worker"],  # noqa: ASYNC220 - a child for the whole test
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            while True:
                assert proc.poll() is None, "readalong serve exited early"
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "not ready within 90 s"
                await asyncio.sleep(0.2)
            assert _workers_of(proc), "no worker process beside the server"
            await follow_is_delivered(http, tmp_path, "cli")
        workers = _workers_of(proc)
        engines = _engines_of(proc)
        assert engines["postgres"] and engines["valkey-server"], engines
        assert (tmp_path / "pg" / "postmaster.pid").exists()
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, "the worker outlived the server"
        # the engines were stopped, not orphaned: no process is left and PostgreSQL shut down
        # cleanly (it removes its pid file only then)
        _, alive = psutil.wait_procs(engines["postgres"] + engines["valkey-server"], timeout=15)
        assert not alive, f"engines outlived `readalong serve`: {alive}"
        assert not (tmp_path / "pg" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
